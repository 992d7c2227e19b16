//! Encoding rows for `COPY … FROM STDIN`, in PostgreSQL's text format
//! ([`CopyRow`]) and, for the millions of tokens a first load copies, its
//! binary format ([`BinaryRows`]): PostgreSQL parses a timestamp in text
//! (three per token) at a cost that made up half of a million-row COPY's
//! time on the bench machine (2.1 s in text, 0.9 s in binary).
//!
//! Hand-written because each is a few dozen lines over a format PostgreSQL
//! documents and keeps stable ("COPY", File Formats), and sqlx has no encoder
//! for either (its own encoders write bind parameters into its argument
//! buffer, not a COPY stream; `postgres-types` would bring a second client
//! library's type stack for three encodings). Every value here may come from
//! Salesforce (attacker-controlled): the text format's escaping is what keeps
//! a name with a tab, a newline or a backslash from shifting columns, the
//! binary format's lengths do the same, and in both NUL (which Postgres text
//! cannot hold) is replaced rather than passed through.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

/// The longest text stored from Salesforce, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// A row under construction, appended to a shared buffer.
pub struct CopyRow<'a> {
    buf: &'a mut String,
    first: bool,
}

impl<'a> CopyRow<'a> {
    pub fn new(buf: &'a mut String) -> Self {
        CopyRow { buf, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push('\t');
        }
        self.first = false;
    }

    /// Text, cut at [`MAX_TEXT_CHARS`] characters: nothing Salesforce sends
    /// is longer, and whatever claims to be is not stored whole.
    pub fn text(mut self, value: &str) -> Self {
        self.sep();
        for c in value.chars().take(MAX_TEXT_CHARS) {
            match c {
                '\\' => self.buf.push_str("\\\\"),
                '\t' => self.buf.push_str("\\t"),
                '\n' => self.buf.push_str("\\n"),
                '\r' => self.buf.push_str("\\r"),
                '\0' => self.buf.push('\u{FFFD}'),
                c => self.buf.push(c),
            }
        }
        self
    }

    pub fn opt_text(self, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub fn null(mut self) -> Self {
        self.sep();
        self.buf.push_str("\\N");
        self
    }

    pub fn bool(mut self, value: bool) -> Self {
        self.sep();
        self.buf.push(if value { 't' } else { 'f' });
        self
    }

    pub fn opt_bool(self, value: Option<bool>) -> Self {
        match value {
            Some(v) => self.bool(v),
            None => self.null(),
        }
    }

    pub fn int(mut self, value: i64) -> Self {
        self.sep();
        let _ = write!(self.buf, "{value}");
        self
    }

    pub fn time(mut self, value: DateTime<Utc>) -> Self {
        self.sep();
        let _ = write!(self.buf, "{}", value.format("%Y-%m-%d %H:%M:%S%.6f+00"));
        self
    }

    pub fn opt_time(self, value: Option<DateTime<Utc>>) -> Self {
        match value {
            Some(v) => self.time(v),
            None => self.null(),
        }
    }

    pub fn date(mut self, value: NaiveDate) -> Self {
        self.sep();
        let _ = write!(self.buf, "{}", value.format("%Y-%m-%d"));
        self
    }

    pub fn end(self) {
        self.buf.push('\n');
    }
}

/// Rows for `COPY … FROM STDIN (FORMAT binary)`: a header, then per row its
/// field count and each field as a length and its bytes (-1: NULL), then a
/// trailer. [`BinaryRows::finish`] gives the bytes of one COPY.
pub struct BinaryRows {
    buf: Vec<u8>,
    rows: usize,
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl Default for BinaryRows {
    fn default() -> Self {
        Self::new()
    }
}

impl BinaryRows {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        BinaryRows { buf, rows: 0 }
    }

