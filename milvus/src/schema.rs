//! The two collections of an index: their schemas, indexes and properties,
//! creating them, and checking that an existing pair is one rag made.

use std::collections::HashMap;

use milvus::v2::prelude::*;
use rag_index::manifest::{EmbeddingInfo, LeftOut, Remembered};
use rag_index::{ChunkerConfig, Error};
use serde_json::json;

use crate::conn::{unix_now, Conn};

/// The layout version, in the property `rag.format`. 2: chunks keep their
/// place in the document (`place`: location and file lines, as JSON).
pub(crate) const FORMAT: &str = "2";
/// Layout 1 is still read and written: its chunks keep a PDF's page only.
const FORMAT_1: &str = "1";
pub(crate) const PLACE_MAX: usize = 65_535;
pub(crate) const PATH_MAX: u32 = 4096;
pub(crate) const HEADING_MAX: usize = 4096;
pub(crate) const BODY_MAX: usize = 65_535;
const HASH_MAX: u32 = 128;
const TITLE_MAX: usize = 4096;
/// tantivy's BM25 constants, so scores mean the same as on a folder index.
const BM25_K1: &str = "1.2";
const BM25_B: &str = "0.75";

pub(crate) mod prop {
    pub const FORMAT: &str = "rag.format";
    pub const MODEL_ID: &str = "rag.model_id";
    pub const DIMENSION: &str = "rag.dimension";
    pub const CHUNKER: &str = "rag.chunker";
    pub const ROOTS: &str = "rag.roots";
    pub const LEFT_OUT: &str = "rag.left_out";
    pub const REMEMBERED: &str = "rag.remembered";
    pub const GENERATION: &str = "rag.generation";
    pub const CREATED_AT: &str = "rag.created_at";
    pub const UPDATED_AT: &str = "rag.updated_at";
}

/// A title cut to what its field holds.
pub(crate) fn title_field(title: &str) -> &str {
    crate::conn::truncate(title, TITLE_MAX)
}

fn varchar(name: &str, max: u32) -> FieldSchema {
    FieldSchema::new()
        .name(name)
        .data_type(DataType::VarChar)
        .max_length(max)
}

fn int64(name: &str) -> FieldSchema {
    FieldSchema::new().name(name).data_type(DataType::Int64)
}

fn chunks_schema(dimension: usize) -> CollectionSchema {
    // `terms` holds words rag analysed already: the server only splits them.
    let analyzer = json!({ "tokenizer": "standard" });
    CollectionSchema::new()
        .add_field(int64("id").primary_key(true).auto_id(false))
        .add_field(varchar("path", PATH_MAX))
        .add_field(int64("ordinal"))
        .add_field(int64("line_start"))
        .add_field(int64("line_end"))
        .add_field(int64("page"))
        .add_field(varchar("heading", HEADING_MAX as u32))
        .add_field(varchar("body", BODY_MAX as u32))
        .add_field(
            varchar("terms", BODY_MAX as u32)
                .enable_analyzer(true)
                .enable_match(true)
                .analyzer_params(analyzer),
        )
        .add_field(
            FieldSchema::new()
                .name("sparse")
                .data_type(DataType::SparseFloatVector),
        )
        .add_field(
            FieldSchema::new()
                .name("dense")
                .data_type(DataType::FloatVector)
                .dimension(dimension as u32),
        )
        .add_field(varchar("file_hash", HASH_MAX))
        .add_field(varchar("place", PLACE_MAX as u32))
        .add_function(
            Function::new()
                .name("body_bm25")
                .function_type(FunctionType::Bm25)
                .input_fields(["terms"])
                .output_fields(["sparse"]),
        )
}

