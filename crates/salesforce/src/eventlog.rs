//! EventLogFile listing, and the streaming download of a log file's CSV
//! records (its lines as bytes, for the reader to judge each one).

use std::collections::VecDeque;

use futures::Stream;
use futures::stream::{self, BoxStream, StreamExt};

use crate::client::{Call, SalesforceClient};
use crate::error::{Error, Result};
use crate::http;
use crate::records::EventLogFile;

/// The longest line a log file may have: a line still open after this many
/// bytes ends the download (the file is tried again another time), so a
/// hostile or broken file cannot make the reader hold it whole.
pub const MAX_LOG_LINE: usize = 1 << 20;

/// Splits a stream of byte chunks into CSV records without holding more
/// than the current line; fields stay bytes (a line with bad UTF-8 is for
/// the reader to judge, not a reason to drop the file).
///
/// Lines are cut where a newline falls outside quotes, then parsed by one
/// `csv_core` reader kept for the whole file (building a reader per chunk
/// cost a tenth of the archive's time).
pub(crate) struct RecordChunker {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned, and whether that scan ended inside
    /// quotes: each byte is looked at once however the chunks fall.
    scanned: usize,
    in_quotes: bool,
    last_end: usize,
    started: bool,
    reader: csv_core::Reader,
    fields: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for RecordChunker {
    fn default() -> Self {
        RecordChunker {
            buf: Vec::new(),
            scanned: 0,
            in_quotes: false,
            last_end: 0,
            started: false,
            // Built, not derived: `csv_core::Reader::default()` has no
            // parsing tables and reads every line as one empty field.
            reader: csv_core::Reader::new(),
            fields: Vec::new(),
            ends: Vec::new(),
        }
    }
}

impl RecordChunker {
    /// Parses complete lines (`bytes` ends where a line does).
    fn parse(&mut self, bytes: &[u8], out: &mut VecDeque<csv::ByteRecord>) -> Result<()> {
        use csv_core::ReadRecordResult as R;
        if self.fields.is_empty() {
            self.fields = vec![0; 4096];
            self.ends = vec![0; 64];
        }
        let (mut input, mut nout, mut nend) = (bytes, 0, 0);
        loop {
            if input.is_empty() {
                // The slice ends where a line does: what is left is the
                // record's end, which an empty input (the end of the data)
                // tells the reader, once.
                if nout > 0 || nend > 0 {
                    // Room for the last field's end.
                    self.ends.resize(self.ends.len().max(nend + 1), 0);
                    let (res, _, o, e) = self.reader.read_record(
                        &[],
                        &mut self.fields[nout..],
                        &mut self.ends[nend..],
                    );
                    if matches!(res, R::Record) {
                        self.push(nout + o, nend + e, out);
                    }
                }
                self.reader.reset();
                return Ok(());
            }
            let (res, nin, o, e) =
                self.reader
                    .read_record(input, &mut self.fields[nout..], &mut self.ends[nend..]);
            input = &input[nin..];
            nout += o;
            nend += e;
            match res {
                R::InputEmpty => {}
                R::OutputFull => {
                    if self.fields.len() > MAX_LOG_LINE {
                        return Err(Error::Protocol(format!(
                            "a line of the event log is longer than {MAX_LOG_LINE} bytes"
                        )));
                    }
                    let n = self.fields.len() * 2;
                    self.fields.resize(n, 0);
                }
                R::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                R::Record => {
                    self.push(nout, nend, out);
                    (nout, nend) = (0, 0);
                }
                R::End => {
                    self.reader.reset();
                    return Ok(());
                }
            }
        }
    }

    fn push(&self, nout: usize, nend: usize, out: &mut VecDeque<csv::ByteRecord>) {
        let mut rec = csv::ByteRecord::with_capacity(nout, nend);
        let mut start = 0;
        for &end in &self.ends[..nend] {
            rec.push_field(&self.fields[start..end]);
            start = end;
        }
        out.push_back(rec);
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<csv::ByteRecord>) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        // A byte order mark before the header is not part of its first name.
        if !self.started {
            self.started = true;
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
        }
        for (i, b) in self.buf.iter().enumerate().skip(self.scanned) {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => self.last_end = i + 1,
                _ => {}
            }
        }
        self.scanned = self.buf.len();
        if self.last_end > 0 {
            let buf = std::mem::take(&mut self.buf);
            let parsed = self.parse(&buf[..self.last_end], out);
            self.buf = buf;
            parsed?;
            self.buf.drain(..self.last_end);
            self.scanned -= self.last_end;
            self.last_end = 0;
        }
        if self.buf.len() > MAX_LOG_LINE {
            return Err(Error::Protocol(format!(
                "a line of the event log is longer than {MAX_LOG_LINE} bytes"
            )));
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut VecDeque<csv::ByteRecord>, host: &str) -> Result<()> {
        if self.in_quotes {
            return Err(Error::Truncated {
                host: host.to_owned(),
            });
        }
        if !self.buf.iter().all(|b| b.is_ascii_whitespace()) {
            let buf = std::mem::take(&mut self.buf);
            self.parse(&buf, out)?;
        }
        self.buf.clear();
        Ok(())
    }
}

