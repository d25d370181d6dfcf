//! The keyword side of the index: BM25 over title, section headings and body (tantivy).

use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::{Error, Result};

const ANALYZER: &str = "rag_en";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// One text field holds the heading path and the passage, as the embedding
/// model sees them. Separate, boosted title and heading fields were measured
/// and lost: BM25 saturates on short fields, so any passage whose title shares
/// one query word outranked the right one (known-item MRR@10 0.31 against 0.67).
#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    path: Field,
    text: Field,
}

pub struct Bm25 {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    dir: PathBuf,
    /// The generation of the commit the reader's searcher shows.
    generation: Option<u64>,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        chunk_id: builder.add_u64_field("chunk_id", INDEXED | FAST | STORED),
        path: builder.add_text_field("path", STRING),
        text: builder.add_text_field("text", text),
    };
    (builder.build(), fields)
}

/// The terms BM25 counts in `text`, in order and with repeats. A backend
/// that runs BM25 itself (Milvus) indexes these instead of the raw text, so
/// both homes count the very same words (stemmed, folded, stop words gone).
pub fn keyword_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        terms.push(token.text.clone());
    }
    terms
}

/// The distinct terms of a query, in order: what a keyword search looks up.
pub fn query_terms(query: &str) -> Vec<String> {
    Bm25::terms(query)
}

/// Stop words go: in a question ("what is the...") they would otherwise let any
/// passage full of "the" and "that" outrank one that shares the question's meaning.
fn analyzer() -> TextAnalyzer {
    let stop_words = StopWordFilter::new(Language::English)
        .unwrap_or_else(|| StopWordFilter::remove(Vec::<String>::new()));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(stop_words)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// A chunk as the keyword index sees it.
pub struct Bm25Doc<'a> {
    pub chunk_id: u64,
    pub path: &'a str,
    /// Heading path and passage text.
    pub text: &'a str,
}

