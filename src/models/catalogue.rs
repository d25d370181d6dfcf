//! The generator ladder: every GGUF that `--model NAME` names, pinned by size
//! and sha256, with where it comes from and the prompt that measured best for
//! it. The same file (`catalogue.toml`) drives `scripts/fetch-models`, so the
//! binary and the script can never disagree about a model's bytes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

const CATALOGUE_TOML: &str = include_str!("catalogue.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The generator that answers when neither `--model` nor the config names one.
    pub default: String,
    #[serde(rename = "generator")]
    pub generators: Vec<ModelEntry>,
}

/// How the open-book prompt is worded for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptStyle {
    /// A reading exercise: for small chat models that do not follow instructions.
    Reading,
    /// Answer only from the sources, cite them, refuse in one sentence.
    Instructed,
    /// A document to complete: for base models, which have no chat template.
    Document,
}

/// One generator of the ladder.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub title: String,
    pub architecture: String,
    /// As its makers count it ("135M", "1.54B").
    pub parameters: String,
    pub quantisation: String,
    /// Relative to the model folder.
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub licence: String,
    pub hub_repo: String,
    pub hub_file: String,
    pub prompt: PromptStyle,
    pub summary: String,
    /// The same bytes on the Python package index, joined in order.
    pub parts: Vec<Part>,
    /// Licence texts that travel with the weights.
    #[serde(default)]
    pub notices: Vec<Notice>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub package: String,
    pub version: String,
    /// The file's path inside the wheel.
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub package: String,
    pub version: String,
    pub path: String,
    pub file: String,
}

/// The catalogue compiled into this binary.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        // The text is part of the binary and a unit test parses it: a failure
        // here is a build defect, not bad input.
        toml::from_str(CATALOGUE_TOML).expect("the compiled-in model catalogue parses")
    })
}

impl Catalogue {
    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.generators
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    pub fn default_model(&self) -> &ModelEntry {
        self.get(&self.default)
            .unwrap_or_else(|| &self.generators[0])
    }

    pub fn names(&self) -> Vec<&str> {
        self.generators.iter().map(|m| m.name.as_str()).collect()
    }

    /// The entry whose file this is (same file name and size): a path given to
    /// `--model` still gets the prompt measured for it.
    pub fn recognise(&self, path: &Path) -> Option<&ModelEntry> {
        let name = path.file_name()?.to_str()?;
        let size = std::fs::metadata(path).ok()?.len();
        self.generators.iter().find(|m| {
            m.size == size && Path::new(&m.file).file_name().and_then(|f| f.to_str()) == Some(name)
        })
    }
}

impl ModelEntry {
    pub fn path_in(&self, models: &Path) -> PathBuf {
        models.join(&self.file)
    }

    /// The hub URL of the file, for messages.
    pub fn hub_url(&self) -> String {
        format!(
            "https://huggingface.co/{}/blob/main/{}",
            self.hub_repo, self.hub_file
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_names_its_default() {
        let c = catalogue();
        assert!(
            c.get(&c.default).is_some(),
            "default {} is listed",
            c.default
        );
        for name in [
            "smollm2-135m-instruct",
            "qwen2.5-coder-0.5b-instruct",
            "qwen2.5-coder-1.5b-instruct",
            "gemma-3-270m",
        ] {
            assert!(c.get(name).is_some(), "{name} is in the catalogue");
        }
    }

    #[test]
    fn every_entry_is_whole_and_its_parts_add_up_to_its_size() {
        let c = catalogue();
        let mut names = c.names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), c.generators.len(), "names are unique");
        for m in &c.generators {
            let parts: u64 = m.parts.iter().map(|p| p.size).sum();
            assert_eq!(parts, m.size, "{}: parts add up to the file", m.name);
            assert_eq!(m.sha256.len(), 64, "{}: a sha256", m.name);
            assert!(
                m.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                m.name
            );
            assert!(m.file.ends_with(".gguf"), "{}: a GGUF", m.name);
            assert!(!Path::new(&m.file).is_absolute(), "{}: relative", m.name);
            assert!(m.hub_file.ends_with(".gguf") && m.hub_repo.contains('/'));
            for part in &m.parts {
                assert!(!part.package.is_empty() && !part.version.is_empty());
            }
        }
    }

    #[test]
    fn a_file_is_recognised_by_its_name_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let c = catalogue();
        let entry = c.get("smollm2-135m-instruct").unwrap();
        let name = Path::new(&entry.file).file_name().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, b"not the model").unwrap();
        assert!(c.recognise(&path).is_none(), "wrong size");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(entry.size).unwrap();
        assert_eq!(
            c.recognise(&path).map(|m| m.name.as_str()),
            Some(entry.name.as_str())
        );
    }
}