    /// Starts a row of `fields` fields; each must follow.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self.rows += 1;
        self
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // Fields are at most MAX_TEXT_CHARS characters of 4 bytes, or 16 bytes.
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    /// Text, cut at [`MAX_TEXT_CHARS`] characters and NUL replaced, as
    /// [`CopyRow::text`] does.
    pub fn text(&mut self, value: &str) -> &mut Self {
        let cut = value
            .char_indices()
            .nth(MAX_TEXT_CHARS)
            .map_or(value, |(i, _)| &value[..i]);
        if cut.contains('\0') {
            return self.field(cut.replace('\0', "\u{FFFD}").as_bytes());
        }
        self.field(cut.as_bytes())
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// A timestamptz: whole microseconds, as PostgreSQL keeps it (and as
    /// [`CopyRow::time`] writes it).
    pub fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.field(&(value.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes())
    }

    pub fn opt_time(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        match value {
            Some(v) => self.time(v),
            None => self.null(),
        }
    }

    pub fn uuid(&mut self, value: uuid::Uuid) -> &mut Self {
        self.field(value.as_bytes())
    }

    /// The whole COPY stream: header, rows, trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// Rows of `COPY … TO STDOUT (FORMAT binary)`, read from the chunks the
/// server sends (a row may span two): each row's fields as byte slices,
/// `None` for NULL, without an allocation per row or per value.
#[derive(Default)]
pub struct BinaryReader {
    buf: Vec<u8>,
    header_read: bool,
    done: bool,
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

fn malformed(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("binary COPY: {what}"))
}

impl BinaryReader {
    /// Takes a chunk and hands every row it completes to `row`.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut row: impl FnMut(&[Option<&[u8]>]) -> sqlx::Result<()>,
    ) -> sqlx::Result<()> {
        self.buf.extend_from_slice(chunk);
        let mut pos = 0;
        if !self.header_read {
            // Signature, flags, header extension length, extension.
            if self.buf.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            if &self.buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(malformed("bad signature"));
            }
            let ext = i32::from_be_bytes(self.buf[15..19].try_into().expect("4 bytes"));
            let end = 19 + usize::try_from(ext).map_err(|_| malformed("bad header"))?;
            if self.buf.len() < end {
                return Ok(());
            }
            self.header_read = true;
            pos = end;
        }
        let mut fields: Vec<Option<&[u8]>> = Vec::new();
        loop {
            let buf = &self.buf[pos..];
            if self.done || buf.len() < 2 {
                break;
            }
            let count = i16::from_be_bytes([buf[0], buf[1]]);
            if count == -1 {
                self.done = true;
                pos += 2;
                break;
            }
            let count = usize::try_from(count).map_err(|_| malformed("bad field count"))?;
            fields.clear();
            let mut at = 2;
            let mut complete = true;
            for _ in 0..count {
                let Some(len) = buf.get(at..at + 4) else {
                    complete = false;
                    break;
                };
                let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
                at += 4;
                if len < 0 {
                    fields.push(None);
                    continue;
                }
                let len = len as usize;
                let Some(value) = buf.get(at..at + len) else {
                    complete = false;
                    break;
                };
                fields.push(Some(value));
                at += len;
            }
            if !complete {
                break;
            }
            row(&fields)?;
            pos += at;
        }
        self.buf.drain(..pos);
        Ok(())
    }