impl Bm25 {
    /// Opens the keyword index in `dir`, creating an empty one when there is
    /// none. A file tantivy cannot read is [`Error::Corrupt`], naming it where
    /// tantivy does.
    pub fn open_or_create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
        let (schema, fields) = schema();
        let directory = MmapDirectory::open(dir).map_err(|e| Error::Corrupt {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let directory = crate::read_only::KeywordDirectory::new(directory);
        let index = Index::open_or_create(directory, schema).map_err(|e| damage(dir, e))?;
        index.tokenizers().register(ANALYZER, analyzer());
        // A writer may commit while the reader opens: the payload read must be
        // the one of the commit the searcher shows, so a commit in between
        // (a new opstamp) means reading both again.
        let mut attempts = 0;
        let (reader, generation) = loop {
            let before = index.load_metas().map_err(|e| damage(dir, e))?;
            let reader: IndexReader = index
                .reader_builder()
                .reload_policy(ReloadPolicy::Manual)
                .try_into()
                .map_err(|e| damage(dir, e))?;
            let after = index.load_metas().map_err(|e| damage(dir, e))?;
            attempts += 1;
            if (before.opstamp == after.opstamp && before.payload == after.payload) || attempts == 5
            {
                break (reader, after.payload.and_then(|p| p.parse().ok()));
            }
        };
        Ok(Bm25 {
            index,
            reader,
            fields,
            dir: dir.to_path_buf(),
            generation,
        })
    }

    /// Deletes the keyword index in `dir` (for a rebuild when it cannot be opened).
    pub fn wipe(dir: &Path) -> Result<()> {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io {
                action: "removing",
                path: dir.to_path_buf(),
                source,
            }),
        }
    }

    fn err(&self, source: tantivy::TantivyError) -> Error {
        Error::Tantivy {
            path: self.dir.clone(),
            source,
        }
    }

    /// The generation recorded with the commit this reader shows; compared with
    /// the manifest to detect a crash between the two commits.
    pub fn committed_generation(&self) -> Option<u64> {
        self.generation
    }

    /// Live documents (chunks) in the commit this reader shows.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Every file of the committed segments, relative to the index's folder,
    /// with what is wrong with it (tantivy's footer checksum, or unreadable).
    pub fn verify_files(&self) -> Result<Vec<(PathBuf, Option<String>)>> {
        let metas = self.index.load_metas().map_err(|e| damage(&self.dir, e))?;
        let managed = self.index.directory().list_managed_files();
        let mut files: Vec<PathBuf> = metas
            .list_segment_files()
            .into_iter()
            .filter(|path| managed.contains(path))
            .collect();
        files.sort();
        Ok(files
            .into_iter()
            .map(|path| {
                let problem = match self.index.directory().validate_checksum(&path) {
                    Ok(true) => None,
                    Ok(false) => Some("its checksum does not match its content".to_string()),
                    Err(e) => Some(e.to_string()),
                };
                (path, problem)
            })
            .collect())
    }

    pub fn writer(&self) -> Result<Bm25Writer> {
        let writer = self
            .index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .map_err(|e| self.err(e))?;
        Ok(Bm25Writer {
            writer,
            fields: self.fields,
            dir: self.dir.clone(),
        })
    }

    /// The distinct index terms of a query, in order.
    fn terms(query: &str) -> Vec<String> {
        let mut terms: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(query);
        while let Some(token) = stream.next() {
            if seen.insert(token.text.clone()) {
                terms.push(token.text.clone());
            }
        }
        terms
    }

    /// The BM25 score a passage would approach by containing every query term
    /// many times: dividing a real score by it gives how much of the query's
    /// weight a passage matches, a number that (unlike raw BM25) does not grow
    /// with the length of the question or the size of the corpus.
    pub fn score_ceiling(&self, query: &str) -> Result<f32> {
        // tantivy's BM25 constants.
        const K1: f32 = 1.2;
        let searcher = self.reader.searcher();
        let docs = searcher.num_docs() as f32;
        let mut ceiling = 0.0;
        for term in Self::terms(query) {
            let term = Term::from_field_text(self.fields.text, &term);
            let with_term = searcher.doc_freq(&term).map_err(|e| self.err(e))? as f32;
            let idf = (1.0 + (docs - with_term + 0.5) / (with_term + 0.5)).ln();
            ceiling += idf.max(0.0) * (K1 + 1.0);
        }
        Ok(ceiling)
    }

    /// Top `limit` chunk ids with their BM25 scores. Any text is a valid query:
    /// it is analysed into terms, never parsed as query syntax.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(u64, f32)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self.term_clauses(query) {
            Some(clauses) => self.top(&BooleanQuery::new(clauses), limit),
            None => Ok(Vec::new()),
        }
    }

    /// The BM25 scores `query` gives the chunks `ids`, each the score
    /// [`Bm25::search`] would give it (0 for a chunk without any of the query's
    /// words; chunks this index lacks are left out), in no particular order.
    pub fn scores_of(&self, query: &str, ids: &[u64]) -> Result<Vec<(u64, f32)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let only_these = TermSetQuery::new(
            ids.iter()
                .map(|&id| Term::from_field_u64(self.fields.chunk_id, id)),
        );
        // Scoring 0, the filter adds nothing to the words' scores.
        let mut clauses = vec![(
            Occur::Must,
            Box::new(ConstScoreQuery::new(Box::new(only_these), 0.0)) as Box<dyn Query>,
        )];
        clauses.extend(self.term_clauses(query).unwrap_or_default());
        self.top(&BooleanQuery::new(clauses), ids.len())
    }

    /// One optional clause per distinct term of `query`; `None` when it has none.
    fn term_clauses(&self, query: &str) -> Option<Vec<(Occur, Box<dyn Query>)>> {
        let terms = Self::terms(query);
        if terms.is_empty() {
            return None;
        }
        Some(
            terms
                .iter()
                .map(|term| {
                    let query = TermQuery::new(
                        Term::from_field_text(self.fields.text, term),
                        IndexRecordOption::WithFreqs,
                    );
                    (Occur::Should, Box::new(query) as Box<dyn Query>)
                })
                .collect(),
        )
    }

    /// The best `limit` chunks by `query`'s score, with their ids.
    fn top(&self, query: &dyn Query, limit: usize) -> Result<Vec<(u64, f32)>> {
        let searcher = self.reader.searcher();
        let top = searcher
            .search(query, &TopDocs::with_limit(limit).order_by_score())
            .map_err(|e| self.err(e))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let segment = searcher.segment_reader(address.segment_ord);
            let ids = segment
                .fast_fields()
                .u64("chunk_id")
                .map_err(|e| self.err(e))?;
            if let Some(id) = ids.first(address.doc_id) {
                hits.push((id, score));
            }
        }
        Ok(hits)
    }
}

