//! Text from people and programs, checked once at the edge: a NUL or any
//! other control character (tab, newline and carriage return aside, which
//! text areas and CSV files carry) in a query string, a form or a JSON body
//! is refused with 400 before a handler runs. PostgreSQL cannot store a NUL
//! in text, and nothing we keep needs the others.

use axum::{
    body::Body,
    extract::Request,
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::AppError;

/// Bodies are read whole here; the router's body limit bounds them first.
const READ_LIMIT: usize = crate::router::IMPORT_LIMIT;

fn refused(what: &str) -> Response {
    AppError::BadRequest(format!(
        "The {what} contains a control character (such as NUL); remove it and try again."
    ))
    .into_response()
}

/// A character no text field takes.
pub fn forbidden_char(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn text_ok(s: &str) -> bool {
    !s.chars().any(forbidden_char)
}

/// Every name and value of a urlencoded string, decoded.
fn form_ok(bytes: &[u8]) -> bool {
    url::form_urlencoded::parse(bytes).all(|(k, v)| text_ok(&k) && text_ok(&v))
}

fn json_ok(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => text_ok(s),
        serde_json::Value::Array(items) => items.iter().all(json_ok),
        serde_json::Value::Object(map) => map.iter().all(|(k, v)| text_ok(k) && json_ok(v)),
        _ => true,
    }
}

/// The layer: see the module docs. A body that is not valid JSON or UTF-8
/// is left to the handler's own reader, which says what is wrong.
pub async fn clean_text(req: Request, next: Next) -> Response {
    if let Some(q) = req.uri().query()
        && !form_ok(q.as_bytes())
    {
        return refused("address");
    }
    let kind = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let form = kind == "application/x-www-form-urlencoded";
    let json = kind == "application/json" || kind.ends_with("+json");
    let multipart = kind.starts_with("multipart/");
    if !(form || json || multipart) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, READ_LIMIT).await else {
        return AppError::TooLarge.into_response();
    };
    let ok = if form {
        form_ok(&bytes)
    } else if json {
        serde_json::from_slice::<serde_json::Value>(&bytes).map_or(true, |v| json_ok(&v))
    } else {
        // An uploaded CSV file: its cells may hold newlines, never a NUL.
        !bytes.contains(&0)
    };
    if !ok {
        return refused(if json { "JSON body" } else { "form" });
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_but_not_line_breaks() {
        assert!(form_ok(b"note=line+one%0D%0Aline+two%09tab"));
        assert!(!form_ok(b"email=a%00b%40example.com"));
        assert!(!form_ok(b"q=%1B%5B31m"));
        assert!(!form_ok(b"a%00=1"));
        assert!(form_ok("q=caf%C3%A9".as_bytes()));
        assert!(!form_ok(b"q=%C2%85")); // NEL, a C1 control
        let j: serde_json::Value = serde_json::from_str(r#"{"reason":"a\u0000b"}"#).unwrap();
        assert!(!json_ok(&j));
        let j: serde_json::Value =
            serde_json::from_str(r#"{"tokens":["0CQ1"],"reason":"two\nlines"}"#).unwrap();
        assert!(json_ok(&j));
        let j: serde_json::Value = serde_json::from_str(r#"{"a\u0001":1}"#).unwrap();
        assert!(!json_ok(&j));
    }
}
