use super::*;

fn text(rtf: &str) -> String {
    read(rtf.as_bytes(), &Limits::default())
        .unwrap_or_else(|e| panic!("{e:?}"))
        .text
}

#[test]
fn headings_by_outline_level_or_style_and_paragraphs() {
    let rtf = r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times;}}
{\stylesheet{\ql Normal;}{\s1\ql\b\fs32 heading 1;}{\s2\ql\b Heading 2;}{\s7 Titre local\outlinelevel2;}{\*\cs10 heading 3 Char;}}
{\info{\title Field notes}{\author Ada}}
{\header {\pard Page header text\par}}
\pard\plain\s1 Birds\par
\pard\plain The heron waits\line by the reedbank.\par
\pard\plain\s2 Counts\par
\pard\plain\s7 Local name\par
{\pard \ql \outlinelevel0 \b \fs36 Outlined\par}
\pard\plain\outlinelevel9 Body level\par
\pard #1 is not a heading\par}";
    let read = read(rtf.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(read.title.as_deref(), Some("Field notes"));
    assert_eq!(
        read.text,
        "# Birds\n\nThe heron waits\nby the reedbank.\n\n## Counts\n\n### Local name\n\n\
         # Outlined\n\nBody level\n\n\\#1 is not a heading\n\n"
    );
}

#[test]
fn unicode_escapes_and_code_pages() {
    // \uN with its fallback character skipped (\uc1, the default),
    // negative N past 32767, \uc0 without fallbacks, a surrogate pair.
    assert_eq!(
        text(r"{\rtf1\ansi caf\'e9 \u8212? \u-3913? {\uc0\u945\u946} \u55357?\u56832? ok}"),
        "café — \u{F0B7} αβ 😀 ok\n\n"
    );
    assert_eq!(
        text(r"{\rtf1\ansi\ansicpg1251 \'cf\'f0\'e8\'e2\'e5\'f2}"),
        "Привет\n\n"
    );
    // Raw bytes of the declared code page, not UTF-8.
    let raw = read(
        b"{\\rtf1\\ansi\\ansicpg1252 na\xefve \x93quoted\x94\\\xa0\\par}",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(raw.text, "naïve “quoted”\n\n");
    // Extreme numbers are replacement characters, not a failure.
    assert_eq!(
        text(r"{\rtf1 a\u2147483647?b\u-2147483648?c}"),
        "a\u{FFFD}b\u{FFFD}c\n\n"
    );
}

#[test]
fn tables_footnotes_and_what_is_left_out() {
    let rtf = r"{\rtf1\ansi
{\footer {\pard Page 3\par}}
\pard Intro{\v  hidden words}.\par
\trowd\cellx2000\cellx4000
\pard\intbl River\cell km\cell\row
\trowd\cellx2000\cellx4000
\pard\intbl Danube\par second line\cell 2850\cell\row
\pard Mead's study.{\super\chftn}{\footnote\pard\plain{\super\chftn} See Sahlins.}\par
\pard Pandoc's.{\super\chftn}{\*\footnote\chftn\~\plain\pard {\pard 1984 notes.\par}}\par
{\pict\pngblip 89504e470d0a1a0a}
{\*\bkmkstart here}{\*\comment a comment}
{\field{\*\fldinst HYPERLINK https://example.org}{\fldrslt linked text}}\par
\trowd\cellx5000\pard\intbl\itap2 Deep\nestcell{\*\nesttableprops\trowd\cellx5000\nestrow}{\nonesttables\par}\pard\intbl Outer\cell\row
\pard After\par
\trowd\cellx2000\pard\intbl Unended\cell
\pard Last\par}";
    assert_eq!(
        text(rtf),
        "Intro.\n\n| River | km |\n| Danube second line | 2850 |\n\n\
         Mead's study.[^1]\n\nPandoc's.[^2]\n\nlinked text\n\n| Deep Outer |\n\nAfter\n\n| Unended |\n\nLast\n\n\
         [^1]: See Sahlins.\n\n[^2]: 1984 notes.\n\n"
    );
}

#[test]
fn what_is_not_rtf_is_damaged_and_a_file_cut_short_read_as_far_as_it_goes() {
    let limits = Limits::default();
    for bytes in [
        &b"just some plain text"[..],
        b"{\"json\": true}",
        b"\x00\x01\x02\xff\xfe",
        b"  \n",
    ] {
        match read(bytes, &limits) {
            Err(Problem::Damaged(why)) => assert!(!why.is_empty()),
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
    assert_eq!(
        text(r"{\rtf1 {\pard Heading\outlinelevel0\par}{\pard The last words"),
        "# Heading\n\nThe last words\n\n"
    );
    assert_eq!(
        text("\u{feff}\r\n {\\rtf1 after a byte-order mark}"),
        "after a byte-order mark\n\n"
    );
    // Broken escapes, numbers past 32 bits, text and stray braces after
    // the document's end, numbers out of the parser's range.
    assert_eq!(
        text(r"{\rtf1 bad \'zz escape\'4\fs99999999999 \u-99999999999?, \'}"),
        "bad zz escape4\u{FFFD},\n\n"
    );
    assert_eq!(
        text(r"{\rtf1{\fonttbl{\f70000\fcharset0 X;}} one}} two\par}three"),
        "one\n\n"
    );
    assert_eq!(
        text("{\\rtf1{\\\n\\colortbl;\\red999\\green0\\blue-4;}\\cf9 \\fs-3 \\s-1 x}"),
        "x\n\n"
    );
}

#[test]
fn nesting_and_size_are_bounded() {
    let deep = format!(
        "{{\\rtf1 {}x{}}}",
        "{".repeat(MAX_DEPTH + 5),
        "}".repeat(MAX_DEPTH + 5)
    );
    assert!(matches!(
        read(deep.as_bytes(), &Limits::default()),
        Err(Problem::OverLimit(_))
    ));
    let many = format!("{{\\rtf1 {}}}", "{}".repeat(MAX_TOKENS / 2 + 1));
    assert!(matches!(
        read(many.as_bytes(), &Limits::default()),
        Err(Problem::OverLimit(_))
    ));
    let shallow = format!("{{\\rtf1 {}x{}}}", "{".repeat(1000), "}".repeat(1000));
    assert_eq!(text(&shallow), "x\n\n");
    let limits = Limits {
        max_text: 100,
        ..Limits::default()
    };
    let long = format!("{{\\rtf1 {}}}", "A long paragraph.\\par ".repeat(100));
    assert!(matches!(
        read(long.as_bytes(), &limits),
        Err(Problem::OverLimit(_))
    ));
    // Binary data is skipped, whatever it holds; a count past the end is the end.
    let mut binary = b"{\\rtf1 before {\\pict\\bin6 \xff}{\\\x00\x93} after}".to_vec();
    assert_eq!(
        read(&binary, &Limits::default()).unwrap().text,
        "before after\n\n"
    );
    binary = b"{\\rtf1 \xe9 before {\\pict\\bin99999999999999999999 xyz".to_vec();
    assert_eq!(
        read(&binary, &Limits::default()).unwrap().text,
        "\u{e9} before\n\n"
    );
    let utf8 = r"{\rtf1 before {\pict\bin2147483647 xyz}} after}";
    assert_eq!(text(utf8), "before\n\n");
}