/// The records of a log file (its header first) from a stream of chunks.
pub(crate) fn csv_records<S, B>(
    chunks: S,
    host: String,
) -> BoxStream<'static, Result<csv::ByteRecord>>
where
    S: Stream<Item = std::result::Result<B, reqwest::Error>> + Send + Unpin + 'static,
    B: AsRef<[u8]> + Send,
{
    let st = (chunks, RecordChunker::default(), VecDeque::new(), false);
    stream::try_unfold(
        st,
        move |(mut chunks, mut chunker, mut ready, mut ended)| {
            let host = host.clone();
            async move {
                loop {
                    if let Some(rec) = ready.pop_front() {
                        return Ok(Some((rec, (chunks, chunker, ready, ended))));
                    }
                    if ended {
                        return Ok(None);
                    }
                    match chunks.next().await {
                        Some(Ok(b)) => chunker.feed(b.as_ref(), &mut ready)?,
                        Some(Err(e)) => return Err(http::body_error(&e, &host)),
                        None => {
                            ended = true;
                            chunker.finish(&mut ready, &host)?;
                        }
                    }
                }
            }
        },
    )
    .boxed()
}

impl SalesforceClient {
    /// EventLogFile rows of one type for the last `days` days, oldest first.
    pub async fn event_log_files(&self, event_type: &str, days: u32) -> Result<Vec<EventLogFile>> {
        if event_type.is_empty() || !event_type.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::Config(format!("bad event type {event_type:?}")));
        }
        let soql = format!(
            "SELECT {} FROM EventLogFile WHERE EventType = '{event_type}' AND LogDate = LAST_N_DAYS:{days} ORDER BY LogDate",
            EventLogFile::FIELDS
        );
        self.query_vec(&soql).await
    }

    /// Stream the records of any log file, its header first, as bytes:
    /// for readers that judge each line themselves (the archive).
    pub async fn event_log_records(
        &self,
        file: &EventLogFile,
    ) -> Result<BoxStream<'static, Result<csv::ByteRecord>>> {
        let url = self.same_instance_url(&file.log_file)?;
        let resp = self.execute(&Call::get(url)).await?;
        let host = http::host_of(resp.url());
        Ok(csv_records(resp.bytes_stream(), host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    const CSV: &str = "\"EVENT_TYPE\",\"TIMESTAMP\",\"TIMESTAMP_DERIVED\",\"USER_ID\",\"API_FAMILY\",\"STATUS_CODE\",\"CONNECTED_APP_ID\",\"CONNECTED_APP_NAME\",\"COUNTS_AGAINST_API_LIMIT\"\n\
\"ApiTotalUsage\",\"20260915123456.789\",\"2026-09-15T12:34:56.789Z\",\"0055g00000AbCdE\",\"REST\",\"200\",\"0H45g000000AbcdCAC\",\"Acme \"\"Sync\"\"\nLine\",\"true\"\n\
\"ApiTotalUsage\",\"20260915123457.000\",\"\",\"0055g00000AbCdF\",\"SOAP\",\"401\",\"\",\"\",\"false\"\n";

    #[tokio::test]
    async fn records_split_anywhere_read_the_same() {
        for split in [1usize, 2, 5, 64, 4096] {
            let chunks: Vec<std::result::Result<Vec<u8>, reqwest::Error>> = CSV
                .as_bytes()
                .chunks(split)
                .map(|c| Ok(c.to_vec()))
                .collect();
            let recs: Vec<csv::ByteRecord> = csv_records(stream::iter(chunks), "h".into())
                .try_collect()
                .await
                .unwrap();
            assert_eq!(recs.len(), 3, "split {split}");
            assert_eq!(&recs[1][7], b"Acme \"Sync\"\nLine");
        }
        let cut = "\"A\",\"B\"\n\"x\",\"open";
        let r: Result<Vec<csv::ByteRecord>> = csv_records(
            stream::iter(vec![Ok::<_, reqwest::Error>(cut.as_bytes().to_vec())]),
            "h".into(),
        )
        .try_collect()
        .await;
        assert!(matches!(r, Err(Error::Truncated { .. })), "{r:?}");
        let long = vec![Ok::<_, reqwest::Error>(vec![b'a'; MAX_LOG_LINE + 10])];
        let r: Result<Vec<csv::ByteRecord>> = csv_records(stream::iter(long), "h".into())
            .try_collect()
            .await;
        assert!(matches!(r, Err(Error::Protocol(_))), "{r:?}");
    }
}