fn chunks_indexes() -> Vec<IndexParam> {
    vec![
        IndexParam::new()
            .field_name("dense")
            .index_type(IndexType::Hnsw)
            .metric_type(MetricType::Cosine)
            .extra_params(HashMap::from([
                ("M".to_string(), "16".to_string()),
                ("efConstruction".to_string(), "200".to_string()),
            ])),
        IndexParam::new()
            .field_name("sparse")
            .index_type(IndexType::SparseInvertedIndex)
            .metric_type(MetricType::Bm25)
            .extra_params(HashMap::from([
                ("bm25_k1".to_string(), BM25_K1.to_string()),
                ("bm25_b".to_string(), BM25_B.to_string()),
            ])),
    ]
}

fn files_schema() -> CollectionSchema {
    CollectionSchema::new()
        .add_field(varchar("path", PATH_MAX).primary_key(true).auto_id(false))
        .add_field(varchar("hash", HASH_MAX))
        .add_field(int64("size"))
        .add_field(varchar("title", TITLE_MAX as u32))
        .add_field(int64("chunks"))
        .add_field(int64("bucket"))
        // Milvus wants a vector field in every collection.
        .add_field(
            FieldSchema::new()
                .name("v")
                .data_type(DataType::FloatVector)
                .dimension(2),
        )
}

fn files_indexes() -> Vec<IndexParam> {
    vec![IndexParam::new()
        .field_name("v")
        .index_type(IndexType::Flat)
        .metric_type(MetricType::L2)]
}

/// The properties of a new index.
fn new_properties(embedding: &EmbeddingInfo, chunker: &ChunkerConfig) -> HashMap<String, String> {
    let now = unix_now().to_string();
    HashMap::from([
        (prop::FORMAT.into(), FORMAT.into()),
        (prop::MODEL_ID.into(), embedding.model_id.clone()),
        (prop::DIMENSION.into(), embedding.dimension.to_string()),
        (prop::CHUNKER.into(), chunker_json(chunker)),
        (prop::ROOTS.into(), "[]".into()),
        (prop::LEFT_OUT.into(), left_out_json(&LeftOut::default())),
        (prop::GENERATION.into(), "0".into()),
        (prop::CREATED_AT.into(), now.clone()),
        (prop::UPDATED_AT.into(), now),
    ])
}

pub(crate) fn chunker_json(chunker: &ChunkerConfig) -> String {
    serde_json::to_string(chunker).unwrap_or_default()
}

pub(crate) fn left_out_json(left_out: &LeftOut) -> String {
    serde_json::to_string(left_out).unwrap_or_default()
}

/// Creates the chunks collection (with its properties) and the files
/// collection, each loaded.
pub(crate) fn create(
    conn: &Conn,
    embedding: &EmbeddingInfo,
    chunker: &ChunkerConfig,
) -> rag_index::Result<()> {
    let chunks = conn.url.collection.clone();
    if !conn.has_collection(&chunks)? {
        let action = format!("creating the collection {chunks}");
        let request = CreateCollectionRequest::builder()
            .collection_name(&chunks)
            .schema(chunks_schema(embedding.dimension))
            .index_params(chunks_indexes())
            .properties(new_properties(embedding, chunker))
            .build()
            .map_err(conn.err(&action))?;
        conn.runtime
            .block_on(conn.client.create_collection(request))
            .map_err(conn.err(&action))?;
    }
    conn.load(&chunks)?;
    create_files(conn)
}

/// Creates the files collection when it is missing, and loads it.
pub(crate) fn create_files(conn: &Conn) -> rag_index::Result<()> {
    let files = conn.url.files_collection();
    if !conn.has_collection(&files)? {
        let action = format!("creating the collection {files}");
        let request = CreateCollectionRequest::builder()
            .collection_name(&files)
            .schema(files_schema())
            .index_params(files_indexes())
            .build()
            .map_err(conn.err(&action))?;
        conn.runtime
            .block_on(conn.client.create_collection(request))
            .map_err(conn.err(&action))?;
    }
    conn.load(&files)
}

