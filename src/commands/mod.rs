pub mod generate;
pub mod ingest;
pub mod search;
pub mod status;
