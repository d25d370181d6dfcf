//! Zip archives and XML from anywhere, read within limits.
//!
//! A zip's central directory says how big each entry unpacks to; a bomb
//! either says so (and is refused before anything is unpacked) or lies (and
//! is stopped when what comes out passes what it said, or the limit).
//! XML is read with quick-xml, which never expands an entity a document
//! declares itself and never fetches one: `&lol9;` and `&xxe;` are dropped as
//! the unknown names they are, so a billion laughs stays a few bytes and
//! `/etc/passwd` is never opened.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use zip::result::ZipError;
use zip::ZipArchive;

use super::{damaged, Outcome, Problem};
use crate::extract::human_bytes;

/// What one document may cost to read.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Entries in one archive.
    pub max_entries: usize,
    /// Bytes one entry may unpack to.
    pub max_entry_bytes: u64,
    /// Bytes all entries read from one archive may unpack to.
    pub max_total_bytes: u64,
    /// Bytes an archive may say all its entries unpack to: readers take a
    /// few entries of many, so this is larger than what they may read.
    pub max_declared_bytes: u64,
    /// Unpacked to packed size, for entries over [`Limits::RATIO_FLOOR`]:
    /// deflate reaches about 1000:1 only on the repeated bytes bombs are
    /// made of; real documents' XML stays well under 100:1.
    pub max_ratio: u64,
    /// Documents inside documents (an attachment's attachment...).
    pub max_nesting: usize,
    /// Text one document may produce.
    pub max_text: usize,
}

impl Limits {
    /// Entries smaller than this are never refused for their ratio: a small
    /// run of blank cells compresses very well and harms no one.
    pub const RATIO_FLOOR: u64 = 1 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 20_000,
            max_entry_bytes: 128_000_000,
            max_total_bytes: 512_000_000,
            max_declared_bytes: 2_000_000_000,
            max_ratio: 200,
            max_nesting: 3,
            max_text: 64 << 20,
        }
    }
}

/// The signature of OLE compound files: old Office formats, and the wrapper
/// that password-protected OOXML files are saved in.
pub(crate) const COMPOUND_FILE: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// Whether `bytes` is an OOXML document saved with a password: a compound
/// file holding an `EncryptedPackage` stream (its name is stored in UTF-16).
pub(crate) fn is_encrypted_ooxml(bytes: &[u8]) -> bool {
    if !bytes.starts_with(COMPOUND_FILE) {
        return false;
    }
    let name: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    bytes.windows(name.len()).any(|w| w == name.as_slice())
}

/// A zip archive whose entries are read within [`Limits`].
pub(crate) struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    limits: &'a Limits,
    unpacked: u64,
}

