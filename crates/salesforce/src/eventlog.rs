//! EventLogFile listing and streaming download of ApiTotalUsage CSV files.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::Stream;
use futures::stream::{self, BoxStream, StreamExt};

use crate::client::{Call, SalesforceClient};
use crate::error::{Error, Result};
use crate::http;
use crate::records::EventLogFile;

/// One row of an `ApiTotalUsage` log file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiTotalUsageRow {
    pub timestamp: Option<DateTime<Utc>>,
    pub request_id: Option<String>,
    pub organization_id: Option<String>,
    /// 15-character user id as logged.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_ip: Option<String>,
    pub client_name: Option<String>,
    pub connected_app_id: Option<String>,
    pub connected_app_name: Option<String>,
    pub api_family: Option<String>,
    pub api_resource: Option<String>,
    pub api_version: Option<String>,
    pub http_method: Option<String>,
    pub status_code: Option<u16>,
    pub entity_name: Option<String>,
    pub counts_against_api_limit: Option<bool>,
    pub api_client_category: Option<String>,
}

fn parse_log_timestamp(derived: Option<&str>, raw: Option<&str>) -> Option<DateTime<Utc>> {
    if let Some(d) = derived.and_then(crate::records::parse_datetime) {
        return Some(d);
    }
    raw.and_then(|r| NaiveDateTime::parse_from_str(r, "%Y%m%d%H%M%S%.f").ok())
        .map(|n| n.and_utc())
}

fn row_from(header: &HashMap<String, usize>, rec: &csv::StringRecord) -> ApiTotalUsageRow {
    let get = |k: &str| {
        header
            .get(k)
            .and_then(|i| rec.get(*i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    ApiTotalUsageRow {
        timestamp: parse_log_timestamp(
            get("TIMESTAMP_DERIVED").as_deref(),
            get("TIMESTAMP").as_deref(),
        ),
        request_id: get("REQUEST_ID"),
        organization_id: get("ORGANIZATION_ID"),
        user_id: get("USER_ID"),
        user_name: get("USER_NAME"),
        client_ip: get("CLIENT_IP"),
        client_name: get("CLIENT_NAME"),
        connected_app_id: get("CONNECTED_APP_ID"),
        connected_app_name: get("CONNECTED_APP_NAME"),
        api_family: get("API_FAMILY"),
        api_resource: get("API_RESOURCE"),
        api_version: get("API_VERSION"),
        http_method: get("HTTP_METHOD"),
        status_code: get("STATUS_CODE").and_then(|s| s.parse().ok()),
        entity_name: get("ENTITY_NAME"),
        counts_against_api_limit: get("COUNTS_AGAINST_API_LIMIT")
            .map(|s| s.eq_ignore_ascii_case("true")),
        api_client_category: get("API_CLIENT_CATEGORY"),
    }
}

/// Incremental CSV parser: feeds on byte chunks, yields complete records.
#[derive(Default)]
pub(crate) struct CsvChunker {
    buf: Vec<u8>,
    header: Option<HashMap<String, usize>>,
}

impl CsvChunker {
    /// Position just after the last record-ending newline outside quotes.
    fn complete_prefix(&self) -> usize {
        let mut in_quotes = false;
        let mut end = 0;
        for (i, b) in self.buf.iter().enumerate() {
            match b {
                b'"' => in_quotes = !in_quotes,
                b'\n' if !in_quotes => end = i + 1,
                _ => {}
            }
        }
        end
    }

    fn unbalanced(&self) -> bool {
        self.buf.iter().filter(|b| **b == b'"').count() % 2 == 1
    }

    fn parse(&mut self, bytes: &[u8], out: &mut VecDeque<ApiTotalUsageRow>) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        for rec in reader.records() {
            let rec = rec.map_err(|e| Error::Protocol(format!("bad event log CSV: {e}")))?;
            match &self.header {
                None => {
                    self.header = Some(
                        rec.iter()
                            .enumerate()
                            .map(|(i, h)| (h.trim().to_ascii_uppercase(), i))
                            .collect(),
                    );
                }
                Some(h) => out.push_back(row_from(h, &rec)),
            }
        }
        Ok(())
    }

    pub fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<ApiTotalUsageRow>) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        let end = self.complete_prefix();
        if end > 0 {
            let complete: Vec<u8> = self.buf.drain(..end).collect();
            self.parse(&complete, out)?;
        }
        Ok(())
    }

    pub fn finish(&mut self, out: &mut VecDeque<ApiTotalUsageRow>, host: &str) -> Result<()> {
        if self.unbalanced() {
            return Err(Error::Truncated {
                host: host.to_owned(),
            });
        }
        let rest = std::mem::take(&mut self.buf);
        if !rest.iter().all(|b| b.is_ascii_whitespace()) {
            self.parse(&rest, out)?;
        }
        Ok(())
    }
}

