//! From TOML text to the serde layer, turning syntax and type errors into located diagnostics with a
//! "did you mean" for misspelt field and variant names.

use crate::error::{Diagnostic, FieldPath, Segment};
use crate::source::Source;
use crate::spec::Spec;
use crate::suggest;

pub fn parse_spec(source: &Source<'_>) -> Result<Spec, Diagnostic> {
    let deserializer = match toml::Deserializer::parse(source.text) {
        Ok(d) => d,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            return Err(source.at_span(span, "(syntax)", first_line(e.message())));
        }
    };
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let mut path = FieldPath(
            e.path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
                    _ => None,
                })
                .collect(),
        );
        let inner = e.inner();
        let raw = first_line(inner.message());
        let (message, field) = explain(&raw);
        // An unknown or missing field is reported by serde at its parent; name the field itself.
        if let Some(field) = field {
            if path.0.last() != Some(&Segment::Key(field.clone())) {
                path.0.push(Segment::Key(field));
            }
        }
        match inner.span() {
            Some(span) => source.at_span(span, &path.to_string(), message),
            None => source.at(&path, message),
        }
    })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// Rewrites serde's messages for people, and returns the field they are about when serde reports
/// them at the parent.
fn explain(raw: &str) -> (String, Option<String>) {
    let quoted = backticked(raw);
    for (prefix, what) in [("unknown field", "field"), ("unknown variant", "value")] {
        if !raw.starts_with(prefix) {
            continue;
        }
        let Some((word, candidates)) = quoted.split_first() else {
            break;
        };
        let mut message = format!("unknown {what} `{word}`");
        match suggest::closest(word, candidates.iter().map(String::as_str)) {
            Some(best) => message.push_str(&format!("; did you mean `{best}`?")),
            None if candidates.is_empty() => message.push_str("; no fields are allowed here"),
            None => {}
        }
        if !candidates.is_empty() {
            let list: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
            message.push_str(&format!(" (allowed: {})", list.join(", ")));
        }
        let field = (what == "field").then(|| word.clone());
        return (message, field);
    }
    if raw.starts_with("missing field") {
        if let Some(field) = quoted.first() {
            return (
                format!("missing required field `{field}`"),
                Some(field.clone()),
            );
        }
    }
    (raw.to_string(), None)
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}