impl<'a> Archive<'a> {
    /// Opens an archive, refusing what its directory already shows to be
    /// over the limits.
    pub fn open(bytes: &'a [u8], limits: &'a Limits) -> Outcome<Self> {
        if is_encrypted_ooxml(bytes) {
            return Err(Problem::Encrypted);
        }
        if bytes.starts_with(COMPOUND_FILE) {
            return damaged(
                "an older binary Office file (a compound file), not the zip archive its \
                 extension says",
            );
        }
        let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(zip_problem)?;
        if zip.len() > limits.max_entries {
            return Err(Problem::OverLimit(format!(
                "{} entries in the archive (limit {})",
                zip.len(),
                limits.max_entries
            )));
        }
        let mut declared = 0u64;
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(zip_problem)?;
            declared = declared.saturating_add(entry.size());
        }
        if declared > limits.max_declared_bytes {
            return Err(Problem::OverLimit(format!(
                "it says it unpacks to {} (limit {})",
                human_bytes(declared),
                human_bytes(limits.max_declared_bytes)
            )));
        }
        Ok(Archive {
            zip,
            limits,
            unpacked: 0,
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.zip
            .file_names()
            .filter_map(Result::ok)
            .map(Cow::into_owned)
            .collect()
    }

    /// Whether an entry could be read within the limits, from what the
    /// directory says of it: its index and size, `None` when it is absent.
    pub fn check(&mut self, name: &str) -> Outcome<Option<(usize, u64)>> {
        let Some(index) = self.zip.index_for_name(name) else {
            return Ok(None);
        };
        let limits = self.limits;
        let (size, packed, encrypted) = {
            let raw = self.zip.by_index_raw(index).map_err(zip_problem)?;
            (raw.size(), raw.compressed_size(), raw.encrypted())
        };
        if encrypted {
            return Err(Problem::Encrypted);
        }
        let over = |what: String| Err(Problem::OverLimit(format!("{name} {what}")));
        if size > limits.max_entry_bytes {
            return over(format!(
                "unpacks to {} (limit {})",
                human_bytes(size),
                human_bytes(limits.max_entry_bytes)
            ));
        }
        if size > Limits::RATIO_FLOOR && size / packed.max(1) > limits.max_ratio {
            return over(format!(
                "is compressed {}:1, as zip bombs are (limit {}:1)",
                size / packed.max(1),
                limits.max_ratio
            ));
        }
        let left = limits.max_total_bytes.saturating_sub(self.unpacked);
        if size > left {
            return Err(Problem::OverLimit(format!(
                "its entries unpack to more than {}",
                human_bytes(limits.max_total_bytes)
            )));
        }
        Ok(Some((index, size)))
    }

    /// An entry's bytes; `None` when there is no such entry.
    pub fn read(&mut self, name: &str) -> Outcome<Option<Vec<u8>>> {
        let Some((index, size)) = self.check(name)? else {
            return Ok(None);
        };
        let entry = self.zip.by_index(index).map_err(zip_problem)?;
        let mut bytes = Vec::with_capacity(size.min(16 << 20) as usize);
        // One byte more than the header says: a lying header is caught
        // without unpacking more than that.
        entry
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Problem::Damaged(format!("{name}: {e}")))?;
        if bytes.len() as u64 > size {
            return damaged(format!("{name} unpacks to more than its header says"));
        }
        self.unpacked += bytes.len() as u64;
        Ok(Some(bytes))
    }

    /// An entry as text (XML, XHTML); `None` when there is no such entry.
    pub fn read_text(&mut self, name: &str) -> Outcome<Option<String>> {
        Ok(self.read(name)?.map(|bytes| decode_xml(&bytes)))
    }

    /// An entry the document cannot be read without.
    pub fn require_text(&mut self, name: &str) -> Outcome<String> {
        match self.read_text(name)? {
            Some(text) => Ok(text),
            None => damaged(format!("no {name} in the archive")),
        }
    }
}

fn zip_problem(e: ZipError) -> Problem {
    match e {
        ZipError::UnsupportedArchive(why) if why == ZipError::PASSWORD_REQUIRED => {
            Problem::Encrypted
        }
        ZipError::InvalidArchive(why) => {
            Problem::Damaged(format!("not a valid zip archive: {why}"))
        }
        other => Problem::Damaged(format!("zip archive: {other}")),
    }
}