    /// Whether the trailer came, with nothing after it: the stream is whole.
    pub fn finished(&self) -> bool {
        self.done && self.buf.is_empty()
    }
}

/// A text field of a binary COPY row.
pub fn text_field(value: Option<&[u8]>) -> sqlx::Result<&str> {
    let bytes = value.ok_or_else(|| malformed("NULL where text was expected"))?;
    std::str::from_utf8(bytes).map_err(|_| malformed("text that is not UTF-8"))
}

/// A bigint field of a binary COPY row.
pub fn int_field(value: Option<&[u8]>) -> sqlx::Result<Option<i64>> {
    value
        .map(|b| {
            b.try_into()
                .map(i64::from_be_bytes)
                .map_err(|_| malformed("a bigint that is not 8 bytes"))
        })
        .transpose()
}

/// A timestamptz field of a binary COPY row, as microseconds since the Unix
/// epoch (what `DateTime::timestamp_micros` gives).
pub fn micros_field(value: Option<&[u8]>) -> sqlx::Result<Option<i64>> {
    Ok(int_field(value)?.map(|m| m.saturating_add(PG_EPOCH_MICROS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        let mut buf = String::new();
        CopyRow::new(&mut buf)
            .text("a\tb\nc\\d\re\0f")
            .null()
            .bool(true)
            .int(-3)
            .end();
        assert_eq!(buf, "a\\tb\\nc\\\\d\\re\u{FFFD}f\t\\N\tt\t-3\n");
    }

    #[sqlx::test(migrations = false)]
    async fn round_trips_through_postgres(pool: sqlx::PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql("CREATE TEMP TABLE t (a text, b text, c timestamptz)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let hostile = "<script>alert(\"x\")</script>\t\\N\n\u{202E}evil\\";
        let when = DateTime::parse_from_rfc3339("2026-04-06T16:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut buf = String::new();
        CopyRow::new(&mut buf).text(hostile).null().time(when).end();
        let mut copy = conn.copy_in_raw("COPY t FROM STDIN").await.unwrap();
        copy.send(buf.as_bytes()).await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 1);
        let (a, b, c): (String, Option<String>, DateTime<Utc>) =
            sqlx::query_as("SELECT a, b, c FROM t")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(a, hostile);
        assert_eq!(b, None);
        assert_eq!(c, when);
    }

    #[sqlx::test(migrations = false)]
    async fn binary_rows_round_trip_through_postgres(pool: sqlx::PgPool) {
        use chrono::Timelike;
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql(
            "CREATE TEMP TABLE t (a text, b text, c timestamptz, d timestamptz, e bigint, f uuid)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        let hostile = "<script>alert(\"x\")</script>\t\\N\n\u{202E}evil\\\0end";
        let long = "é".repeat(MAX_TEXT_CHARS + 5);
        let when = DateTime::parse_from_rfc3339("2026-04-06T16:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let before_1970 = DateTime::parse_from_rfc3339("1969-12-31T23:59:59.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = uuid::Uuid::new_v4();
        let mut rows = BinaryRows::new();
        rows.row(6)
            .text(hostile)
            .null()
            .time(when)
            .time(before_1970)
            .int(-3)
            .uuid(id);
        rows.row(6)
            .text(&long)
            .text("")
            .opt_time(None)
            .opt_time(Some(when))
            .opt_int(None)
            .uuid(id);
        assert_eq!(rows.rows(), 2);
        let mut copy = conn
            .copy_in_raw("COPY t FROM STDIN (FORMAT binary)")
            .await
            .unwrap();
        copy.send(rows.finish()).await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 2);
        type Row = (
            String,
            Option<String>,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
            Option<i64>,
            uuid::Uuid,
        );
        let got: Vec<Row> = sqlx::query_as("SELECT a, b, c, d, e, f FROM t ORDER BY e NULLS LAST")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        // The same text as the text format would store: NUL replaced.
        assert_eq!(got[0].0, hostile.replace('\0', "\u{FFFD}"));
        // Microseconds kept, the rest cut, as Postgres does with text.
        assert_eq!(got[0].2, Some(when.with_nanosecond(123_456_000).unwrap()));
        assert_eq!(got[0].3, before_1970);
        assert_eq!(
            (got[0].1.as_deref(), got[0].4, got[0].5),
            (None, Some(-3), id)
        );
        assert_eq!(got[1].0.chars().count(), MAX_TEXT_CHARS);
        assert_eq!(
            (got[1].1.as_deref(), got[1].2, got[1].3, got[1].4),
            (
                Some(""),
                None,
                when.with_nanosecond(123_456_000).unwrap(),
                None
            )
        );
    }

    /// What `BinaryRows` writes, read back from PostgreSQL's own binary
    /// COPY out, fed one byte at a time and whole: the same values.
    #[sqlx::test(migrations = false)]
    async fn binary_reader_reads_what_postgres_writes(pool: sqlx::PgPool) {
        use futures::TryStreamExt;
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql("CREATE TEMP TABLE t (a text, b timestamptz, c bigint)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let when = DateTime::parse_from_rfc3339("2026-04-06T16:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let old = DateTime::parse_from_rfc3339("1969-12-31T23:59:59.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut rows = BinaryRows::new();
        rows.row(3).text("é\t\\N<b>").time(when).int(-7);
        rows.row(3).text("").opt_time(None).opt_int(None);
        rows.row(3)
            .text(&"x".repeat(70_000))
            .time(old)
            .int(i64::MAX);
        let mut copy = conn
            .copy_in_raw("COPY t FROM STDIN (FORMAT binary)")
            .await
            .unwrap();
        copy.send(rows.finish()).await.unwrap();
        copy.finish().await.unwrap();

        let mut out = Vec::new();
        let mut stream = conn
            .copy_out_raw(
                "COPY (SELECT a, b, c FROM t ORDER BY c NULLS FIRST) TO STDOUT (FORMAT binary)",
            )
            .await
            .unwrap();
        while let Some(chunk) = stream.try_next().await.unwrap() {
            out.extend_from_slice(&chunk);
        }
        drop(stream);
        let expected = vec![
            (String::new(), None, None),
            (
                "é\t\\N<b>".to_string(),
                Some(when.timestamp_micros()),
                Some(-7),
            ),
            (
                "x".repeat(MAX_TEXT_CHARS),
                Some(old.timestamp_micros()),
                Some(i64::MAX),
            ),
        ];
        for step in [1, 7, out.len()] {
            let mut reader = BinaryReader::default();
            let mut got = Vec::new();
            for chunk in out.chunks(step) {
                reader
                    .feed(chunk, |f| {
                        got.push((
                            text_field(f[0])?.to_string(),
                            micros_field(f[1])?,
                            int_field(f[2])?,
                        ));
                        Ok(())
                    })
                    .unwrap();
            }
            assert!(reader.finished(), "chunks of {step}");
            assert_eq!(got, expected, "chunks of {step}");
        }
        // A stream cut short is not whole.
        let mut reader = BinaryReader::default();
        reader.feed(&out[..out.len() - 1], |_| Ok(())).unwrap();
        assert!(!reader.finished());
    }
}
