//! [`MilvusIndex`]: searching a Milvus index. The server runs the keyword
//! (BM25) and dense searches; fusion happens here, as on a folder index.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use milvus::v2::prelude::*;
use rag_index::manifest::StoredChunk;
use rag_index::search::{distinct_search, fuse, Hit, Mode, SearchOptions};
use rag_index::{Chunk, FileLines, Location, SearchIndex, Status};
use serde::{Deserialize, Serialize};

use crate::conn::{count, quote, text_of, Conn, QUERY_LIMIT};
use crate::schema::{self, prop, Stored};
use crate::url::MilvusUrl;

/// tantivy's k1, which the collection's BM25 index is built with.
const BM25_K1: f32 = 1.2;
const HIT_FIELDS: [&str; 6] = ["path", "line_start", "line_end", "page", "heading", "body"];
/// Layout 2's chunks also keep their place in the document.
const PLACE_FIELD: &str = "place";

/// A Milvus index opened for searching.
pub struct MilvusIndex {
    conn: Conn,
    stored: Stored,
    /// Chunks with each word, for [`SearchIndex::bm25_ceiling`], valid while
    /// the collection holds the number of chunks they were counted at.
    frequencies: Mutex<(usize, HashMap<String, usize>)>,
}

/// The fields of a hit, as read from a result row.
struct Row {
    path: String,
    line_start: u32,
    line_end: u32,
    place: StoredPlace,
    heading: String,
    text: String,
}

/// A chunk's place in its document, as layout 2 stores it (JSON in `place`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StoredPlace {
    pub location: Option<Location>,
    pub file_lines: FileLines,
}

impl MilvusIndex {
    /// Connects and opens the collection at `url` for searching. With
    /// `model`, refuses an index built by another embedding model.
    pub fn open(
        url: &MilvusUrl,
        token: Option<&str>,
        model: Option<(&str, usize)>,
    ) -> rag_index::Result<Self> {
        let conn = Conn::open(url, token)?;
        if !conn.has_collection(&url.collection)? {
            return Err(rag_index::Error::NotFound(PathBuf::from(url.to_string())));
        }
        let stored = schema::open_existing(&conn, model, true)?;
        // Real Milvus searches only loaded collections, and a restarted
        // milvus-lite reports them released.
        conn.load(&url.collection)?;
        conn.load(&url.files_collection())?;
        Ok(MilvusIndex {
            conn,
            stored,
            frequencies: Mutex::new((0, HashMap::new())),
        })
    }

    fn err(&self, action: &str) -> impl Fn(milvus::v2::error::Error) -> rag_index::Error + '_ {
        self.conn.err(action)
    }
}

fn read_row(row: &ResultRow<'_>, keeps_places: bool) -> milvus::v2::error::Result<Row> {
    let heading = row.get_str("heading")?.to_string();
    let body = row.get_str("body")?;
    let page = row.get_i64("page")?;
    let place = match keeps_places {
        // A place that does not parse (written by hand) costs only the place.
        true => serde_json::from_str(row.get_str(PLACE_FIELD)?).unwrap_or_default(),
        false => StoredPlace {
            location: page_location((page > 0).then(|| u32::try_from(page).unwrap_or(u32::MAX))),
            file_lines: FileLines::default(),
        },
    };
    Ok(Row {
        path: row.get_str("path")?.to_string(),
        line_start: u32::try_from(row.get_i64("line_start")?).unwrap_or(0),
        line_end: u32::try_from(row.get_i64("line_end")?).unwrap_or(0),
        place,
        text: text_of(&heading, body).to_string(),
        heading,
    })
}

impl MilvusIndex {
    /// The fields a hit is read from, in this collection's layout.
    fn hit_fields(&self) -> Vec<&'static str> {
        let mut fields = HIT_FIELDS.to_vec();
        if self.stored.keeps_places {
            fields.push(PLACE_FIELD);
        }
        fields
    }
}

/// A PDF's page as a location: all that layout 1 stores of one.
fn page_location(page: Option<u32>) -> Option<Location> {
    page.map(|page| Location {
        unit: rag_index::Unit::Page,
        first: page,
        last: page,
        name: None,
        through: None,
        places: Vec::new(),
    })
}

/// The ids and scores of one search, best first, with each row's fields and
/// (when asked for) its stored vector.
type Ranked = (Vec<(u64, f32)>, HashMap<u64, (Row, Option<Vec<f32>>)>);

