//! The file's line of each node of a parsed page, so that a line of the
//! page's Markdown can be cited at the line of the file it came from.
//!
//! html5ever tells its tree builder the tokenizer's line with each token
//! (the line the token ends on); the builder passes it to its sink. This sink
//! wraps scraper's and keeps, for each text node, the line its first text
//! starts on. A text node's later lines are counted from its line breaks.
//!
//! The builder sometimes appends a token in two pieces (leading whitespace
//! first, where a mode treats it apart), each reported at the whole token's
//! last line: a first piece alone would place the node too low. Each piece
//! gives the node's first line as its reported line less the node's line
//! breaks so far; the least of them is right, since a token's last piece
//! ends on the line reported.

use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell};
use std::collections::HashMap;

use ego_tree::NodeId;
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{Attribute, QualName};
use scraper::{Html, HtmlTreeSink, Node};

/// A parsed page and the line each of its text nodes starts on.
pub(super) struct LinedPage {
    pub html: Html,
    text_lines: HashMap<NodeId, u32>,
}

impl LinedPage {
    pub fn parse(source: &str) -> Self {
        let sink = LineSink {
            inner: HtmlTreeSink::new(Html::new_document()),
            line: Cell::new(1),
            text_lines: RefCell::new(HashMap::new()),
            text_breaks: RefCell::new(HashMap::new()),
        };
        html5ever::driver::parse_document(sink, Default::default()).one(source)
    }

    /// The line a text node starts on (1 for nodes the parser made up).
    pub fn line_of(&self, node: NodeId) -> u32 {
        self.text_lines.get(&node).copied().unwrap_or(1)
    }
}

struct LineSink {
    inner: HtmlTreeSink,
    /// The line the token being built ends on.
    line: Cell<u64>,
    text_lines: RefCell<HashMap<NodeId, u32>>,
    /// Line breaks appended to each text node so far.
    text_breaks: RefCell<HashMap<NodeId, u64>>,
}

impl LineSink {
    /// Records where the text node `node` starts, given `text` just
    /// appended to it (nodes of other kinds are passed over).
    fn record(&self, node: Option<NodeId>, text: &str) {
        let Some(node) = node else {
            return;
        };
        let is_text = self
            .inner
            .0
            .borrow()
            .tree
            .get(node)
            .is_some_and(|n| matches!(n.value(), Node::Text(_)));
        if !is_text {
            return;
        }
        let mut breaks = self.text_breaks.borrow_mut();
        let so_far = breaks.entry(node).or_insert(0);
        *so_far += text.matches('\n').count() as u64;
        let line = self.line.get().saturating_sub(*so_far).max(1);
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        self.text_lines
            .borrow_mut()
            .entry(node)
            .and_modify(|first| *first = (*first).min(line))
            .or_insert(line);
    }

    fn last_child(&self, parent: NodeId) -> Option<NodeId> {
        let html = self.inner.0.borrow();
        html.tree.get(parent)?.last_child().map(|n| n.id())
    }

    fn previous_sibling(&self, sibling: NodeId) -> Option<NodeId> {
        let html = self.inner.0.borrow();
        html.tree.get(sibling)?.prev_sibling().map(|n| n.id())
    }
}

/// The text being appended, when it is text.
fn text_of(child: &NodeOrText<NodeId>) -> Option<String> {
    match child {
        NodeOrText::AppendText(text) => Some(text.to_string()),
        NodeOrText::AppendNode(_) => None,
    }
}

impl TreeSink for LineSink {
    type Handle = NodeId;
    type Output = LinedPage;
    type ElemName<'a> = Ref<'a, QualName>;

    fn finish(self) -> LinedPage {
        LinedPage {
            html: self.inner.finish(),
            text_lines: self.text_lines.into_inner(),
        }
    }

    fn set_current_line(&self, line_number: u64) {
        self.line.set(line_number);
    }

    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        let text = text_of(&child);
        self.inner.append(parent, child);
        if let Some(text) = text {
            self.record(self.last_child(*parent), &text);
        }
    }

    fn append_before_sibling(&self, sibling: &NodeId, child: NodeOrText<NodeId>) {
        let text = text_of(&child);
        self.inner.append_before_sibling(sibling, child);
        if let Some(text) = text {
            self.record(self.previous_sibling(*sibling), &text);
        }
    }

    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev_element: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        let has_parent = {
            let html = self.inner.0.borrow();
            html.tree
                .get(*element)
                .is_some_and(|n| n.parent().is_some())
        };
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn parse_error(&self, msg: Cow<'static, str>) {
        self.inner.parse_error(msg);
    }

    fn get_document(&self) -> NodeId {
        self.inner.get_document()
    }

    fn elem_name<'a>(&'a self, target: &'a NodeId) -> Ref<'a, QualName> {
        self.inner.elem_name(target)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> NodeId {
        self.inner.create_element(name, attrs, flags)
    }

    fn create_comment(&self, text: StrTendril) -> NodeId {
        self.inner.create_comment(text)
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> NodeId {
        self.inner.create_pi(target, data)
    }

    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.inner
            .append_doctype_to_document(name, public_id, system_id);
    }

    fn mark_script_already_started(&self, node: &NodeId) {
        self.inner.mark_script_already_started(node);
    }

    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        self.inner.get_template_contents(target)
    }

    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        self.inner.same_node(x, y)
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode);
    }

    fn add_attrs_if_missing(&self, target: &NodeId, attrs: Vec<Attribute>) {
        self.inner.add_attrs_if_missing(target, attrs);
    }

    fn remove_from_parent(&self, target: &NodeId) {
        self.inner.remove_from_parent(target);
    }

    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        self.inner.reparent_children(node, new_parent);
    }
}

/// Text gathered from several nodes, with the file's line of each piece:
/// `marks` holds (offset in the text, file line at that offset).
#[derive(Default)]
pub(super) struct Marks(Vec<(usize, u32)>);

impl Marks {
    pub fn push(&mut self, offset: usize, line: u32) {
        self.0.push((offset, line));
    }

    /// The line of the first mark in `from..to`: the line of a span's first
    /// words, even when markup (a code span's backtick) comes before them.
    pub fn first_within(&self, from: usize, to: usize) -> Option<u32> {
        let at = self.0.partition_point(|&(mark, _)| mark < from);
        self.0
            .get(at)
            .filter(|&&(mark, _)| mark < to)
            .map(|&(_, line)| line)
    }

    /// The file's line of the text at `offset` of `text` (the text the marks
    /// were made in): the last mark at or before it, plus the line breaks
    /// between (text inside `<pre>` keeps the file's line breaks).
    pub fn line_at(&self, text: &str, offset: usize, fallback: u32) -> u32 {
        let at = self.0.partition_point(|&(mark, _)| mark <= offset);
        match at.checked_sub(1).map(|i| self.0[i]) {
            Some((mark, line)) => {
                let between = text.get(mark..offset).unwrap_or("");
                line + between.matches('\n').count() as u32
            }
            None => fallback,
        }
    }

    /// The file's line of each line of `text` from `from` on, where each
    /// line starts at its first non-blank character.
    pub fn lines_of(&self, text: &str, from: usize, fallback: u32) -> Vec<u32> {
        let mut lines = Vec::new();
        let mut start = from;
        for line in text.get(from..).unwrap_or("").split('\n') {
            let first = line.len() - line.trim_start().len();
            lines.push(self.line_at(text, start + first, fallback));
            start += line.len() + 1;
        }
        lines
    }
}
