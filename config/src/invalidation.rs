//! CloudFront invalidation paths: which are valid, and which cached objects one matches.
//! ("What you need to know when invalidating paths", CloudFront Developer Guide.)

/// A checked invalidation path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidationPath {
    /// Matches the object at exactly this path (and query string, when the object has one: an
    /// object cached with a query string is only reached by a path that names it, or a wildcard).
    Exact(String),
    /// `/images/*`: every object whose path (with its query string) starts with the prefix.
    Prefix(String),
}

impl InvalidationPath {
    /// Parses one path as CloudFront's CreateInvalidation accepts it: starting with `/`, a `*` only
    /// as the last character, at most 4,000 characters; case sensitive.
    pub fn parse(path: &str) -> Result<InvalidationPath, String> {
        if !path.starts_with('/') {
            return Err(format!("`{path}`: an invalidation path starts with `/`"));
        }
        if path.len() > 4000 {
            return Err("an invalidation path is at most 4,000 characters".into());
        }
        match path.find('*') {
            None => Ok(InvalidationPath::Exact(path.to_string())),
            Some(i) if i == path.len() - 1 => Ok(InvalidationPath::Prefix(path[..i].to_string())),
            Some(_) => Err(format!(
                "`{path}`: `*` is allowed only at the end of an invalidation path"
            )),
        }
    }

    /// Whether this path invalidates the object cached for `path_and_query` (`/a.jpg?x=1`).
    pub fn matches(&self, path_and_query: &str) -> bool {
        match self {
            InvalidationPath::Exact(p) => p == path_and_query,
            InvalidationPath::Prefix(p) => path_and_query.starts_with(p.as_str()),
        }
    }

    /// Wildcard paths count separately in CloudFront's in-flight quota.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, InvalidationPath::Prefix(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        for (path, ok) in [
            ("/a", true),
            ("/*", true),
            ("/images/*", true),
            ("a", false),
            ("/a*b", false),
            ("/*/x", false),
            ("", false),
        ] {
            assert_eq!(InvalidationPath::parse(path).is_ok(), ok, "{path}");
        }
    }

    #[test]
    fn matching() {
        let cases = [
            ("/a.jpg", "/a.jpg", true),
            ("/a.jpg", "/A.jpg", false),
            ("/a.jpg", "/a.jpg?x=1", false),
            ("/a.jpg*", "/a.jpg?x=1", true),
            ("/images/*", "/images/x/y.png", true),
            ("/images/*", "/imagesx", false),
            ("/*", "/anything?q", true),
            ("/", "/", true),
            ("/", "/index.html", false),
        ];
        for (path, object, expected) in cases {
            let p = InvalidationPath::parse(path).expect(path);
            assert_eq!(p.matches(object), expected, "{path} vs {object}");
        }
    }
}