fn ranked(
    response: &SearchResponse,
    with_vectors: bool,
    abs: bool,
    keeps_places: bool,
) -> milvus::v2::error::Result<Ranked> {
    let mut list = Vec::new();
    let mut rows = HashMap::new();
    let Some(one) = response.results().iter().next() else {
        return Ok((list, rows));
    };
    let ids: Vec<u64> = match one.get_ids() {
        Ids::Int64(ids) => ids.iter().map(|&id| id as u64).collect(),
        _ => {
            return Err(milvus::v2::error::Error::MalformedResponse(
                "ids of another type than Int64".into(),
            ))
        }
    };
    let scores = one.get_scores();
    for row in one.rows()? {
        let n = row.index();
        let (Some(&id), Some(&score)) = (ids.get(n), scores.get(n)) else {
            continue;
        };
        // milvus-lite returns BM25 scores negated; real Milvus does not.
        let score = if abs { score.abs() } else { score };
        let vector = if with_vectors {
            Some(row.get_float_vector("dense")?.to_vec())
        } else {
            None
        };
        list.push((id, score));
        rows.insert(id, (read_row(&row, keeps_places)?, vector));
    }
    if abs {
        // Best first whichever sign the server used (a stable sort keeps its
        // order among ties).
        list.sort_by(|a, b| b.1.total_cmp(&a.1));
    }
    Ok((list, rows))
}

