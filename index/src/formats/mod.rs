//! Readers for the documents people keep besides text: word processor files,
//! e-books, slides, spreadsheets, notebooks and saved mail. Each turns a file
//! into the Markdown the chunker reads: headings as `#` lines (so a section,
//! a slide, a sheet or a message keeps its heading path), paragraphs separated
//! by blank lines, table rows and spreadsheet rows kept as one block each.
//!
//! These files are zip and XML containers from anywhere. The readers hold
//! them to limits of their own ([`container`]): declared and actual unpacked
//! sizes, entry counts and compression ratios (zip bombs), no XML entity ever
//! expanded or fetched (billion laughs, external entities), a bound on how
//! deep documents nest (a message attached to a message...). A caller that
//! can should still run them in a child process with a memory and time
//! budget, as it does for PDFs: the limits here are the first line, not the
//! only one. Rich Text (.rtf) is text, not a container: its reader bounds
//! how many control words and groups it reads and how deep groups nest.

mod container;
mod docx;
mod epub;
mod mail;
mod markdown;
mod notebook;
mod odf;
mod pptx;
mod rtf;
mod sheets;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod xls;

use serde::{Deserialize, Serialize};

use crate::extract::SkipReason;
use crate::location::Place;

pub use container::Limits;

/// A format read by one of the readers here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    Docx,
    Odt,
    Epub,
    Pptx,
    Odp,
    /// .xlsx, .xlsm, .xls, .ods: calamine tells them apart by content.
    Spreadsheet,
    Notebook,
    Eml,
    Mbox,
    Rtf,
}

impl Format {
    /// Every format, in the order above.
    pub const ALL: &'static [Format] = &[
        Format::Docx,
        Format::Odt,
        Format::Epub,
        Format::Pptx,
        Format::Odp,
        Format::Spreadsheet,
        Format::Notebook,
        Format::Eml,
        Format::Mbox,
        Format::Rtf,
    ];

    /// The format of a file with this (lower-case) extension.
    pub fn from_extension(ext: &str) -> Option<Format> {
        Some(match ext {
            "docx" | "docm" | "dotx" => Format::Docx,
            "odt" | "ott" | "fodt" => Format::Odt,
            "epub" => Format::Epub,
            "pptx" | "pptm" | "ppsx" => Format::Pptx,
            "odp" | "otp" | "fodp" => Format::Odp,
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Format::Spreadsheet,
            "ipynb" => Format::Notebook,
            "eml" => Format::Eml,
            "mbox" | "mbx" => Format::Mbox,
            "rtf" => Format::Rtf,
            _ => return None,
        })
    }

    /// How the format is named in messages ("unreadable DOCX: ...").
    pub fn label(self) -> &'static str {
        match self {
            Format::Docx => "DOCX",
            Format::Odt => "ODT",
            Format::Epub => "EPUB",
            Format::Pptx => "PPTX",
            Format::Odp => "ODP",
            Format::Spreadsheet => "spreadsheet",
            Format::Notebook => "notebook",
            Format::Eml => "e-mail",
            Format::Mbox => "mailbox",
            Format::Rtf => "RTF",
        }
    }

    /// A stable name, for a reader in another process.
    pub fn name(self) -> &'static str {
        match self {
            Format::Docx => "docx",
            Format::Odt => "odt",
            Format::Epub => "epub",
            Format::Pptx => "pptx",
            Format::Odp => "odp",
            Format::Spreadsheet => "spreadsheet",
            Format::Notebook => "ipynb",
            Format::Eml => "eml",
            Format::Mbox => "mbox",
            Format::Rtf => "rtf",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// A document as Markdown, with the title it gives itself (if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    pub title: Option<String>,
    pub text: String,
    /// Where its slides, sheets' rows, chapters, messages or cells begin.
    #[serde(default)]
    pub places: Vec<Place>,
}

/// Reads a document of `format` from its bytes, within `limits`.
pub fn read(format: Format, bytes: &[u8], limits: &Limits) -> Result<Read, SkipReason> {
    read_nested(format, bytes, limits, 0)
}

/// [`read`] for a document found inside another (a mail's attachment) at
/// `depth` containers down.
pub(crate) fn read_nested(
    format: Format,
    bytes: &[u8],
    limits: &Limits,
    depth: usize,
) -> Result<Read, SkipReason> {
    if depth > limits.max_nesting {
        return Err(SkipReason::OverLimit {
            format: format.label().into(),
            why: format!(
                "documents nested more than {} deep inside each other",
                limits.max_nesting
            ),
        });
    }
    let read = match format {
        Format::Docx => docx::read(bytes, limits),
        Format::Odt => odf::read_text(bytes, limits),
        Format::Odp => odf::read_slides(bytes, limits),
        Format::Epub => epub::read(bytes, limits),
        Format::Pptx => pptx::read(bytes, limits),
        Format::Spreadsheet => sheets::read(bytes, limits),
        Format::Notebook => notebook::read(bytes, limits),
        Format::Eml => mail::read_message(bytes, limits, depth),
        Format::Mbox => mail::read_mbox(bytes, limits, depth),
        Format::Rtf => rtf::read(bytes, limits),
    }
    .map_err(|problem| problem.into_skip(format))?;
    // A text without a title of its own is titled by its first heading, as
    // Markdown is; slides, sheets and mail have headings that are not titles.
    let read = match format {
        Format::Docx | Format::Odt | Format::Epub | Format::Notebook | Format::Rtf
            if read.title.is_none() =>
        {
            Read {
                title: crate::extract::markdown_title(&read.text),
                ..read
            }
        }
        _ => read,
    };
    if read.text.len() > limits.max_text {
        return Err(SkipReason::OverLimit {
            format: format.label().into(),
            why: format!(
                "its text is over {}",
                crate::extract::human_bytes(limits.max_text as u64)
            ),
        });
    }
    Ok(read)
}

/// Why a reader gave up, before it is named with the format.
#[derive(Debug)]
pub(crate) enum Problem {
    Damaged(String),
    Encrypted,
    OverLimit(String),
}

impl Problem {
    fn into_skip(self, format: Format) -> SkipReason {
        let format = format.label().to_string();
        match self {
            Problem::Damaged(why) => SkipReason::Damaged { format, why },
            Problem::Encrypted => SkipReason::Encrypted { format },
            Problem::OverLimit(why) => SkipReason::OverLimit { format, why },
        }
    }
}

pub(crate) type Outcome<T> = std::result::Result<T, Problem>;

pub(crate) fn damaged<T>(why: impl Into<String>) -> Outcome<T> {
    Err(Problem::Damaged(why.into()))
}
