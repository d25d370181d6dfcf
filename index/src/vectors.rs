//! The dense side of the index: raw vectors on disk (the source of truth) and an
//! HNSW graph over them (hnsw_rs) for approximate nearest-neighbour search.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{AnnT, DistDot, Hnsw};

use crate::error::IoContext;
use crate::{Error, Result};

const MAX_CONNECTIONS: usize = 16;
const MAX_LAYERS: usize = 16;
const EF_CONSTRUCTION: usize = 200;

pub struct VectorIndex {
    graph: Hnsw<'static, f32, DistDot>,
    dimension: usize,
}

impl VectorIndex {
    pub fn new(dimension: usize, expected_points: usize) -> Self {
        VectorIndex {
            graph: Hnsw::new(
                MAX_CONNECTIONS,
                expected_points.max(1000),
                MAX_LAYERS,
                EF_CONSTRUCTION,
                DistDot,
            ),
            dimension,
        }
    }

    /// Loads a graph written by [`VectorIndex::dump`].
    pub fn load(dir: &Path, basename: &str, dimension: usize) -> Result<Self> {
        let graph_file = dir.join(format!("{basename}.hnsw.graph"));
        if !graph_file.exists() {
            return Err(Error::Corrupt {
                path: dir.to_path_buf(),
                reason: format!("{} is missing", graph_file.display()),
            });
        }
        // hnsw_rs ties a loaded graph's lifetime to its loader; the loader is a few
        // hundred bytes (it keeps no data without mmap), so it lives for the process.
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, basename)));
        let graph = loader
            .load_hnsw::<f32, DistDot>()
            .map_err(|e| Error::Vectors {
                path: graph_file.clone(),
                reason: format!("cannot load the HNSW graph: {e}"),
            })?;
        if graph.get_nb_point() > 0
            && graph.get_point_indexation().get_data_dimension() != dimension
        {
            return Err(Error::Corrupt {
                path: graph_file,
                reason: "the HNSW graph's dimension differs from the manifest's".into(),
            });
        }
        Ok(VectorIndex { graph, dimension })
    }

    pub fn points(&self) -> usize {
        self.graph.get_nb_point()
    }

    pub fn insert(&self, items: &[(u64, &[f32])]) {
        let data: Vec<(&[f32], usize)> = items.iter().map(|(id, v)| (*v, *id as usize)).collect();
        self.graph.parallel_insert_slice(&data);
    }

    /// Writes `{basename}.hnsw.graph` and `.hnsw.data` into `dir`.
    pub fn dump(&self, dir: &Path, basename: &str) -> Result<String> {
        let written = self
            .graph
            .file_dump(dir, basename)
            .map_err(|e| Error::Vectors {
                path: dir.join(basename),
                reason: format!("cannot write the HNSW graph: {e}"),
            })?;
        for ext in ["hnsw.graph", "hnsw.data"] {
            let path = dir.join(format!("{written}.{ext}"));
            File::open(&path)
                .and_then(|f| f.sync_all())
                .io_context("syncing", &path)?;
        }
        Ok(written)
    }

    /// Nearest chunk ids with their cosine similarity (vectors are unit length).
    /// `keep` drops ids that were deleted since the graph was built.
    pub fn search(
        &self,
        query: &[f32],
        limit: usize,
        ef: usize,
        keep: Option<&dyn Fn(&usize) -> bool>,
    ) -> Vec<(u64, f32)> {
        if self.points() == 0 || limit == 0 || query.len() != self.dimension {
            return Vec::new();
        }
        let ef = ef.max(limit);
        let neighbours = match keep {
            Some(keep) => self.graph.search_filter(query, limit, ef, Some(&keep)),
            None => self.graph.search(query, limit, ef),
        };
        neighbours
            .into_iter()
            .map(|n| (n.d_id as u64, 1.0 - n.distance))
            .collect()
    }
}

/// Writes vectors as little-endian f32 rows, durably.
pub fn write_vectors(path: &Path, vectors: &[f32]) -> Result<()> {
    let file = File::create(path).io_context("creating", path)?;
    let mut out = BufWriter::new(file);
    for value in vectors {
        out.write_all(&value.to_le_bytes())
            .io_context("writing", path)?;
    }
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .io_context("writing", path)?;
    file.sync_all().io_context("syncing", path)
}

pub fn read_vectors(path: &Path, dimension: usize, rows: usize) -> Result<Vec<f32>> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .io_context("reading", path)?;
    if bytes.len() != rows * dimension * 4 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "expected {rows} vectors of {dimension} floats ({} bytes), found {} bytes",
                rows * dimension * 4,
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
