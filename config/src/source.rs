//! The topology text and its TOML syntax tree, kept so that any field path can be turned back into a
//! line and column, for serde's errors and for validation's alike.

use crate::error::{Diagnostic, FieldPath, Segment};
use std::ops::Range;
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

pub struct Source<'a> {
    pub file: String,
    pub text: &'a str,
    root: Option<Spanned<DeTable<'a>>>,
}

impl<'a> Source<'a> {
    pub fn new(file: &str, text: &'a str) -> Source<'a> {
        Source {
            file: file.to_string(),
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    /// A diagnostic at the field `path`; when the field itself is absent, at its nearest parent.
    pub fn at(&self, path: &FieldPath, message: impl Into<String>) -> Diagnostic {
        let span = self.span_of(path).unwrap_or(0..0);
        self.at_span(span, &path.to_string(), message)
    }

    pub fn at_span(
        &self,
        span: Range<usize>,
        path: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, column) = line_column(self.text, span.start);
        Diagnostic {
            file: self.file.clone(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The span of the deepest part of `path` that exists: the key for a table field, the element for
    /// an array index.
    pub fn span_of(&self, path: &FieldPath) -> Option<Range<usize>> {
        let root = self.root.as_ref()?;
        let mut best = root.span();
        let mut table: Option<&DeTable<'a>> = Some(root.get_ref());
        let mut array: Option<&DeArray<'a>> = None;
        for segment in &path.0 {
            let next = match segment {
                Segment::Key(k) => table.and_then(|t| {
                    t.iter()
                        .find(|(key, _)| key.get_ref() == k)
                        .map(|(key, v)| (key.span(), v))
                }),
                Segment::Index(i) => array.and_then(|a| a.get(*i)).map(|v| (v.span(), v)),
            };
            let Some((span, value)) = next else { break };
            best = span;
            (table, array) = match value.get_ref() {
                DeValue::Table(t) => (Some(t), None),
                DeValue::Array(a) => (None, Some(a)),
                _ => (None, None),
            };
        }
        Some(best)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}