/// XML bytes as text: UTF-8 (the rule in these formats), UTF-16 with a
/// byte-order mark, anything else read lossily.
fn decode_xml(bytes: &[u8]) -> String {
    match bytes {
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xff, 0xfe, rest @ ..] | [0xfe, 0xff, rest @ ..] => {
            let little = bytes[0] == 0xff;
            let units = rest.chunks_exact(2).map(|p| {
                if little {
                    u16::from_le_bytes([p[0], p[1]])
                } else {
                    u16::from_be_bytes([p[0], p[1]])
                }
            });
            char::decode_utf16(units)
                .map(|c| c.unwrap_or('\u{fffd}'))
                .collect()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// An XML reader over `text` set up as every reader here wants it.
pub(crate) fn xml(text: &str) -> quick_xml::Reader<&[u8]> {
    let mut reader = quick_xml::Reader::from_reader(text.as_bytes());
    let config = reader.config_mut();
    // Office files are machine-written; a stray end tag is damage to read
    // past, not a reason to lose the document.
    config.check_end_names = false;
    config.expand_empty_elements = false;
    reader
}

/// The text an event carries: text, CDATA, and references to characters
/// and to the five entities XML predefines. Every other entity is dropped,
/// never expanded: that is what keeps a billion laughs or an external
/// entity from going anywhere.
pub(crate) fn event_text<'e>(event: &'e Event<'_>) -> Option<Cow<'e, str>> {
    match event {
        Event::Text(text) => Some(text.xml10_content()),
        Event::CData(data) => Some(data.xml10_content()),
        Event::GeneralRef(reference) => {
            if let Ok(Some(c)) = reference.resolve_char_ref() {
                return Some(Cow::Owned(c.to_string()));
            }
            let c = match &**reference {
                "amp" => "&",
                "lt" => "<",
                "gt" => ">",
                "quot" => "\"",
                "apos" => "'",
                _ => return None,
            };
            Some(Cow::Borrowed(c))
        }
        _ => None,
    }
}

/// An attribute's value by its local name (any namespace prefix), with
/// references resolved as in [`event_text`]; `None` when absent.
pub(crate) fn attr(element: &BytesStart<'_>, local: &str) -> Option<String> {
    element.attributes().flatten().find_map(|a| {
        let key = a.key.local_name();
        (key.as_ref() == local).then(|| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(Cow::into_owned)
                .unwrap_or_else(|_| a.value.to_string())
        })
    })
}

/// The local name of an element (`w:p` -> `p`), as text.
pub(crate) fn local(element: &BytesStart<'_>) -> String {
    element.local_name().as_ref().to_string()
}

/// Resolves `target` (a relationship's or manifest's path) against the
/// folder `base` inside an archive: `../media/a.png` from `ppt/slides`.
pub(crate) fn join_path(base: &str, target: &str) -> String {
    if let Some(absolute) = target.strip_prefix('/') {
        return absolute.to_string();
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    percent_decode(&joined)
}

/// `%20` and friends in archive paths written as URIs (EPUB manifests).
fn percent_decode(path: &str) -> String {
    if !path.contains('%') {
        return path.to_string();
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The folder part of an archive path (`word/document.xml` -> `word`).
pub(crate) fn folder_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(folder, _)| folder)
}

/// The package's main part (an Office Open XML file's `officeDocument`
/// relationship), or `default` where the package does not say.
pub(crate) fn main_part(archive: &mut Archive<'_>, default: &str) -> Outcome<String> {
    Ok(relationships(archive, "")?
        .into_iter()
        .find(|(_, kind, _)| kind.ends_with("/officeDocument"))
        .map(|(_, _, target)| target)
        .unwrap_or_else(|| default.to_string()))
}

/// An OOXML relationships part: id -> (type, target), targets resolved
/// against the folder of the part they belong to.
pub(crate) fn relationships(
    archive: &mut Archive<'_>,
    part: &str,
) -> Outcome<Vec<(String, String, String)>> {
    let folder = folder_of(part);
    let name = part.rsplit('/').next().unwrap_or(part);
    let rels_path = if folder.is_empty() {
        format!("_rels/{name}.rels")
    } else {
        format!("{folder}/_rels/{name}.rels")
    };
    let Some(text) = archive.read_text(&rels_path)? else {
        return Ok(Vec::new());
    };
    let mut reader = xml(&text);
    let mut found = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if local(&e) == "Relationship" => {
                if attr(&e, "TargetMode").as_deref() == Some("External") {
                    continue;
                }
                if let (Some(id), Some(kind), Some(target)) =
                    (attr(&e, "Id"), attr(&e, "Type"), attr(&e, "Target"))
                {
                    found.push((id, kind, join_path(folder, &target)));
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return damaged(format!("{rels_path}: {e}")),
        }
    }
    Ok(found)
}

/// The title a Dublin Core metadata part gives (`docProps/core.xml`,
/// `meta.xml`, an EPUB's package): the text of its `title` element.
pub(crate) fn dc_title(text: &str) -> Option<String> {
    let mut reader = xml(text);
    let mut inside = false;
    let mut title = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if local(&e) == "title" => inside = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == "title" => {
                if !title.trim().is_empty() {
                    break;
                }
                inside = false;
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(ref event) if inside => {
                if let Some(t) = event_text(event) {
                    title.push_str(&t);
                }
            }
            Ok(_) => {}
        }
    }
    let title = super::markdown::one_line(&title);
    (!title.is_empty()).then_some(title)
}