/// Tantivy's errors on opening: unreadable or garbled files are damage (naming
/// the file when tantivy does); anything else stays a tantivy error.
fn damage(dir: &Path, error: tantivy::TantivyError) -> Error {
    use std::io::ErrorKind;
    use tantivy::directory::error::OpenReadError;
    use tantivy::TantivyError as T;
    let garbled =
        |e: &std::io::Error| matches!(e.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof);
    let file = match &error {
        T::OpenReadError(OpenReadError::FileDoesNotExist(file)) => Some(dir.join(file)),
        T::OpenReadError(OpenReadError::IoError { io_error, filepath }) if garbled(io_error) => {
            Some(dir.join(filepath))
        }
        T::DataCorruption(_) | T::SchemaError(_) | T::OpenDirectoryError(_) => {
            Some(dir.to_path_buf())
        }
        T::IoError(io_error) if garbled(io_error) => Some(dir.to_path_buf()),
        _ => None,
    };
    match file {
        Some(path) => Error::Corrupt {
            path,
            reason: format!("the keyword index cannot be read: {error}"),
        },
        None => Error::Tantivy {
            path: dir.to_path_buf(),
            source: error,
        },
    }
}

pub struct Bm25Writer {
    writer: IndexWriter,
    fields: Fields,
    dir: PathBuf,
}

impl Bm25Writer {
    fn err(&self, source: tantivy::TantivyError) -> Error {
        Error::Tantivy {
            path: self.dir.clone(),
            source,
        }
    }

    pub fn add(&self, doc: Bm25Doc<'_>) -> Result<()> {
        let f = self.fields;
        self.writer
            .add_document(doc!(
                f.chunk_id => doc.chunk_id,
                f.path => doc.path,
                f.text => doc.text,
            ))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn delete_path(&self, path: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.fields.path, path));
    }

    pub fn delete_all(&self) -> Result<()> {
        self.writer
            .delete_all_documents()
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Commits with the index generation as payload.
    pub fn commit(&mut self, generation: u64) -> Result<()> {
        let mut prepared = self.writer.prepare_commit().map_err(|e| Error::Tantivy {
            path: self.dir.clone(),
            source: e,
        })?;
        prepared.set_payload(&generation.to_string());
        prepared.commit().map(|_| ()).map_err(|e| Error::Tantivy {
            path: self.dir.clone(),
            source: e,
        })
    }

    /// Drops what was added since the last commit and deletes the files it
    /// left (a commit that failed on a full disk leaves empty segments).
    pub fn discard_uncommitted(&mut self) {
        if self.writer.rollback().is_ok() {
            let _ = self.writer.garbage_collect_files().wait();
        }
    }

    /// Waits for merges, so no background thread outlives the ingest.
    pub fn finish(self) -> Result<()> {
        let dir = self.dir.clone();
        self.writer
            .wait_merging_threads()
            .map_err(|source| Error::Tantivy { path: dir, source })
    }
}
