//! Plans for people (coloured on a terminal, plain otherwise) and for machines (`--json`).

use crate::diff::Change;
use crate::plan::{Action, Plan};
use serde_json::Value;
use std::fmt::Write;

/// What a plan shows of an origin's custom header values: they are the usual secret that locks an
/// origin to CloudFront, and plans end up in CI logs. A change still shows as one.
const HIDDEN: &str = "(hidden)";

/// `plan` with every origin custom header value hidden.
fn redacted(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    for step in &mut plan.steps {
        for Change { path, old, new } in &mut step.changes {
            let secret = path.contains("custom_headers");
            for v in [old, new].into_iter().flatten() {
                hide(v, secret);
            }
        }
    }
    plan
}

/// Hides the values under any `custom_headers` in `v` (all of `v` when `secret`).
fn hide(v: &mut Value, secret: bool) {
    match v {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                hide(field, secret || name == "custom_headers");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| hide(item, secret)),
        Value::String(s) if secret => *s = HIDDEN.into(),
        _ => {}
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

pub fn text(plan: &Plan, color: bool) -> String {
    let plan = &redacted(plan);
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "stack {:?}", plan.stack);
    if plan.steps.is_empty() {
        let _ = writeln!(out, "\nNo changes: AWS matches the topology.");
    }
    let mut counts = [0usize; 4];
    for step in &plan.steps {
        let (sign, code, verb, n) = match step.action {
            Action::Create => ("+", "32", "create", 0),
            Action::Update => ("~", "33", "update", 1),
            Action::Replace => ("-/+", "35", "replace", 2),
            Action::Delete => ("-", "31", "delete", 3),
        };
        counts[n] += 1;
        let _ = writeln!(out, "\n{} {verb} {}", paint(code, sign), step.title());
        for c in &step.changes {
            let line = match step.action {
                Action::Create => format!("    {} = {}", c.path, show(&c.new)),
                Action::Delete => format!("    {} = {}", c.path, show(&c.old)),
                _ => format!("    {}: {} → {}", c.path, show(&c.old), show(&c.new)),
            };
            let _ = writeln!(out, "{line}");
        }
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(out, "\nNot provisioned (local only):");
        for note in &plan.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to replace, {} to delete.",
        counts[0], counts[1], counts[2], counts[3]
    );
    out
}

pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(&redacted(plan))
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;
    use crate::resource::Kind;
    use serde_json::json;

    #[test]
    fn origin_custom_header_values_never_show() {
        let change = |path: &str, old: Option<Value>, new: Option<Value>| Change {
            path: path.into(),
            old,
            new,
        };
        let plan = Plan {
            stack: "s".into(),
            steps: vec![Step {
                action: Action::Update,
                kind: Kind::Distribution,
                key: "site".into(),
                changes: vec![
                    change(
                        "origins[0].custom_headers.X-Origin-Verify",
                        Some(json!("old-secret")),
                        Some(json!("new-secret")),
                    ),
                    change(
                        "origins[1]",
                        None,
                        Some(json!({"id": "alb", "custom_headers": {"X-Origin-Verify": "s3cret"}})),
                    ),
                    change("comment", Some(json!("a")), Some(json!("b"))),
                ],
                desired: None,
                live: None,
                targets: vec![],
            }],
            notes: vec![],
        };
        for out in [text(&plan, false), json(&plan)] {
            for secret in ["old-secret", "new-secret", "s3cret"] {
                assert!(!out.contains(secret), "{secret} shown:\n{out}");
            }
            assert!(
                out.contains("X-Origin-Verify") && out.contains(HIDDEN),
                "{out}"
            );
            assert!(out.contains("\"b\""), "other values still show: {out}");
        }
    }
}