/// Parse rows from a stream of byte chunks with bounded memory.
pub(crate) fn csv_rows<S, B>(
    chunks: S,
    host: String,
) -> BoxStream<'static, Result<ApiTotalUsageRow>>
where
    S: Stream<Item = std::result::Result<B, reqwest::Error>> + Send + Unpin + 'static,
    B: AsRef<[u8]> + Send,
{
    struct St<S> {
        chunks: S,
        chunker: CsvChunker,
        ready: VecDeque<ApiTotalUsageRow>,
        ended: bool,
        host: String,
    }
    let st = St {
        chunks,
        chunker: CsvChunker::default(),
        ready: VecDeque::new(),
        ended: false,
        host,
    };
    stream::try_unfold(st, |mut st| async move {
        loop {
            if let Some(row) = st.ready.pop_front() {
                return Ok(Some((row, st)));
            }
            if st.ended {
                return Ok(None);
            }
            match st.chunks.next().await {
                Some(Ok(b)) => st.chunker.feed(b.as_ref(), &mut st.ready)?,
                Some(Err(e)) => return Err(http::body_error(&e, &st.host)),
                None => {
                    st.ended = true;
                    st.chunker.finish(&mut st.ready, &st.host)?;
                }
            }
        }
    })
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

    /// Stream the rows of an ApiTotalUsage log file (gzip on the wire, parsed as it arrives).
    pub async fn api_total_usage_rows(
        &self,
        file: &EventLogFile,
    ) -> Result<BoxStream<'static, Result<ApiTotalUsageRow>>> {
        let url = self.same_instance_url(&file.log_file)?;
        let resp = self.execute(&Call::get(url)).await?;
        let host = http::host_of(resp.url());
        Ok(csv_rows(resp.bytes_stream(), host))
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
    async fn parses_csv_split_anywhere() {
        for split in [1usize, 3, 7, 50, 1000] {
            let chunks: Vec<std::result::Result<Vec<u8>, reqwest::Error>> = CSV
                .as_bytes()
                .chunks(split)
                .map(|c| Ok(c.to_vec()))
                .collect();
            let rows: Vec<ApiTotalUsageRow> = csv_rows(stream::iter(chunks), "h".into())
                .try_collect()
                .await
                .unwrap();
            assert_eq!(rows.len(), 2, "split {split}");
            assert_eq!(
                rows[0].connected_app_name.as_deref(),
                Some("Acme \"Sync\"\nLine")
            );
            assert_eq!(rows[0].status_code, Some(200));
            assert_eq!(rows[0].counts_against_api_limit, Some(true));
            assert_eq!(
                rows[1].timestamp.unwrap().to_rfc3339(),
                "2026-09-15T12:34:57+00:00"
            );
            assert_eq!(rows[1].connected_app_id, None);
        }
    }

    #[tokio::test]
    async fn unbalanced_quotes_are_truncation() {
        let cut = "\"EVENT_TYPE\",\"USER_ID\"\n\"ApiTotalUsage\",\"005unterminated";
        let chunks: Vec<std::result::Result<Vec<u8>, reqwest::Error>> =
            vec![Ok(cut.as_bytes().to_vec())];
        let r: Result<Vec<ApiTotalUsageRow>> = csv_rows(stream::iter(chunks), "h".into())
            .try_collect()
            .await;
        assert!(matches!(r, Err(Error::Truncated { .. })), "{r:?}");
    }
}
