//! Copying through the terminal: an OSC 52 escape asks the terminal (or tmux,
//! with `set-clipboard on`) to put text on the system clipboard, which works
//! over ssh and needs no clipboard tool on this machine.

use base64::Engine as _;

/// `ESC ] 52 ; c ; <base64 of text> BEL`: "c" is the clipboard selection.
/// Base64 keeps the text's own control characters from reaching the terminal.
pub fn osc52(text: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\u{1b}]52;c;{encoded}\u{7}")
}

#[cfg(test)]
mod tests {
    use super::osc52;

    #[test]
    fn encodes_the_text_in_base64_between_the_osc_52_markers() {
        assert_eq!(osc52("hi"), "\u{1b}]52;c;aGk=\u{7}");
        assert_eq!(osc52(""), "\u{1b}]52;c;\u{7}");
        // UTF-8 bytes and escape characters are carried, not sent raw.
        let sequence = osc52("東京 \u{1b}[31m\u{7}");
        assert_eq!(sequence, "\u{1b}]52;c;5p2x5LqsIBtbMzFtBw==\u{7}");
        assert_eq!(sequence.matches('\u{1b}').count(), 1);
        assert_eq!(sequence.matches('\u{7}').count(), 1);
    }
}