/// The ids and BM25 scores of a keyword search, without its rows.
fn keyword_scores(response: &SearchResponse) -> milvus::v2::error::Result<Vec<(u64, f32)>> {
    let Some(one) = response.results().iter().next() else {
        return Ok(Vec::new());
    };
    let Ids::Int64(ids) = one.get_ids() else {
        return Err(milvus::v2::error::Error::MalformedResponse(
            "ids of another type than Int64".into(),
        ));
    };
    // milvus-lite returns BM25 scores negated; real Milvus does not.
    let scores = one.get_scores().iter().map(|score| score.abs());
    Ok(ids.iter().map(|&id| id as u64).zip(scores).collect())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl MilvusIndex {
    /// Every fused candidate of `candidates` taken from each side, best first.
    fn ranked(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        options: &SearchOptions,
        candidates: usize,
    ) -> rag_index::Result<Vec<Hit>> {
        let candidates = candidates as i64;
        let collection = self.conn.url.collection.clone();
        let hybrid = options.mode == Mode::Hybrid && vector.is_some();
        // A query of stop words only matches nothing, as on a folder index.
        // rag's analyzer made the stored terms; it makes the query's too. A
        // query of stop words only matches nothing, as on a folder index.
        let query_terms = rag_index::query_terms(query).join(" ");
        let keyword_request = (options.mode != Mode::Vector && !query_terms.is_empty())
            .then(|| {
                let mut fields = self.hit_fields();
                if hybrid {
                    fields.push("dense");
                }
                SearchRequest::builder()
                    .collection_name(&collection)
                    .vector_field("sparse")
                    .vectors(SearchVectors::EmbeddedText(vec![query_terms.clone()]))
                    .output_fields(fields)
                    .limit(candidates)
                    .build()
            })
            .transpose()
            .map_err(self.err("searching"))?;
        let dense_request = match (options.mode, vector) {
            (Mode::Bm25, _) | (_, None) => None,
            (_, Some(vector)) => {
                let ef = (options.ef as i64).max(candidates);
                Some(
                    SearchRequest::builder()
                        .collection_name(&collection)
                        .vector_field("dense")
                        .vectors(SearchVectors::Float(vec![vector.to_vec()]))
                        .output_fields(self.hit_fields())
                        .limit(candidates)
                        .extra_params(HashMap::from([("ef".to_string(), ef.to_string())]))
                        .build()
                        .map_err(self.err("searching"))?,
                )
            }
        };
        let client = &self.conn.client;
        let (keyword, dense) = self.conn.runtime.block_on(async {
            let keyword = async {
                match keyword_request {
                    Some(request) => Some(client.search(request).await).transpose(),
                    None => Ok(None),
                }
            };
            let dense = async {
                match dense_request {
                    Some(request) => Some(client.search(request).await).transpose(),
                    None => Ok(None),
                }
            };
            tokio::join!(keyword, dense)
        });
        let keyword = keyword
            .and_then(|r| {
                r.map(|r| ranked(&r, hybrid, true, self.stored.keeps_places))
                    .transpose()
            })
            .map_err(self.err("searching"))?;
        let dense = dense
            .and_then(|r| {
                r.map(|r| ranked(&r, false, false, self.stored.keeps_places))
                    .transpose()
            })
            .map_err(self.err("searching"))?;

        let mut rows: HashMap<u64, Row> = HashMap::new();
        let mut keyword_list = Vec::new();
        let mut keyword_vectors: HashMap<u64, Vec<f32>> = HashMap::new();
        if let Some((list, found)) = keyword {
            keyword_list = list;
            for (id, (row, stored)) in found {
                if let Some(stored) = stored {
                    keyword_vectors.insert(id, stored);
                }
                rows.insert(id, row);
            }
        }
        let mut dense_list = Vec::new();
        if let Some((list, found)) = dense {
            dense_list = list;
            for (id, (row, _)) in found {
                rows.entry(id).or_insert(row);
            }
        }
        if let (true, Some(vector)) = (hybrid, vector) {
            // Keyword candidates the dense side did not return still get their
            // true similarity, so fusion compares both signals everywhere.
            for &(id, _) in &keyword_list {
                if !dense_list.iter().any(|&(d, _)| d == id) {
                    if let Some(stored) = keyword_vectors.get(&id) {
                        if stored.len() == vector.len() {
                            dense_list.push((id, dot(stored, vector)));
                        }
                    }
                }
            }
            dense_list.sort_by(|a, b| b.1.total_cmp(&a.1));
            // And dense candidates the keyword side did not return get their
            // true keyword score, as on a folder index.
            let unscored: Vec<String> = dense_list
                .iter()
                .filter(|&&(id, _)| !keyword_list.iter().any(|&(k, _)| k == id))
                .map(|(id, _)| id.to_string())
                .collect();
            if !unscored.is_empty() && !query_terms.is_empty() {
                let request = SearchRequest::builder()
                    .collection_name(&collection)
                    .vector_field("sparse")
                    .vectors(SearchVectors::EmbeddedText(vec![query_terms.clone()]))
                    .filter(format!("id in [{}]", unscored.join(", ")))
                    .limit(unscored.len() as i64)
                    .build()
                    .map_err(self.err("searching"))?;
                let scored = self
                    .conn
                    .runtime
                    .block_on(client.search(request))
                    .and_then(|response| keyword_scores(&response))
                    .map_err(self.err("searching"))?;
                keyword_list.extend(scored.into_iter().filter(|&(_, score)| score > 0.0));
                keyword_list.sort_by(|a, b| b.1.total_cmp(&a.1));
            }
        }
        // Every candidate is fused: duplicates collapse before the top k is taken.
        let wide = SearchOptions {
            k: usize::MAX,
            ..options.clone()
        };
        Ok(fuse(&keyword_list, &dense_list, &wide)
            .into_iter()
            .filter_map(|scored| {
                let row = rows.get(&scored.chunk_id)?;
                Some(Hit {
                    chunk_id: scored.chunk_id,
                    score: scored.score,
                    bm25: scored.bm25,
                    similarity: scored.similarity,
                    path: row.path.clone(),
                    line_start: row.line_start,
                    line_end: row.line_end,
                    heading: row.heading.clone(),
                    text: row.text.clone(),
                    location: row.place.location.clone(),
                    file_lines: row.place.file_lines.clone(),
                    also_in: Vec::new(),
                })
            })
            .collect())
    }
}

impl SearchIndex for MilvusIndex {
    fn location(&self) -> String {
        self.conn.location()
    }

    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        options: &SearchOptions,
    ) -> rag_index::Result<Vec<Hit>> {
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        // Asked only for the files of duplicated passages.
        let chunks_in_file = |path: &str| self.chunks_of(path).map_or(0, |c| c.len());
        distinct_search(
            options,
            &|candidates| self.ranked(query, vector, options, candidates),
            &chunks_in_file,
        )
    }

    fn bm25_ceiling(&self, query: &str) -> rag_index::Result<f32> {
        let terms = rag_index::query_terms(query);
        if terms.is_empty() {
            return Ok(0.0);
        }
        let action = "counting the query's words";
        let collection = self.conn.url.collection.clone();
        let docs = self.conn.count(&collection, "", None)?;
        if docs == 0 {
            return Ok(0.0);
        }
        // Document frequencies hold while the number of chunks does; they
        // cost a scan each on milvus-lite, so questions sharing words share them.
        let known: HashMap<String, usize> = {
            let mut cache = self.frequencies.lock().unwrap_or_else(|e| e.into_inner());
            if cache.0 != docs {
                *cache = (docs, HashMap::new());
            }
            terms
                .iter()
                .filter_map(|t| cache.1.get(t).map(|&df| (t.clone(), df)))
                .collect()
        };
        let missing: Vec<String> = terms
            .iter()
            .filter(|t| !known.contains_key(*t))
            .cloned()
            .collect();
        let client = self.conn.client.clone();
        let counted = self.conn.runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for term in missing {
                let client = client.clone();
                let collection = collection.clone();
                // rag's terms are runs of letters and digits: nothing to escape.
                let filter = format!("TEXT_MATCH(terms, '{term}')");
                tasks
                    .spawn(async move { (term, count(&client, &collection, &filter, None).await) });
            }
            let mut counted = HashMap::new();
            while let Some(joined) = tasks.join_next().await {
                let (term, df) =
                    joined.map_err(|e| milvus::v2::error::Error::Unexpected(e.to_string()))?;
                counted.insert(term, df?);
            }
            Ok::<_, milvus::v2::error::Error>(counted)
        });
        let counted = counted.map_err(self.err(action))?;
        {
            let mut cache = self.frequencies.lock().unwrap_or_else(|e| e.into_inner());
            if cache.0 == docs {
                cache
                    .1
                    .extend(counted.iter().map(|(t, &df)| (t.clone(), df)));
            }
        }
        let docs = docs as f32;
        let ceiling = terms
            .iter()
            .map(|term| {
                let df = known
                    .get(term)
                    .or_else(|| counted.get(term))
                    .copied()
                    .unwrap_or(0) as f32;
                let idf = (1.0 + (docs - df + 0.5) / (df + 0.5)).ln();
                idf.max(0.0) * (BM25_K1 + 1.0)
            })
            .sum();
        Ok(ceiling)
    }

    fn chunks_of(&self, path: &str) -> rag_index::Result<Vec<StoredChunk>> {
        let action = "reading a file's chunks";
        let mut fields = vec!["id"];
        fields.extend(self.hit_fields());
        let request = QueryRequest::builder()
            .collection_name(&self.conn.url.collection)
            .filter(format!("path == {}", quote(path)))
            .output_fields(fields)
            .limit(QUERY_LIMIT)
            .build()
            .map_err(self.err(action))?;
        let response = self
            .conn
            .runtime
            .block_on(self.conn.client.query(request))
            .map_err(self.err(action))?;
        let mut chunks = Vec::new();
        for row in response.results().rows().map_err(self.err(action))? {
            let id = row.get_i64("id").map_err(self.err(action))? as u64;
            let read = read_row(&row, self.stored.keeps_places).map_err(self.err(action))?;
            chunks.push(StoredChunk {
                id,
                path: read.path,
                chunk: Chunk {
                    line_start: read.line_start,
                    line_end: read.line_end,
                    heading: read.heading,
                    text: read.text,
                    location: read.place.location,
                    file_lines: read.place.file_lines,
                },
            });
        }
        chunks.sort_by_key(|c| (c.chunk.line_start, c.chunk.line_end));
        Ok(chunks)
    }

    fn resolve(&self, stored: &str) -> PathBuf {
        rag_index::paths::decode(stored)
    }

    fn status(&self) -> rag_index::Result<Status> {
        // Properties move with every commit: read them now, not at opening.
        let stored = schema::open_existing(&self.conn, None, true)?;
        let chunks = self.conn.count(&self.conn.url.collection, "", None)?;
        let files = self
            .conn
            .count(&self.conn.url.files_collection(), "", None)?;
        let left_out = stored.left_out();
        let remembered = stored.remembered();
        Ok(Status {
            index_dir: self.conn.location(),
            backend: "milvus",
            files,
            chunks,
            model_id: self.stored.embedding.model_id.clone(),
            dimension: self.stored.embedding.dimension,
            generation: stored.number(prop::GENERATION),
            size_bytes: 0,
            created_at: stored.number(prop::CREATED_AT),
            last_ingest: stored.number(prop::UPDATED_AT),
            vector_points: chunks,
            deleted_points: 0,
            bm25_in_sync: true,
            roots: stored.roots().into_iter().collect(),
            excludes: remembered.excludes.into_iter().collect(),
            forgotten: remembered.forgotten.into_iter().collect(),
            skipped: left_out.skipped,
            unsupported: left_out.unsupported,
            generated: left_out.generated,
            // A server has no writer lock to ask.
            ingesting: false,
        })
    }
}
