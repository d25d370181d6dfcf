//! PowerPoint decks (.pptx): one section a slide, in the deck's order,
//! headed by the slide's title, with the text of its shapes and tables and
//! its speaker notes. Slide numbers, dates and footers (the same on every
//! slide) are left out, and so are pictures.

use std::collections::HashMap;

use quick_xml::events::Event;

use super::container::{attr, dc_title, event_text, local, main_part, relationships, xml, Archive};
use super::markdown::{one_line, Markdown};
use super::odf::slide_heading;
use super::{damaged, Limits, Outcome, Read};
use crate::location::Unit;

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    let mut archive = Archive::open(bytes, limits)?;
    let main = main_part(&mut archive, "ppt/presentation.xml")?;
    let presentation = archive.require_text(&main)?;
    let targets: HashMap<String, String> = relationships(&mut archive, &main)?
        .into_iter()
        .map(|(id, _, target)| (id, target))
        .collect();
    let mut slides = Vec::new();
    let mut reader = xml(&presentation);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if local(&e) == "sldId" => {
                let id = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.prefix().is_some() && a.key.local_name().as_ref() == "id")
                    .map(|a| a.value.to_string());
                if let Some(target) = id.and_then(|id| targets.get(&id)) {
                    slides.push(target.clone());
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return damaged(format!("{main}: {e}")),
        }
    }
    let mut md = Markdown::limited(limits.max_text);
    for (n, slide) in slides.iter().enumerate() {
        let Some(text) = archive.read_text(slide)? else {
            continue;
        };
        let content = shapes(&text, slide, false)?;
        let body = content.body.finish();
        let notes_part = relationships(&mut archive, slide)?
            .into_iter()
            .find(|(_, kind, _)| kind.ends_with("/notesSlide"));
        let mut notes = String::new();
        if let Some((_, _, part)) = notes_part {
            if let Some(text) = archive.read_text(&part)? {
                notes = one_line(&shapes(&text, &part, true)?.body.finish());
            }
        }
        // A slide with nothing on it (a picture, a blank) is no passage.
        if content.title.trim().is_empty() && body.trim().is_empty() && notes.is_empty() {
            continue;
        }
        md.place(Unit::Slide, n + 1, None);
        md.heading(1, &slide_heading(n + 1, &content.title));
        md.raw(&body);
        if !notes.is_empty() {
            md.paragraph(&format!("Notes: {notes}"));
        }
    }
    let title = match archive.read_text("docProps/core.xml")? {
        Some(core) => dc_title(&core),
        None => None,
    };
    let (text, places) = md.finish_placed()?;
    Ok(Read {
        title,
        text,
        places,
    })
}

struct Shapes {
    title: String,
    body: Markdown,
}

/// Placeholders whose text is not the slide's own.
const LEFT_OUT: &[&str] = &["sldNum", "dt", "ftr", "hdr", "sldImg"];

/// The text of a slide's (or a notes page's) shapes. On a notes page only
/// the notes' body counts.
fn shapes(text: &str, part: &str, notes: bool) -> Outcome<Shapes> {
    let mut reader = xml(text);
    let mut found = Shapes {
        title: String::new(),
        body: Markdown::new(),
    };
    // Per shape: whether it is the title, whether it is left out.
    let mut title = false;
    let mut left_out = false;
    let mut paragraph: Option<String> = None;
    let mut in_text = false;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut cell: Option<String> = None;
    let mut table_depth = 0usize;
    // Inside `mc:Fallback`: a second copy of what `mc:Choice` holds.
    let mut fallback = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(event) => event,
            Err(e) => return damaged(format!("{part}: {e}")),
        };
        match &event {
            Event::Start(e) if local(e) == "Fallback" => {
                fallback += 1;
                continue;
            }
            Event::End(e) if e.local_name().as_ref() == "Fallback" => {
                fallback = fallback.saturating_sub(1);
                continue;
            }
            _ if fallback > 0 => continue,
            _ => {}
        }
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                match local(e).as_str() {
                    // Each shape is its own: a table after a footer is
                    // still the slide's text.
                    "sp" | "graphicFrame" | "grpSp" | "pic" | "cxnSp" => {
                        title = false;
                        left_out = false;
                    }
                    "ph" => {
                        let kind = attr(e, "type").unwrap_or_else(|| "body".into());
                        title = matches!(kind.as_str(), "title" | "ctrTitle");
                        left_out = LEFT_OUT.contains(&kind.as_str()) || (notes && kind != "body");
                    }
                    "p" if !empty => paragraph = Some(String::new()),
                    "t" if !empty => in_text = true,
                    "br" => {
                        if let Some(p) = paragraph.as_mut() {
                            p.push('\n');
                        }
                    }
                    "tbl" if !empty => table_depth += 1,
                    "tr" if !empty => rows.push(Vec::new()),
                    "tc" if !empty => cell = Some(String::new()),
                    _ => {}
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => {
                    let Some(text) = paragraph.take() else {
                        continue;
                    };
                    if left_out {
                        continue;
                    }
                    if let Some(cell) = cell.as_mut() {
                        cell.push(' ');
                        cell.push_str(&text);
                    } else if title {
                        found.title.push(' ');
                        found.title.push_str(&text);
                    } else {
                        found.body.line(&text);
                    }
                }
                "tc" => {
                    if let (Some(text), Some(row)) = (cell.take(), rows.last_mut()) {
                        row.push(one_line(&text));
                    }
                }
                "tbl" => {
                    table_depth = table_depth.saturating_sub(1);
                    if table_depth == 0 {
                        found.body.end_block();
                        for row in rows.drain(..) {
                            if row.iter().any(|c| !c.is_empty()) {
                                found.body.line(&format!("| {} |", row.join(" | ")));
                            }
                        }
                        found.body.end_block();
                    }
                }
                "sp" | "txBody" => found.body.end_block(),
                _ => {}
            },
            event if in_text => {
                if let (Some(text), Some(p)) = (event_text(event), paragraph.as_mut()) {
                    p.push_str(&text);
                }
            }
            _ => {}
        }
    }
    Ok(found)
}
