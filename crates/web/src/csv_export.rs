//! CSV exports. Cells are quoted by the `csv` crate, and a cell that a
//! spreadsheet would read as a formula (=, +, -, @, tab, CR) is prefixed with
//! a single quote: app and user names come from Salesforce and anyone may
//! choose them.

use std::borrow::Cow;

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use futures::Stream;

use crate::AppError;

/// The last row of an export that failed part way.
pub const INCOMPLETE: &str =
    "\"# INCOMPLETE EXPORT: the server failed part way; rows are missing. Download it again.\"\n";

/// Rows fetched per query while streaming a large export.
pub const BATCH: i64 = 5_000;

pub fn defuse(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Encodes rows (the first one being the header) as CSV bytes.
pub fn encode<I, R, S>(rows: I) -> Result<Vec<u8>, AppError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.write_record(row.into_iter().map(|c| defuse(c.as_ref()).into_owned()))
            .map_err(|e| AppError::Internal(format!("csv: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("csv: {e}")))
}

fn disposition(filename: &str) -> HeaderValue {
    // The name is ours (ASCII letters, digits, dashes), never third-party text.
    let safe: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"export.csv\""))
}

fn headers() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// A CSV file download.
pub fn attachment(filename: &str, bytes: Vec<u8>) -> Response {
    (
        headers(),
        [(header::CONTENT_DISPOSITION, disposition(filename))],
        bytes,
    )
        .into_response()
}

/// A CSV download produced batch by batch, for exports that may be large.
pub fn streamed<S>(filename: &str, chunks: S) -> Response
where
    S: Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static,
{
    use futures::StreamExt;
    let body = Body::from_stream(chunks.flat_map(|chunk| {
        futures::stream::iter(match chunk {
            Ok(bytes) => vec![Ok(bytes)],
            Err(e) => {
                // The download is cut short; the error is logged here, once.
                // A last row says so, for whoever opens a file a client kept
                // despite the broken transfer; then the stream fails, so the
                // connection ends without its final chunk and the client
                // sees the download fail.
                tracing::error!(error = %e, "csv export failed mid-way");
                vec![
                    Ok(INCOMPLETE.as_bytes().to_vec()),
                    Err(std::io::Error::other("export failed")),
                ]
            }
        })
    }));
    (
        headers(),
        [(header::CONTENT_DISPOSITION, disposition(filename))],
        body,
    )
        .into_response()
}

/// A large export: the header, then batches of rows fetched one keyset page
/// at a time (`fetch(cursor)` returns rows and the cursor of the next batch,
/// `None` at the end), so no query reads more than [`BATCH`] rows and memory
/// stays flat however long the file.
pub fn paged<C, F, Fut>(filename: &str, header: Vec<String>, fetch: F) -> Response
where
    C: Send + 'static,
    F: Fn(Option<C>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(Vec<Vec<String>>, Option<C>), AppError>> + Send,
{
    use futures::StreamExt;
    // `None` in the state: the export is finished.
    let batches = futures::stream::unfold(Some((None, fetch)), |state| async move {
        let (cursor, fetch) = state?;
        match fetch(cursor).await {
            Err(e) => Some((Err(e), None)),
            Ok((rows, next)) => {
                let bytes = encode(rows);
                Some((bytes, next.map(|c| (Some(c), fetch))))
            }
        }
    });
    let head = encode([header]);
    streamed(
        filename,
        futures::stream::once(async move { head }).chain(batches),
    )
}

/// Today's date for export file names.
pub fn dated(stem: &str) -> String {
    format!("{stem}-{}.csv", chrono::Utc::now().format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_export_that_fails_part_way_says_so_and_fails_the_transfer() {
        use futures::StreamExt;
        let res = paged(
            "x.csv",
            vec!["n".into()],
            |cursor: Option<u32>| async move {
                match cursor {
                    None => Ok((vec![vec!["1".to_owned()]], Some(1))),
                    Some(_) => Err(AppError::Unavailable("the database went away".into())),
                }
            },
        );
        let mut body = res.into_body().into_data_stream();
        let mut got = Vec::new();
        let mut failed = false;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(b) => got.extend_from_slice(&b),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let text = String::from_utf8(got).unwrap();
        assert!(text.starts_with("n\n1\n"), "{text}");
        assert!(text.ends_with(INCOMPLETE), "{text}");
        assert!(failed, "the transfer fails too");
    }

    #[test]
    fn formulas_are_defused_and_cells_quoted() {
        let bytes = encode([
            vec!["name", "n"],
            vec!["=HYPERLINK(\"http://x\")", "1"],
            vec!["+1", "-2"],
            vec!["@SUM(A1)", "\tx"],
            vec!["a,b", "say \"hi\"\nthere"],
            vec!["plain", "3-4"],
        ])
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(rows[0], ["'=HYPERLINK(\"http://x\")", "1"]);
        assert_eq!(rows[1], ["'+1", "'-2"]);
        assert_eq!(rows[2], ["'@SUM(A1)", "'\tx"]);
        assert_eq!(rows[3], ["a,b", "say \"hi\"\nthere"]);
        assert_eq!(rows[4], ["plain", "3-4"]);
    }

    #[test]
    fn filenames_are_sanitised() {
        assert_eq!(
            disposition("apps\"; x=1\r\n.csv"),
            "attachment; filename=\"appsx1.csv\""
        );
    }
}
