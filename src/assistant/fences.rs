//! Code fences in an answer cut short: a fence the model opened but never
//! closed would turn everything after it (in a report, a saved chat) into code.

/// What to append to `text` to close a code fence it leaves open, if any.
pub fn closer(text: &str) -> Option<String> {
    let mut open: Option<(char, usize)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some(marker) = trimmed.chars().next().filter(|c| matches!(c, '`' | '~')) else {
            continue;
        };
        let run = trimmed.chars().take_while(|&c| c == marker).count();
        if run < 3 {
            continue;
        }
        open = match open {
            None => Some((marker, run)),
            // A closing fence: the same character, at least as long, nothing after it.
            Some((m, n)) if m == marker && run >= n && trimmed[run..].trim().is_empty() => None,
            still_open => still_open,
        };
    }
    open.map(|(marker, run)| {
        let fence: String = std::iter::repeat_n(marker, run).collect();
        if text.ends_with('\n') {
            fence
        } else {
            format!("\n{fence}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::closer;

    #[test]
    fn an_open_fence_is_closed_with_its_own_marker() {
        assert_eq!(closer("Run:\n```sh\ncargo build"), Some("\n```".into()));
        assert_eq!(closer("Run:\n~~~~\nx\n"), Some("~~~~".into()));
        assert_eq!(closer("```\na\n```\ntext"), None);
        assert_eq!(closer("no code at all"), None);
        // A shorter run or another character does not close it.
        assert_eq!(closer("````\n```\n~~~"), Some("\n````".into()));
        assert_eq!(closer("inline ``` in a sentence"), None);
    }
}
