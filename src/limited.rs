//! Reading input of a size the user does not control (a config path that is
//! `/dev/zero`, a question piped from a runaway command, a query file with
//! one endless line) with a bound, so that it is refused instead of filling
//! the machine's memory.

use std::io::{self, BufRead, Read};

/// Everything `reader` holds, or `None` when it holds more than `limit` bytes
/// (only `limit + 1` of them are read to find out).
pub fn read_to_limit(reader: impl Read, limit: usize) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() <= limit).then_some(bytes))
}

/// One line of [`lines`]: its number (from 1) and its text, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub text: Result<String, LineProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("the line is longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("the line is not UTF-8 text")]
    NotUtf8,
}

/// A line this long is not worth skipping to its end (`/dev/zero` has none):
/// reading stops with an error.
const MAX_SKIPPED: usize = 64 << 20;

/// The lines of `reader` (without their `\n` or `\r\n`), none held longer
/// than `max_line` bytes: a longer line is skipped to its end and reported as
/// [`LineProblem::TooLong`], a line that is not UTF-8 as
/// [`LineProblem::NotUtf8`], and reading goes on with the next line. A line
/// over 64 MiB ends the reading with an `InvalidData` error.
pub fn lines<R: BufRead>(reader: R, max_line: usize) -> Lines<R> {
    Lines {
        reader,
        max_line,
        number: 0,
    }
}

pub struct Lines<R> {
    reader: R,
    max_line: usize,
    number: usize,
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Vec::new();
        let mut too_long = false;
        let mut any = false;
        let mut skipped = 0;
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if buffer.is_empty() {
                if !any {
                    return None;
                }
                break;
            }
            any = true;
            let (part, end) = match buffer.iter().position(|&b| b == b'\n') {
                Some(at) => (&buffer[..at], Some(at + 1)),
                None => (buffer, None),
            };
            if !too_long {
                if line.len() + part.len() > self.max_line {
                    too_long = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(part);
                }
            }
            let used = end.unwrap_or(buffer.len());
            self.reader.consume(used);
            if too_long {
                skipped += used;
                if skipped > MAX_SKIPPED {
                    return Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("line {} is longer than 64 MiB", self.number + 1),
                    )));
                }
            }
            if end.is_some() {
                break;
            }
        }
        self.number += 1;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = if too_long {
            Err(LineProblem::TooLong {
                limit: self.max_line,
            })
        } else {
            String::from_utf8(line).map_err(|_| LineProblem::NotUtf8)
        };
        Some(Ok(Line {
            number: self.number,
            text,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_beyond() {
        assert_eq!(
            read_to_limit(&b"12345"[..], 5).unwrap(),
            Some(b"12345".to_vec())
        );
        assert_eq!(read_to_limit(&b"123456"[..], 5).unwrap(), None);
        // An endless source is read only as far as the limit.
        assert_eq!(read_to_limit(io::repeat(0), 1000).unwrap(), None);
    }

    #[test]
    fn a_bad_line_is_reported_and_the_next_ones_read() {
        // A small buffer makes lines span several reads.
        let input = b"tea\r\nport \xff backup\n0123456789abcdefghij\nports";
        let reader = io::BufReader::with_capacity(4, &input[..]);
        let got: Vec<Line> = lines(reader, 16).map(Result::unwrap).collect();
        let texts: Vec<_> = got.iter().map(|l| (l.number, l.text.clone())).collect();
        assert_eq!(
            texts,
            [
                (1, Ok("tea".to_string())),
                (2, Err(LineProblem::NotUtf8)),
                (3, Err(LineProblem::TooLong { limit: 16 })),
                (4, Ok("ports".to_string())),
            ]
        );
    }

    #[test]
    fn a_long_line_is_skipped_in_bounded_memory_and_an_endless_one_ends_reading() {
        let long = io::BufReader::new(io::repeat(b'x').take(5_000_000).chain(&b"\nok"[..]));
        let got: Vec<Line> = lines(long, 100).map(Result::unwrap).collect();
        assert_eq!(got[0].text, Err(LineProblem::TooLong { limit: 100 }));
        assert_eq!(got[1].text, Ok("ok".to_string()));
        let endless = io::BufReader::new(io::repeat(0));
        let error = lines(endless, 100).next().unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