/// Drops both collections.
pub(crate) fn drop_both(conn: &Conn) -> rag_index::Result<()> {
    for name in [conn.url.collection.clone(), conn.url.files_collection()] {
        if !conn.has_collection(&name)? {
            continue;
        }
        let action = format!("dropping the collection {name}");
        let request = DropCollectionRequest::builder()
            .collection_name(&name)
            .build()
            .map_err(conn.err(&action))?;
        conn.runtime
            .block_on(conn.client.drop_collection(request))
            .map_err(conn.err(&action))?;
    }
    Ok(())
}

/// What an existing chunks collection says about itself.
pub(crate) struct Stored {
    pub properties: HashMap<String, String>,
    pub embedding: EmbeddingInfo,
    /// Layout 2: chunks have a `place` field.
    pub keeps_places: bool,
}

impl Stored {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    pub fn number(&self, key: &str) -> u64 {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn roots(&self) -> std::collections::BTreeSet<String> {
        self.get(prop::ROOTS)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    }

    pub fn left_out(&self) -> LeftOut {
        self.get(prop::LEFT_OUT)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    }

    pub fn remembered(&self) -> Remembered {
        self.get(prop::REMEMBERED)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    }

    pub fn chunker(&self) -> Option<ChunkerConfig> {
        self.get(prop::CHUNKER)
            .and_then(|v| serde_json::from_str(v).ok())
    }
}

fn incompatible(conn: &Conn, reason: impl Into<String>) -> Error {
    Error::Incompatible {
        location: conn.location(),
        reason: reason.into(),
    }
}

/// Reads the chunks collection's description and checks that rag made it with
/// this layout (`rag.format`, every field with its type, the dimension),
/// that the files collection is there too when `files_required`, and, with
/// `model`, that it was built by that embedding model.
pub(crate) fn open_existing(
    conn: &Conn,
    model: Option<(&str, usize)>,
    files_required: bool,
) -> rag_index::Result<Stored> {
    let desc = conn.describe(&conn.url.collection)?;
    let properties = desc.get_properties().clone();
    match properties.get(prop::FORMAT).map(String::as_str) {
        None => {
            return Err(incompatible(
                conn,
                format!(
                    "the collection {} has no property {} (rag did not create it)",
                    conn.url.collection,
                    prop::FORMAT
                ),
            ))
        }
        Some(FORMAT | FORMAT_1) => {}
        Some(other) => {
            return Err(incompatible(
                conn,
                format!(
                "it has layout version {other}, this build reads versions {FORMAT_1} and {FORMAT}"
            ),
            ))
        }
    }
    let keeps_places = properties.get(prop::FORMAT).map(String::as_str) == Some(FORMAT);
    let dimension: usize = properties
        .get(prop::DIMENSION)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            incompatible(conn, format!("the property {} is missing", prop::DIMENSION))
        })?;
    let embedding = EmbeddingInfo {
        model_id: properties.get(prop::MODEL_ID).cloned().unwrap_or_default(),
        dimension,
    };
    check_fields(
        desc.get_schema().get_fields(),
        &expected_chunk_fields(dimension, keeps_places),
    )
    .map_err(|reason| incompatible(conn, reason))?;
    if let Some((model_id, model_dimension)) = model {
        if !rag_index::same_model(&embedding.model_id, model_id) || dimension != model_dimension {
            return Err(Error::ModelMismatch {
                path: std::path::PathBuf::from(conn.location()),
                found: embedding.model_id,
                found_dim: dimension,
                expected: model_id.to_string(),
                expected_dim: model_dimension,
            });
        }
    }
    let files = conn.url.files_collection();
    if conn.has_collection(&files)? {
        check_files(conn)?;
    } else if files_required {
        return Err(incompatible(
            conn,
            format!("the collection {files} is missing"),
        ));
    }
    Ok(Stored {
        properties,
        embedding,
        keeps_places,
    })
}

/// Checks that the (existing) files collection has rag's layout.
pub(crate) fn check_files(conn: &Conn) -> rag_index::Result<()> {
    let files = conn.url.files_collection();
    let desc = conn.describe(&files)?;
    check_fields(desc.get_schema().get_fields(), &expected_file_fields())
        .map_err(|reason| incompatible(conn, format!("{files}: {reason}")))
}

