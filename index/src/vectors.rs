//! The dense side of the index: raw vectors on disk (the source of truth) and an
//! HNSW graph over them (hnsw_rs) for approximate nearest-neighbour search.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::RwLock;

use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{AnnT, DistDot, Hnsw};

use crate::error::IoContext;
use crate::manifest::{FileSum, HNSW_DATA, HNSW_GRAPH};
use crate::{Error, Result};

const MAX_CONNECTIONS: usize = 16;
const MAX_LAYERS: usize = 16;
const EF_CONSTRUCTION: usize = 200;
/// hnsw_rs's dump headers (hnswio.rs): the graph file opens with a description
/// magic (one per dump version), the data file with the points' magic.
const GRAPH_MAGICS: [u32; 3] = [0x002a677f, 0x002a6771, 0x002a6779];
const DATA_MAGIC: u32 = 0xa67f0000;

/// The graph holds one point per distinct vector. Exact copies (a passage
/// in a hundred identical files) are aliases of the point that came first:
/// inserted as points, they fill each other's neighbour lists and leave the
/// passages inserted after them unreachable.
pub struct VectorIndex {
    graph: Hnsw<'static, f32, DistDot>,
    dimension: usize,
    copies: RwLock<Copies>,
}

#[derive(Default)]
struct Copies {
    /// A vector's bits to the id of its point in the graph.
    point_of: HashMap<Vec<u32>, u64>,
    /// A point's id to the ids of the vectors that are copies of it.
    aliases: HashMap<u64, Vec<u64>>,
    alias_count: usize,
}

