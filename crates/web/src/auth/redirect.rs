//! Where a `next=` may send someone after signing in: a path of ours, never
//! another site.

/// `next` when it is a same-origin absolute path: one leading `/`, not
/// `//`, no backslash and no control character, raw or percent-encoded
/// (browsers drop tabs and newlines from URLs, so `/\t/evil.example` is
/// `//evil.example` to them, and a newline cannot go into a header).
/// Anything else is `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_local_path(n: &str) -> bool {
    if !n.starts_with('/') || n.len() > 2048 {
        return false;
    }
    // Decoded once, as a browser would read it; a second encoding layer
    // (`%252F`) stays text and is harmless.
    let decoded: Vec<u8> = percent_encoding::percent_decode(n.as_bytes()).collect();
    let bad = |b: &[u8]| b.iter().any(|c| c.is_ascii_control() || *c == b'\\');
    if bad(n.as_bytes()) || bad(&decoded) {
        return false;
    }
    !(n.starts_with("//") || decoded.starts_with(b"//"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(safe_next(Some("/apps?x=1")), "/apps?x=1");
        assert_eq!(
            safe_next(Some("/reviews/3?after=200#items")),
            "/reviews/3?after=200#items"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/apps\nSet-Cookie: x=1",
            "/apps%0d%0aSet-Cookie:%20x=1",
            "/\u{0}",
            "/%00",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
