//! Jupyter notebooks (.ipynb, nbformat 4 and the older 3): markdown cells
//! as they are, code cells fenced in the kernel's language, and the text
//! the code printed (streams, plain-text results, errors) fenced after it.
//! Images and other binary outputs, and the notebook's metadata, are left
//! out.

use serde_json::Value;

use super::markdown::Markdown;
use super::{damaged, Limits, Outcome, Read};
use crate::location::Unit;

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Outcome<Read> {
    let notebook: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => return damaged(format!("not notebook JSON: {e}")),
    };
    let language = ["kernelspec", "language_info"]
        .iter()
        .find_map(|key| {
            let entry = &notebook["metadata"][key];
            entry["language"].as_str().or(entry["name"].as_str())
        })
        .unwrap_or("")
        .to_string();
    // nbformat 3 kept its cells in worksheets.
    let cells: Vec<&Value> = match notebook["cells"].as_array() {
        Some(cells) => cells.iter().collect(),
        None => notebook["worksheets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|sheet| sheet["cells"].as_array())
            .flatten()
            .collect(),
    };
    if cells.is_empty() && !notebook.is_object() {
        return damaged("not a notebook: no cells");
    }
    let mut md = Markdown::limited(limits.max_text);
    for (number, cell) in (1..).zip(cells) {
        md.place(Unit::Cell, number, None);
        match cell["cell_type"].as_str() {
            Some("markdown") => md.raw(&text(&cell["source"])),
            Some("heading") => {
                let level = cell["level"].as_u64().unwrap_or(1) as usize;
                md.heading(level, &text(&cell["source"]));
            }
            Some("code") => {
                let source = match &cell["source"] {
                    Value::Null => text(&cell["input"]),
                    source => text(source),
                };
                md.fenced(&language, &source);
                for output in cell["outputs"].as_array().into_iter().flatten() {
                    md.fenced("output", &output_text(output));
                }
            }
            Some("raw") => md.paragraph(&text(&cell["source"])),
            _ => {}
        }
        if md.over_limit() {
            break;
        }
    }
    let (text, places) = md.finish_placed()?;
    Ok(Read {
        title: None,
        text,
        places,
    })
}

/// A multi-line field: a string, or (as nbformat writes them) a list of lines.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn output_text(output: &Value) -> String {
    match output["output_type"].as_str() {
        Some("stream") => text(&output["text"]),
        Some("error") | Some("pyerr") => {
            let name = output["ename"].as_str().unwrap_or("error");
            let value = output["evalue"].as_str().unwrap_or("");
            format!("{name}: {value}")
        }
        // display_data, execute_result (pyout in nbformat 3): the plain-text
        // form only; images come as base64 and are no one's text.
        _ => {
            let plain = &output["data"]["text/plain"];
            if plain.is_null() {
                text(&output["text"])
            } else {
                text(plain)
            }
        }
    }
}
