//! E-books (.epub): the spine's XHTML chapters in reading order, each read
//! by the HTML reader, each under its title from the table of contents (or
//! its own heading). Books whose chapters are encrypted (DRM) are skipped;
//! obfuscated fonts, which many books have, do not count.

use std::collections::{HashMap, HashSet};

use quick_xml::events::Event;

use super::container::{attr, dc_title, event_text, folder_of, join_path, local, xml, Archive};
use super::markdown::{demote_headings, one_line, Markdown};
use super::{damaged, Limits, Outcome, Problem, Read};
use crate::location::Unit;

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    let mut archive = Archive::open(bytes, limits)?;
    let container = archive.require_text("META-INF/container.xml")?;
    let Some(package_path) = first_attr(&container, "rootfile", "full-path") else {
        return damaged("META-INF/container.xml names no package");
    };
    let package = archive.require_text(&package_path)?;
    let base = folder_of(&package_path).to_string();
    let book = Package::parse(&package, &base)?;
    let encrypted: HashSet<String> = match archive.read_text("META-INF/encryption.xml")? {
        Some(text) => all_attrs(&text, "CipherReference", "URI")
            .into_iter()
            .map(|uri| join_path("", &uri))
            .collect(),
        None => HashSet::new(),
    };
    let mut titles = HashMap::new();
    if let Some(toc) = &book.toc {
        if let Some(text) = archive.read_text(toc)? {
            titles = toc_titles(&text, folder_of(toc));
        }
    }
    let mut md = Markdown::limited(limits.max_text);
    let mut chapters = 0;
    for path in &book.spine {
        if encrypted.contains(path) {
            return Err(Problem::Encrypted);
        }
        let Some(source) = archive.read_text(path)? else {
            continue;
        };
        let page = crate::html::read(&source);
        let text = page.text.trim();
        if text.is_empty() {
            continue;
        }
        let has_heading = text.lines().next().is_some_and(|l| l.starts_with('#'));
        let title = titles.get(path).cloned().or(page.title);
        chapters += 1;
        md.place(Unit::Chapter, chapters, title.clone());
        match title {
            Some(title) if !has_heading => {
                md.heading(1, &title);
                md.raw(&demote_headings(text, 1));
            }
            _ => md.raw(text),
        }
    }
    let (text, places) = md.finish_placed()?;
    Ok(Read {
        title: dc_title(&package),
        text,
        places,
    })
}

struct Package {
    /// The chapters' paths in the archive, in reading order.
    spine: Vec<String>,
    /// The table of contents: EPUB 3's navigation document, else the NCX.
    toc: Option<String>,
}

impl Package {
    fn parse(text: &str, base: &str) -> Outcome<Package> {
        let mut items: HashMap<String, (String, String)> = HashMap::new();
        let mut order = Vec::new();
        let (mut nav, mut ncx, mut spine_toc) = (None, None, None);
        let mut reader = xml(text);
        loop {
            let e = match reader.read_event() {
                Ok(Event::Start(e)) | Ok(Event::Empty(e)) => e,
                Ok(Event::Eof) => break,
                Ok(_) => continue,
                Err(e) => return damaged(format!("the package document: {e}")),
            };
            match local(&e).as_str() {
                "item" => {
                    let (Some(id), Some(href)) = (attr(&e, "id"), attr(&e, "href")) else {
                        continue;
                    };
                    let path = join_path(base, href.split('#').next().unwrap_or(""));
                    let media = attr(&e, "media-type").unwrap_or_default();
                    if attr(&e, "properties").is_some_and(|p| p.split(' ').any(|p| p == "nav")) {
                        nav = Some(path.clone());
                    }
                    if media == "application/x-dtbncx+xml" {
                        ncx = Some(path.clone());
                    }
                    items.insert(id, (path, media));
                }
                "spine" => spine_toc = attr(&e, "toc"),
                "itemref" => order.extend(attr(&e, "idref")),
                _ => {}
            }
        }
        let spine = order
            .iter()
            .filter_map(|id| items.get(id))
            .filter(|(_, media)| media.contains("html") || media.is_empty())
            .map(|(path, _)| path.clone())
            .collect();
        let spine_ncx = spine_toc.and_then(|id| items.get(&id).map(|(p, _)| p.clone()));
        Ok(Package {
            spine,
            toc: nav.or(spine_ncx).or(ncx),
        })
    }
}

/// Chapter path -> title, from a navigation document (`<a href>`) or an NCX
/// (`navLabel` then `content src`). The first entry for a file wins: later
/// ones name sections inside it.
fn toc_titles(text: &str, base: &str) -> HashMap<String, String> {
    let mut titles = HashMap::new();
    let mut reader = xml(text);
    let mut label: Option<String> = None;
    let mut link: Option<String> = None;
    let add = |titles: &mut HashMap<String, String>, href: &str, label: &str| {
        let path = join_path(base, href.split('#').next().unwrap_or(""));
        let label = one_line(label);
        if !label.is_empty() {
            titles.entry(path).or_insert(label);
        }
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => match local(&e).as_str() {
                "a" => {
                    link = attr(&e, "href");
                    label = Some(String::new());
                }
                "navLabel" => label = Some(String::new()),
                _ => {}
            },
            Ok(Event::Empty(e)) if local(&e) == "content" => {
                if let (Some(src), Some(text)) = (attr(&e, "src"), label.take()) {
                    add(&mut titles, &src, &text);
                }
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == "a" => {
                if let (Some(href), Some(text)) = (link.take(), label.take()) {
                    add(&mut titles, &href, &text);
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => {
                if let (Some(text), Some(label)) = (event_text(&event), label.as_mut()) {
                    label.push_str(&text);
                }
            }
        }
    }
    titles
}

fn all_attrs(text: &str, element: &str, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut reader = xml(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if local(&e) == element => {
                found.extend(attr(&e, name));
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    found
}

fn first_attr(text: &str, element: &str, name: &str) -> Option<String> {
    all_attrs(text, element, name).into_iter().next()
}
