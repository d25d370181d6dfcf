//! Opening a GGUF file: the header (metadata and tensor table) is read once and
//! checked, so a wrong or damaged file fails here with its path in the message
//! instead of somewhere deep in the model code.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;

use super::error::{Error, Result};

const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// An open GGUF file with its parsed header.
pub struct Gguf {
    path: PathBuf,
    reader: BufReader<File>,
    content: Content,
}

impl Gguf {
    /// Opens and checks a GGUF file.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(io(e)),
        };
        if file.metadata().map_err(io)?.is_dir() {
            return Err(Error::NotGguf {
                path: path.to_path_buf(),
                reason: "it is a folder".into(),
            });
        }
        let file_size = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);

        // Check the magic ourselves: "not a GGUF file" is a more useful message
        // for a wrong file than a parse error deep in the header.
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut reader, &mut magic).map_err(io)?;
        if got < 4 || &magic != GGUF_MAGIC {
            return Err(Error::NotGguf {
                path: path.to_path_buf(),
                reason: if got < 4 {
                    format!("only {got} bytes long")
                } else {
                    "it does not start with the GGUF magic bytes".into()
                },
            });
        }
        reader.seek(SeekFrom::Start(0)).map_err(io)?;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        // candle's header reader panics on some hostile values (a
        // `general.alignment` of 0 divides by zero); a bad file is an error.
        let content =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Content::read(&mut reader)))
                .map_err(|_| corrupt("unreadable header (the GGUF reader panicked on it)".into()))?
                .map_err(|e| {
                    corrupt(format!(
                        "unreadable header: {}",
                        super::error::without_backtrace(e)
                    ))
                })?;

        // Every tensor must lie inside the file: a truncated download is caught
        // now, not after half the weights were loaded.
        for (name, info) in &content.tensor_infos {
            // Checked: hostile dimensions overflow the element count (candle's
            // own `elem_count` would panic or wrap).
            let elems = info
                .shape
                .dims()
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .ok_or_else(|| corrupt(format!("tensor {name} has too many elements")))?;
            let block = info.ggml_dtype.block_size();
            if elems % block != 0 {
                return Err(corrupt(format!(
                    "tensor {name} has {elems} elements, not a multiple of {block}"
                )));
            }
            let bytes = (elems / block)
                .checked_mul(info.ggml_dtype.type_size())
                .ok_or_else(|| corrupt(format!("tensor {name} is too large")))?
                as u64;
            let end = content
                .tensor_data_offset
                .saturating_add(info.offset)
                .saturating_add(bytes);
            if end > file_size {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!(
                        "tensor {name} ends at byte {end}, but the file has only {file_size} bytes"
                    ),
                });
            }
        }
        Ok(Gguf {
            path: path.to_path_buf(),
            reader,
            content,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// Reads one tensor into memory (on the CPU).
    pub fn tensor(&mut self, name: &str) -> Result<QTensor> {
        if !self.has_tensor(name) {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                reason: format!("tensor {name} is missing"),
            });
        }
        self.content
            .tensor(&mut self.reader, name, &Device::Cpu)
            .map_err(|e| Error::Corrupt {
                path: self.path.clone(),
                reason: format!("cannot read tensor {name}: {e}"),
            })
    }

    /// Every tensor's name, element count and bytes in the file (checked
    /// against overflow when the file was opened).
    pub fn tensor_sizes(&self) -> impl Iterator<Item = (&str, usize, usize)> {
        self.content.tensor_infos.iter().map(|(name, info)| {
            let elems: usize = info.shape.dims().iter().product();
            let bytes = elems / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
            (name.as_str(), elems, bytes)
        })
    }

    /// The shape of a tensor, in candle's order (rows = outputs first).
    pub fn tensor_dims(&self, name: &str) -> Option<&[usize]> {
        self.content.tensor_infos.get(name).map(|t| t.shape.dims())
    }

    pub fn value(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn bad(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::Metadata {
            path: self.path.clone(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn required(&self, key: &str) -> Result<&Value> {
        self.value(key).ok_or_else(|| self.bad(key, "missing"))
    }

    /// An integer of any width: writers differ in which integer type they use.
    pub fn uint(&self, key: &str) -> Result<u64> {
        let value = self.required(key)?;
        as_uint(value).ok_or_else(|| {
            self.bad(
                key,
                format!("expected an unsigned integer, found {value:?}"),
            )
        })
    }

    pub fn uint_or(&self, key: &str, default: u64) -> Result<u64> {
        match self.value(key) {
            None => Ok(default),
            Some(_) => self.uint(key),
        }
    }

    pub fn float(&self, key: &str) -> Result<f32> {
        match self.required(key)? {
            Value::F32(v) => Ok(*v),
            Value::F64(v) => Ok(*v as f32),
            other => as_uint(other)
                .map(|v| v as f32)
                .ok_or_else(|| self.bad(key, format!("expected a number, found {other:?}"))),
        }
    }

    pub fn float_or(&self, key: &str, default: f32) -> Result<f32> {
        match self.value(key) {
            None => Ok(default),
            Some(_) => self.float(key),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.bad(key, format!("expected a boolean, found {other:?}"))),
        }
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        match self.required(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.bad(key, format!("expected a string, found {}", short(other)))),
        }
    }

    pub fn string_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.value(key) {
            None => Ok(None),
            Some(_) => self.string(key).map(Some),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Vec<&str>> {
        match self.required(key)? {
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.as_str()),
                    other => {
                        Err(self.bad(key, format!("expected strings, found {}", short(other))))
                    }
                })
                .collect(),
            other => Err(self.bad(key, format!("expected an array, found {}", short(other)))),
        }
    }

    /// An array of numbers (e.g. token scores) as f32.
    pub fn floats(&self, key: &str) -> Result<Vec<f32>> {
        match self.required(key)? {
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::F32(f) => Ok(*f),
                    Value::F64(f) => Ok(*f as f32),
                    other => as_int(other).map(|i| i as f32).ok_or_else(|| {
                        self.bad(key, format!("expected numbers, found {}", short(other)))
                    }),
                })
                .collect(),
            other => Err(self.bad(key, format!("expected an array, found {}", short(other)))),
        }
    }

    /// An array of integers (e.g. token types), any integer width.
    pub fn ints(&self, key: &str) -> Result<Vec<i64>> {
        match self.required(key)? {
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    as_int(v).ok_or_else(|| {
                        self.bad(key, format!("expected integers, found {}", short(v)))
                    })
                })
                .collect(),
            other => Err(self.bad(key, format!("expected an array, found {}", short(other)))),
        }
    }
}

fn as_int(value: &Value) -> Option<i64> {
    Some(match value {
        Value::U8(v) => *v as i64,
        Value::I8(v) => *v as i64,
        Value::U16(v) => *v as i64,
        Value::I16(v) => *v as i64,
        Value::U32(v) => *v as i64,
        Value::I32(v) => *v as i64,
        Value::U64(v) => i64::try_from(*v).ok()?,
        Value::I64(v) => *v,
        _ => return None,
    })
}

fn as_uint(value: &Value) -> Option<u64> {
    as_int(value).and_then(|v| u64::try_from(v).ok())
}

/// A value for an error message, without dumping a 49,152-entry array.
fn short(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::String(s) if s.len() > 40 => format!("a string of {} bytes", s.len()),
        other => format!("{other:?}"),
    }
}

/// Like `read_exact`, but reports how much was there instead of failing on a short file.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