/// A field as rag expects it: name, type, primary key or not, dimension.
struct Expected {
    name: &'static str,
    data_type: DataType,
    primary: bool,
    dimension: Option<usize>,
}

fn field(name: &'static str, data_type: DataType) -> Expected {
    Expected {
        name,
        data_type,
        primary: false,
        dimension: None,
    }
}

fn expected_chunk_fields(dimension: usize, keeps_places: bool) -> Vec<Expected> {
    let mut fields = vec![
        Expected {
            primary: true,
            ..field("id", DataType::Int64)
        },
        field("path", DataType::VarChar),
        field("ordinal", DataType::Int64),
        field("line_start", DataType::Int64),
        field("line_end", DataType::Int64),
        field("page", DataType::Int64),
        field("heading", DataType::VarChar),
        field("body", DataType::VarChar),
        field("terms", DataType::VarChar),
        field("sparse", DataType::SparseFloatVector),
        Expected {
            dimension: Some(dimension),
            ..field("dense", DataType::FloatVector)
        },
        field("file_hash", DataType::VarChar),
    ];
    if keeps_places {
        fields.push(field("place", DataType::VarChar));
    }
    fields
}

fn expected_file_fields() -> Vec<Expected> {
    vec![
        Expected {
            primary: true,
            ..field("path", DataType::VarChar)
        },
        field("hash", DataType::VarChar),
        field("size", DataType::Int64),
        field("title", DataType::VarChar),
        field("chunks", DataType::Int64),
        field("bucket", DataType::Int64),
        field("v", DataType::FloatVector),
    ]
}

fn check_fields(found: &[FieldSchema], expected: &[Expected]) -> std::result::Result<(), String> {
    for want in expected {
        let Some(have) = found.iter().find(|f| f.get_name() == want.name) else {
            return Err(format!("field {} is missing", want.name));
        };
        if have.get_data_type() != want.data_type {
            return Err(format!(
                "field {} is {:?}, expected {:?}",
                want.name,
                have.get_data_type(),
                want.data_type
            ));
        }
        if want.primary && !have.is_primary_key() {
            return Err(format!("field {} is not the primary key", want.name));
        }
        if let Some(dimension) = want.dimension {
            let have = have.get_dimension() as usize;
            if have != dimension {
                return Err(format!(
                    "field {} has {have} dimensions, the index records {dimension}",
                    want.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_schemas_pass_the_check() {
        let chunks = chunks_schema(384);
        check_fields(chunks.get_fields(), &expected_chunk_fields(384, true)).unwrap();
        // A layout 1 collection (no place) passes the check of layout 1.
        check_fields(chunks.get_fields(), &expected_chunk_fields(384, false)).unwrap();
        let err = check_fields(chunks.get_fields(), &expected_chunk_fields(768, true)).unwrap_err();
        assert!(err.contains("dense"), "{err}");
        check_fields(files_schema().get_fields(), &expected_file_fields()).unwrap();
        let err =
            check_fields(files_schema().get_fields(), &expected_chunk_fields(2, true)).unwrap_err();
        assert!(err.contains("field id is missing"), "{err}");
    }

    #[test]
    fn the_chunker_round_trips_through_its_property() {
        let chunker = ChunkerConfig::default();
        let stored = Stored {
            properties: new_properties(
                &EmbeddingInfo {
                    model_id: "m".into(),
                    dimension: 3,
                },
                &chunker,
            ),
            embedding: EmbeddingInfo {
                model_id: "m".into(),
                dimension: 3,
            },
            keeps_places: true,
        };
        assert_eq!(stored.chunker(), Some(chunker));
        assert!(stored.roots().is_empty());
        assert_eq!(stored.left_out(), LeftOut::default());
        assert_eq!(stored.number(prop::GENERATION), 0);
        assert!(stored.number(prop::CREATED_AT) > 0);
    }
}
