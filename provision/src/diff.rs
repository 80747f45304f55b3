//! Field-level differences between two canonical JSON documents, with dotted paths
//! (`origins[0].connection_attempts`), for plans that say exactly what changes.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub path: String,
    /// Absent when the field is new.
    pub old: Option<Value>,
    /// Absent when the field goes away.
    pub new: Option<Value>,
}

pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", Some(old), Some(new), &mut out);
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    // A table that appears or goes away is shown field by field, like one that changes.
    let empty = Value::Object(Default::default());
    let (old, new) = match (old, new) {
        (None, Some(b @ Value::Object(_))) => (Some(&empty), Some(b)),
        (Some(a @ Value::Object(_)), None) => (Some(a), Some(&empty)),
        other => other,
    };
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (k, va) in a {
                walk(&join(path, k), Some(va), b.get(k), out);
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                walk(&join(path, k), None, Some(vb), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), Some(va), Some(vb), out);
            }
        }
        (a, b) if a != b => out.push(Change {
            path: path.to_string(),
            old: a.cloned(),
            new: b.cloned(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_each_changed_leaf_with_its_path() {
        let table: &[(Value, Value, &[&str])] = &[
            (json!({"a": 1}), json!({"a": 1}), &[]),
            (json!({"a": 1}), json!({"a": 2}), &["a"]),
            (
                json!({"a": {"b": [1, 2]}}),
                json!({"a": {"b": [1, 3]}}),
                &["a.b[1]"],
            ),
            (json!({"a": [1]}), json!({"a": [1, 2]}), &["a"]),
            (json!({"a": 1}), json!({"b": 1}), &["a", "b"]),
            (json!({}), json!({"t": {"x": 1, "y": 2}}), &["t.x", "t.y"]),
            (
                json!({"o": [{"x": 1, "y": 2}]}),
                json!({"o": [{"x": 1, "y": 3}]}),
                &["o[0].y"],
            ),
        ];
        for (old, new, paths) in table {
            let got: Vec<String> = diff(old, new).into_iter().map(|c| c.path).collect();
            assert_eq!(got, *paths, "{old} -> {new}");
        }
        let c = &diff(&json!({"a": 1}), &json!({}))[0];
        assert_eq!((c.old.clone(), c.new.clone()), (Some(json!(1)), None));
    }
}
