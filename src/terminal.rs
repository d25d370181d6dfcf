//! Text from documents is untrusted: it never reaches the terminal with its
//! control characters or escape sequences intact.

use std::borrow::Cow;

/// Removes ANSI escape sequences (CSI, OSC, and two-byte escapes) and C0/C1
/// control characters other than newline and tab.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: ESC [ params... final byte in @..~
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, APC, PM, SOS: up to BEL or ESC \
                Some(']' | 'P' | '_' | '^' | 'X') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\r' => {}
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{1b}'
}

/// One line of at most `width` characters, for previews.
pub fn one_line(text: &str, width: usize) -> String {
    let flat: String = sanitize(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() <= width {
        flat
    } else {
        let mut cut: String = flat.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escape_sequences_and_controls() {
        assert_eq!(sanitize("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(sanitize("a\u{1b}[31mred\u{1b}[0m b"), "ared b");
        assert_eq!(sanitize("x\u{1b}]0;evil title\u{7}y"), "xy");
        assert_eq!(sanitize("x\u{1b}]8;;http://e\u{1b}\\link"), "xlink");
        assert_eq!(sanitize("bell\u{7} back\u{8}\r\n"), "bell back\n");
        assert_eq!(sanitize("c1\u{9b}2Jz"), "c12Jz");
        assert_eq!(sanitize("東京 🚀"), "東京 🚀");
    }

    #[test]
    fn previews_are_one_bounded_line() {
        assert_eq!(one_line("a\n b\t c", 10), "a b c");
        assert_eq!(one_line("abcdefghij", 5), "abcd…");
    }
}
