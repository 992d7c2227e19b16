//! Properties of every parser here of what Salesforce sends (attacker
//! controlled): no input makes one panic, and none keeps more than its input.

use std::collections::VecDeque;

use proptest::prelude::*;

use crate::eventlog::RecordChunker;

proptest! {
    #[test]
    fn error_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let items = crate::http::parse_error_items(&bytes);
        prop_assert!(items.len() <= bytes.len() + 1);
    }

    #[test]
    fn json_error_arrays_keep_their_codes(code in "[A-Z_]{1,30}", message in "\\PC{0,200}") {
        let body = serde_json::json!([{ "errorCode": code, "message": message }]).to_string();
        let items = crate::http::parse_error_items(body.as_bytes());
        prop_assert_eq!(items.len(), 1);
        prop_assert_eq!(&items[0].error_code, &code);
    }

    #[test]
    fn datetimes_never_panic_and_round_trip(s in "\\PC{0,40}", secs in 0i64..4_102_444_800, ms in 0u32..1000) {
        let _ = crate::records::parse_datetime(&s);
        let t = chrono::DateTime::from_timestamp(secs, ms * 1_000_000).unwrap();
        let wire = t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
        prop_assert_eq!(crate::records::parse_datetime(&wire), Some(t));
    }

    #[test]
    fn limit_headers_never_panic(s in "\\PC{0,200}") {
        let _ = crate::budget::ApiUsage::parse(&s);
    }

    #[test]
    fn metadata_xml_never_panics(s in "\\PC{0,500}") {
        let _ = crate::metadata::parse_xml(&s);
    }

    /// An event log read in chunks cut anywhere gives the rows it gives
    /// read whole; any bytes at all give rows or an error, never a panic.
    #[test]
    fn event_log_chunks_cut_anywhere_read_the_same(
        rows in proptest::collection::vec(("\\PC{0,20}", "[0-9.]{0,15}", 100u16..600), 0..20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        junk in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut csv = String::from("\"EVENT_TYPE\",\"CONNECTED_APP_NAME\",\"CLIENT_IP\",\"STATUS_CODE\"\n");
        for (app, ip, status) in &rows {
            csv.push_str(&format!("\"ApiTotalUsage\",\"{}\",\"{ip}\",\"{status}\"\n", app.replace('"', "\"\"")));
        }
        let bytes = csv.as_bytes();
        let read = |pieces: Vec<&[u8]>| {
            let mut c = RecordChunker::default();
            let mut out = VecDeque::new();
            for p in pieces {
                c.feed(p, &mut out).unwrap();
            }
            c.finish(&mut out, "org").unwrap();
            out
        };
        let whole = read(vec![bytes]);
        prop_assert_eq!(whole.len(), rows.len() + 1, "the header and each row");
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for a in at {
            pieces.push(&bytes[from..a]);
            from = a;
        }
        pieces.push(&bytes[from..]);
        prop_assert_eq!(read(pieces), whole);

        let mut c = RecordChunker::default();
        let mut out = VecDeque::new();
        let _ = c.feed(&junk, &mut out);
        let _ = c.finish(&mut out, "org");
        prop_assert!(out.len() <= junk.len());
    }
}
