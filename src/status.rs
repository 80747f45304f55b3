//! `ferry status`: a readable summary of a running ferry (listeners, distributions, cache, target
//! health) from its admin listener's `GET /ferry/status`.

use crate::admin_client;
use anyhow::{anyhow, Result};

pub fn status(admin: &str, token: Option<&str>, raw: bool) -> Result<()> {
    let body = admin_client::get(admin, "/ferry/status", token)?;
    if raw {
        print!("{body}");
        return Ok(());
    }
    let value = Json::parse(&body)
        .map_err(|why| anyhow!("the admin listener's /ferry/status is not JSON: {why}"))?;
    print!("{}", render(admin, &value));
    Ok(())
}

// ------------------------------------------------------------------------------------- JSON

/// Just enough JSON for the status document.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
        };
        let value = p.value(0)?;
        p.ws();
        if p.pos != p.s.len() {
            return Err(format!("unexpected text at byte {}", p.pos));
        }
        Ok(value)
    }

    /// The member `key` of an object; `Null` when there is none.
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(members) => members
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn items(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            _ => &[],
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if *n >= 0.0 => Some(*n as u64),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Strings as they are, numbers and booleans written out, `-` for null.
    pub fn text(&self) -> String {
        match self {
            Json::Null => "-".into(),
            Json::Bool(b) => b.to_string(),
            Json::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Json::Number(n) => n.to_string(),
            Json::String(s) => s.clone(),
            Json::Array(items) => items.iter().map(Json::text).collect::<Vec<_>>().join(", "),
            Json::Object(_) => "{...}".into(),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.s[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        self.ws();
        match self.s.get(self.pos) {
            None => Err("unexpected end".into()),
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Object(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return Err(format!("`:` expected at byte {}", self.pos));
                    }
                    let value = self.value(depth + 1)?;
                    members.push((key, value));
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Json::Object(members));
                    }
                    return Err(format!("`,` or `}}` expected at byte {}", self.pos));
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Json::Array(items));
                    }
                    return Err(format!("`,` or `]` expected at byte {}", self.pos));
                }
            }
            Some(b'"') => self.string().map(Json::String),
            Some(_) if self.eat("true") => Ok(Json::Bool(true)),
            Some(_) if self.eat("false") => Ok(Json::Bool(false)),
            Some(_) if self.eat("null") => Ok(Json::Null),
            Some(_) => {
                let start = self.pos;
                while self
                    .s
                    .get(self.pos)
                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    self.pos += 1;
                }
                std::str::from_utf8(&self.s[start..self.pos])
                    .ok()
                    .and_then(|n| n.parse::<f64>().ok())
                    .map(Json::Number)
                    .ok_or_else(|| format!("a value expected at byte {start}"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if !self.eat("\"") {
            return Err(format!("a string expected at byte {}", self.pos));
        }
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err("a string is not closed".into());
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err("a string is not closed".into());
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self
                                .s
                                .get(self.pos..self.pos + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or("a bad \\u escape")?;
                            self.pos += 4;
                            let c = char::from_u32(hex).unwrap_or('\u{fffd}');
                            let mut buf = [0; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err("a bad escape".into()),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "a string is not UTF-8".into())
    }
}

// ------------------------------------------------------------------------------------- text

/// Rows as aligned columns (two spaces apart), the first row being the header.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `hits / (hits + misses)` as a percentage, `-` before the first lookup.
fn hit_ratio(v: &Json) -> String {
    let (hits, misses) = (
        v.get("hits").as_u64().unwrap_or(0),
        v.get("misses").as_u64().unwrap_or(0),
    );
    match hits + misses {
        0 => "-".into(),
        n => format!("{:.1}%", hits as f64 * 100.0 / n as f64),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The status document as text.
pub fn render(admin: &str, status: &Json) -> String {
    let mut out = format!("ferry {} (admin {admin})\n", status.get("version").text());
    let edge = status.get("edge");
    let balancer = status.get("balancer");

    // Listeners: the edge's, then every balancer node socket this process runs.
    let mut listeners = vec![vec!["LISTENER".to_string(), "SERVES".to_string()]];
    if !edge.is_null() {
        let pop = edge.get("pop");
        for l in edge.get("listeners").items() {
            listeners.push(vec![
                format!("{}://{}", l.get("scheme").text(), l.get("address").text()),
                if pop.is_null() {
                    l.get("name").text()
                } else {
                    format!("{} (pop {})", l.get("name").text(), pop.text())
                },
            ]);
        }
    }
    for lb in balancer.get("load_balancers").items() {
        for node in lb.get("nodes").items() {
            if node.get("here") == &Json::Bool(false) {
                continue;
            }
            for l in lb.get("listeners").items() {
                let scheme = if l.get("protocol").text() == "HTTPS" {
                    "https"
                } else {
                    "http"
                };
                let rules = l.get("rules").as_u64().unwrap_or(0);
                listeners.push(vec![
                    format!(
                        "{scheme}://{}:{}",
                        node.get("address").text(),
                        l.get("port").text()
                    ),
                    format!(
                        "load balancer {} (zone {}): {}, default {}",
                        lb.get("name").text(),
                        node.get("zone").text(),
                        plural(rules, "rule", "rules"),
                        l.get("default_action").text()
                    ),
                ]);
            }
        }
    }
    if listeners.len() > 1 {
        out.push('\n');
        out.push_str(&table(&listeners));
    }

    if !edge.is_null() {
        let mut rows = vec![[
            "DISTRIBUTION",
            "ENABLED",
            "DOMAIN NAME",
            "ALIASES",
            "ORIGINS",
            "BEHAVIORS",
            "INVALIDATIONS",
            "HIT RATIO",
        ]
        .map(String::from)
        .to_vec()];
        for d in edge.get("distributions").items() {
            let origins: Vec<String> = d
                .get("origins")
                .items()
                .iter()
                .map(|o| {
                    format!(
                        "{} {}:{}",
                        o.get("id").text(),
                        o.get("domain_name").text(),
                        o.get("port").text()
                    )
                })
                .collect();
            let aliases = d.get("aliases").text();
            rows.push(vec![
                d.get("id").text(),
                if d.get("enabled") == &Json::Bool(false) {
                    "no".into()
                } else {
                    "yes".into()
                },
                d.get("domain_name").text(),
                if aliases.is_empty() {
                    "-".into()
                } else {
                    aliases
                },
                origins.join(", "),
                d.get("behaviors").items().len().to_string(),
                d.get("invalidations").text(),
                hit_ratio(d),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
        let cache = edge.get("cache");
        let objects = cache.get("objects").as_u64().unwrap_or(0);
        let mut line = format!(
            "cache: {}, {}",
            plural(objects, "object", "objects"),
            bytes(cache.get("bytes").as_u64().unwrap_or(0))
        );
        if let Some(capacity) = cache.get("capacity").as_u64().filter(|c| *c > 0) {
            line.push_str(&format!(" of {}", bytes(capacity)));
        }
        if let (Some(hits), Some(misses)) =
            (cache.get("hits").as_u64(), cache.get("misses").as_u64())
        {
            if hits + misses > 0 {
                line.push_str(&format!(
                    ", hit ratio {} ({hits} hits, {misses} misses)",
                    hit_ratio(cache)
                ));
            }
        }
        let invalidations = cache.get("invalidations").as_u64().unwrap_or(0);
        line.push_str(&format!(
            ", {}",
            plural(invalidations, "invalidation", "invalidations")
        ));
        out.push_str(&line);
        out.push('\n');
    }

    if !balancer.is_null() {
        let mut rows = vec![[
            "TARGET GROUP",
            "TARGET",
            "ZONE",
            "STATE",
            "REASON",
            "IN FLIGHT",
        ]
        .map(String::from)
        .to_vec()];
        for g in balancer.get("target_groups").items() {
            let targets = g.get("targets").items();
            if targets.is_empty() {
                rows.push(vec![
                    g.get("name").text(),
                    "(no targets)".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            for t in targets {
                rows.push(vec![
                    g.get("name").text(),
                    format!("{}:{}", t.get("id").text(), t.get("port").text()),
                    t.get("zone").text(),
                    t.get("state").text(),
                    t.get("reason").text(),
                    t.get("in_flight").text(),
                ]);
            }
        }
        out.push('\n');
        out.push_str(&table(&rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json() {
        let v = Json::parse(r#" {"a": [1, 2.5, "x\n\u00e9"], "b": {"c": null, "d": true}} "#)
            .expect("json");
        assert_eq!(v.get("a").items().len(), 3);
        assert_eq!(v.get("a").items()[2].text(), "x\né");
        assert!(v.get("b").get("c").is_null());
        assert_eq!(v.get("b").get("d"), &Json::Bool(true));
        assert!(v.get("nope").is_null());
        for bad in ["{", "[1,]", "{\"a\" 1}", "\"x", "1 2", "tru"] {
            assert!(Json::parse(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(Json::parse(&deep).is_err());
    }

    #[test]
    fn tables_and_sizes() {
        let t = table(&[
            vec!["A".into(), "BB".into()],
            vec!["ccc".into(), "d".into()],
        ]);
        assert_eq!(t, "A    BB\nccc  d\n");
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
    }

    #[test]
    fn renders() {
        let status = Json::parse(
            r#"{"version":"0.1.0",
            "edge":{"pop":"TST1","listeners":[{"name":"edge","address":"127.0.0.1:8080","scheme":"http"}],
              "cache":{"objects":2,"bytes":2048,"capacity":67108864,"invalidations":1},
              "distributions":[{"id":"site","enabled":true,"domain_name":"site.cloudfront.net","aliases":["www.example.test"],
                "origins":[{"id":"o","domain_name":"origin.internal","port":9000,"protocol_policy":"http-only"}],
                "behaviors":[{"path_pattern":"*","target_origin_id":"o","cache_policy":"x"}],"invalidations":1}]},
            "balancer":{"region":"us-east-1","zone":null,
              "load_balancers":[{"name":"alb","dns_name":"alb.internal","arn":"x","nodes":[{"zone":"a","address":"127.0.0.1","here":true}],
                "listeners":[{"port":8081,"protocol":"HTTP","rules":2,"default_action":"forward web"}]}],
              "target_groups":[{"name":"web","arn":"y","protocol":"HTTP","port":9001,"health_checks":true,
                "targets":[{"id":"127.0.0.1","port":9001,"zone":"a","state":"healthy","reason":null,"in_flight":0}]},
                {"name":"empty","arn":"z","protocol":"HTTP","port":80,"health_checks":true,"targets":[]}]}}"#,
        )
        .expect("status json");
        let text = render("127.0.0.1:9900", &status);
        assert!(
            text.contains("http://127.0.0.1:8080  edge (pop TST1)"),
            "{text}"
        );
        assert!(
            text.contains(
                "http://127.0.0.1:8081  load balancer alb (zone a): 2 rules, default forward web"
            ),
            "{text}"
        );
        assert!(text.contains("site          yes"), "{text}");
        assert!(text.contains("o origin.internal:9000"), "{text}");
        assert!(
            text.contains("cache: 2 objects, 2.0 KiB of 64.0 MiB, 1 invalidation"),
            "{text}"
        );
        assert!(
            text.contains("web           127.0.0.1:9001  a     healthy  -"),
            "{text}"
        );
        assert!(text.contains("empty         (no targets)"), "{text}");
    }
}
