//! Encoding rows for `COPY … FROM STDIN` in PostgreSQL's text format.
//!
//! Hand-written because it is a dozen lines and sqlx has no encoder for it.
//! Every value here may come from Salesforce (attacker-controlled): the
//! escaping below is what keeps a name with a tab, a newline or a backslash
//! from shifting columns, and NUL (which Postgres text cannot hold) is
//! replaced rather than passed through.

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

    pub fn opt_int(self, value: Option<i64>) -> Self {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
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
}