fn bits(vector: &[f32]) -> Vec<u32> {
    vector.iter().map(|v| v.to_bits()).collect()
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
            copies: RwLock::default(),
        }
    }

    /// Loads a graph written by [`VectorIndex::dump`]. `graph` and `data` are the
    /// two files' bytes, already checked against the manifest's checksums where
    /// it has them: hnsw_rs trusts its input (a garbled count makes it panic or
    /// abort on a huge allocation), so nothing unchecked may reach it.
    pub fn load(
        dir: &Path,
        basename: &str,
        dimension: usize,
        graph: &[u8],
        data: &[u8],
    ) -> Result<Self> {
        let graph_file = dir.join(format!("{basename}.{HNSW_GRAPH}"));
        let data_file = dir.join(format!("{basename}.{HNSW_DATA}"));
        check_magic(&graph_file, graph, &GRAPH_MAGICS)?;
        check_magic(&data_file, data, &[DATA_MAGIC])?;
        // hnsw_rs ties a loaded graph's lifetime to its loader; the loader is a few
        // hundred bytes (it keeps no data without mmap), so it lives for the process.
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, basename)));
        // Second line of defence for files no checksum vouches for (older manifests).
        let loaded = catch_unwind(AssertUnwindSafe(move || {
            // Moved, not reborrowed: the graph borrows the loader for 'static.
            let loader = loader;
            loader.load_hnsw::<f32, DistDot>()
        }));
        let graph = match loaded {
            Ok(Ok(graph)) => graph,
            Ok(Err(e)) => {
                return Err(Error::Corrupt {
                    path: graph_file,
                    reason: format!("cannot load the HNSW graph: {e}"),
                })
            }
            Err(_) => {
                return Err(Error::Corrupt {
                    path: graph_file,
                    reason: "the HNSW graph or its data file is garbled".into(),
                })
            }
        };
        if graph.get_nb_point() > 0
            && graph.get_point_indexation().get_data_dimension() != dimension
        {
            return Err(Error::Corrupt {
                path: graph_file,
                reason: "the HNSW graph's dimension differs from the manifest's".into(),
            });
        }
        let mut copies = Copies::default();
        for point in graph.get_point_indexation() {
            copies
                .point_of
                .entry(bits(point.get_v()))
                .or_insert(point.get_origin_id() as u64);
        }
        Ok(VectorIndex {
            graph,
            dimension,
            copies: RwLock::new(copies),
        })
    }

    /// Records which of `rows` (every live vector, by id) are copies of a
    /// point rather than points, after [`VectorIndex::load`].
    pub fn restore_copies<'v>(&self, rows: impl Iterator<Item = (u64, &'v [f32])>) {
        let Ok(mut copies) = self.copies.write() else {
            return;
        };
        let copies = &mut *copies;
        for (id, vector) in rows {
            if let Some(&point) = copies.point_of.get(&bits(vector)) {
                if point != id {
                    copies.aliases.entry(point).or_default().push(id);
                    copies.alias_count += 1;
                }
            }
        }
    }

    /// Ids the index answers for: points and their copies (deleted ones
    /// included until the graph is rebuilt).
    pub fn points(&self) -> usize {
        let aliases = self.copies.read().map_or(0, |c| c.alias_count);
        self.graph.get_nb_point() + aliases
    }

    pub fn insert(&self, items: &[(u64, &[f32])]) {
        let mut data: Vec<(&[f32], usize)> = Vec::with_capacity(items.len());
        if let Ok(mut copies) = self.copies.write() {
            let copies = &mut *copies;
            for &(id, vector) in items {
                match copies.point_of.get(&bits(vector)) {
                    Some(&point) => {
                        copies.aliases.entry(point).or_default().push(id);
                        copies.alias_count += 1;
                    }
                    None => {
                        copies.point_of.insert(bits(vector), id);
                        data.push((vector, id as usize));
                    }
                }
            }
        }
        self.graph.parallel_insert_slice(&data);
    }

    /// Writes `{basename}.hnsw.graph` and `.hnsw.data` into `dir`; returns the
    /// basename written and each file's name and checksum.
    pub fn dump(&self, dir: &Path, basename: &str) -> Result<(String, Vec<(String, FileSum)>)> {
        let written = self
            .graph
            .file_dump(dir, basename)
            .map_err(|e| Error::Vectors {
                path: dir.join(basename),
                reason: format!("cannot write the HNSW graph: {e}"),
            })?;
        let mut sums = Vec::with_capacity(2);
        for ext in [HNSW_GRAPH, HNSW_DATA] {
            let name = format!("{written}.{ext}");
            let path = dir.join(&name);
            File::open(&path)
                .and_then(|f| f.sync_all())
                .io_context("syncing", &path)?;
            // Summed as read back: the checksum must vouch for what is on disk.
            let bytes = std::fs::read(&path).io_context("reading", &path)?;
            sums.push((name, FileSum::of(&bytes)));
        }
        Ok((written, sums))
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
        let Ok(copies) = self.copies.read() else {
            return Vec::new();
        };
        let aliases = |point: usize| copies.aliases.get(&(point as u64));
        let neighbours = match keep {
            Some(keep) => {
                // A deleted point still stands for its live copies.
                let live = |point: &usize| {
                    keep(point)
                        || aliases(*point)
                            .is_some_and(|ids| ids.iter().any(|&id| keep(&(id as usize))))
                };
                self.graph.search_filter(query, limit, ef, Some(&live))
            }
            None => self.graph.search(query, limit, ef),
        };
        let mut found = Vec::with_capacity(neighbours.len());
        for neighbour in neighbours {
            let similarity = 1.0 - neighbour.distance;
            let point = neighbour.d_id;
            let ids =
                std::iter::once(point as u64).chain(aliases(point).into_iter().flatten().copied());
            found.extend(
                ids.filter(|&id| keep.is_none_or(|keep| keep(&(id as usize))))
                    .map(|id| (id, similarity)),
            );
        }
        found
    }
}

fn check_magic(path: &Path, bytes: &[u8], magics: &[u32]) -> Result<()> {
    let found = bytes
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match found {
        Some(magic) if magics.contains(&magic) => Ok(()),
        Some(_) => Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "it does not start like an HNSW dump".into(),
        }),
        None => Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("it is cut short ({} bytes)", bytes.len()),
        }),
    }
}

/// Writes vectors as little-endian f32 rows, durably; returns their checksum.
pub fn write_vectors(path: &Path, vectors: &[f32]) -> Result<FileSum> {
    let bytes: Vec<u8> = vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
    let file = File::create(path).io_context("creating", path)?;
    let mut out = BufWriter::new(file);
    out.write_all(&bytes).io_context("writing", path)?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .io_context("writing", path)?;
    file.sync_all().io_context("syncing", path)?;
    Ok(FileSum::of(&bytes))
}

/// Decodes vectors read (and verified) by `Manifest::read_data_file`.
pub fn parse_vectors(path: &Path, bytes: &[u8], dimension: usize, rows: usize) -> Result<Vec<f32>> {
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
