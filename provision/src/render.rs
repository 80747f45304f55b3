//! Plans for people (coloured on a terminal, plain otherwise) and for machines (`--json`).

use crate::plan::{Action, Plan};
use serde_json::Value;
use std::fmt::Write;

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

pub fn text(plan: &Plan, color: bool) -> String {
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
    serde_json::to_string_pretty(plan)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
}
