//! Saved mail (.eml, mbox): one section a message, headed by its subject,
//! with From, To, Cc, Date and Subject lines (so a passage can be found by
//! who wrote it and when), its text body (an HTML-only body through the HTML
//! reader), and each attachment of a format rag reads as a section of its
//! own below it. Attachments of other kinds (pictures...) are left out.

use std::io::Cursor;
use std::path::Path;

use mail_parser::mailbox::mbox::MessageIterator;
use mail_parser::{Address, Message, MessageParser, MimeHeaders};

use super::markdown::{demote_headings, one_line, Markdown};
use super::{damaged, Limits, Outcome, Read};
use crate::extract::{self, Kind};
use crate::location::Unit;

pub(crate) fn read_message(bytes: &[u8], limits: &Limits, depth: usize) -> Outcome<Read> {
    let Some(message) = MessageParser::default().parse(bytes) else {
        return damaged("not a mail message");
    };
    if message.headers().is_empty() {
        return damaged("not a mail message: no headers");
    }
    let mut md = Markdown::limited(limits.max_text);
    write_message(&mut md, &message, 1, depth, limits);
    Ok(Read {
        title: message.subject().map(one_line).filter(|s| !s.is_empty()),
        text: md.finish_within()?,
        places: Vec::new(),
    })
}

pub(crate) fn read_mbox(bytes: &[u8], limits: &Limits, depth: usize) -> Outcome<Read> {
    let mut md = Markdown::limited(limits.max_text);
    let mut messages = 0;
    for entry in MessageIterator::new(Cursor::new(bytes)) {
        let Ok(entry) = entry else {
            break;
        };
        let Some(message) = MessageParser::default().parse(entry.contents()) else {
            continue;
        };
        messages += 1;
        md.place(Unit::Message, messages, Some(message_name(&message)));
        write_message(&mut md, &message, 1, depth, limits);
        if md.over_limit() {
            break;
        }
    }
    if messages == 0 {
        return damaged("no messages in the mailbox (each starts with a \"From \" line)");
    }
    let (text, places) = md.finish_placed()?;
    Ok(Read {
        title: None,
        text,
        places,
    })
}

/// How a citation names a message of a mailbox: its subject and day.
fn message_name(message: &Message<'_>) -> String {
    let subject = message
        .subject()
        .map(one_line)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(no subject)".into());
    match message.date() {
        Some(date) => format!("{subject}, {}", date.to_rfc3339().get(..10).unwrap_or("")),
        None => subject,
    }
}

fn write_message(
    md: &mut Markdown,
    message: &Message<'_>,
    level: usize,
    depth: usize,
    limits: &Limits,
) {
    let subject = message.subject().map(one_line).unwrap_or_default();
    md.heading(
        level,
        if subject.is_empty() {
            "(no subject)"
        } else {
            &subject
        },
    );
    let mut head = Vec::new();
    for (name, address) in [
        ("From", message.from()),
        ("To", message.to()),
        ("Cc", message.cc()),
    ] {
        if let Some(address) = address.map(addresses).filter(|a| !a.is_empty()) {
            head.push(format!("{name}: {address}"));
        }
    }
    if let Some(date) = message.date() {
        head.push(format!("Date: {}", date.to_rfc3339()));
    }
    if !subject.is_empty() {
        head.push(format!("Subject: {subject}"));
    }
    for line in head {
        md.line(&line);
    }
    md.end_block();

    for part in message.text_bodies() {
        let Some(text) = part.text_contents() else {
            continue;
        };
        if part.is_text_html() {
            md.raw(&demote_headings(&crate::html::read(text).text, level));
        } else {
            for paragraph in text.replace("\r\n", "\n").split("\n\n") {
                md.paragraph(paragraph);
            }
        }
    }

    for part in message.attachments() {
        if let Some(nested) = part.message() {
            if depth + 1 > limits.max_nesting {
                md.paragraph("(an attached message nested too deep, not read)");
            } else {
                write_message(md, nested, (level + 1).min(6), depth + 1, limits);
            }
            continue;
        }
        let Some(name) = part.attachment_name() else {
            continue;
        };
        let name = one_line(name);
        let Some(kind) = extract::kind_of(Path::new(&name)) else {
            continue;
        };
        md.heading(level + 1, &format!("Attachment: {name}"));
        match attachment_text(&name, kind, part.contents(), limits, depth + 1) {
            Ok(text) => md.raw(&demote_headings(&text, level + 1)),
            Err(reason) => md.paragraph(&format!("(not read: {reason})")),
        }
    }
}

fn attachment_text(
    name: &str,
    kind: Kind,
    bytes: &[u8],
    limits: &Limits,
    depth: usize,
) -> Result<String, extract::SkipReason> {
    match kind {
        Kind::Document(format) => super::read_nested(format, bytes, limits, depth).map(|r| r.text),
        kind => extract::extract(Path::new(name), kind, bytes).map(|doc| doc.text),
    }
}

/// "Ada Lovelace <ada@example.org>, bob@example.org"
fn addresses(address: &Address<'_>) -> String {
    address
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(name), Some(address)) => format!("{} <{address}>", one_line(name)),
            (Some(name), None) => one_line(name),
            (None, Some(address)) => address.to_string(),
            (None, None) => String::new(),
        })
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}
