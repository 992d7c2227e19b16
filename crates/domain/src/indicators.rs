//! Indicators of compromise (IOCs) for threat hunting: IP addresses, CIDRs,
//! user agents, app names and consumer keys, read from the text, CSV, JSON
//! and STIX 2.1 files that advisories and feeds publish, and matched later
//! against the archived Salesforce logs.
//!
//! Everything here is pure (no I/O). The input is attacker-controlled (a
//! feed, a file someone mailed): every value is bounded, control characters
//! are refused, one parse keeps at most [`MAX_INDICATORS`] indicators and
//! [`MAX_ERRORS`] errors, and no input makes it panic (a property test
//! checks the last).

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The longest value (in characters) an indicator may have.
pub const MAX_VALUE_LEN: usize = 512;
/// The most indicators one parse keeps; the rest of the input is not read.
pub const MAX_INDICATORS: usize = 200_000;
/// The most errors one parse reports one by one; past it only a count.
pub const MAX_ERRORS: usize = 1_000;
/// Notes longer than this many characters are cut (STIX descriptions can
/// run to pages).
pub const MAX_NOTE_LEN: usize = 1_000;
/// The broadest CIDRs accepted: a `/0` (a typo, or a feed gone wrong) would
/// match every log line and bury the real hits.
pub const MIN_PREFIX_V4: u8 = 8;
/// See [`MIN_PREFIX_V4`].
pub const MIN_PREFIX_V6: u8 = 16;

/// What an indicator's value is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// One address, IPv4 or IPv6, in canonical text.
    Ip,
    /// A network, canonicalised to its first address (`10.0.0.0/8`).
    Cidr,
    /// The whole user agent (compared without regard to case).
    UserAgent,
    /// Text anywhere in the user agent (compared without regard to case).
    UserAgentContains,
    /// A connected app's or external client app's name.
    AppName,
    /// A connected app's consumer key (OAuth client id).
    ConsumerKey,
}

impl IndicatorKind {
    pub const ALL: [IndicatorKind; 6] = [
        IndicatorKind::Ip,
        IndicatorKind::Cidr,
        IndicatorKind::UserAgent,
        IndicatorKind::UserAgentContains,
        IndicatorKind::AppName,
        IndicatorKind::ConsumerKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Cidr => "cidr",
            IndicatorKind::UserAgent => "user_agent",
            IndicatorKind::UserAgentContains => "user_agent_contains",
            IndicatorKind::AppName => "app_name",
            IndicatorKind::ConsumerKey => "consumer_key",
        }
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IndicatorKind {
    type Err = String;
    /// The names of [`IndicatorKind::as_str`] and common aliases, without
    /// regard to case, `-`, `.` or spaces (`User-Agent`, `ipv4-addr`).
    fn from_str(s: &str) -> Result<IndicatorKind, String> {
        let norm: String = s
            .trim()
            .chars()
            .take(40)
            .map(|c| match c {
                '-' | ' ' | '.' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        Ok(match norm.as_str() {
            "ip" | "ipv4" | "ipv6" | "ip_address" | "ip_addr" | "ipv4_addr" | "ipv6_addr"
            | "ipv4_address" | "ipv6_address" | "address" | "src_ip" | "source_ip"
            | "client_ip" => IndicatorKind::Ip,
            "cidr" | "ip_cidr" | "ip_range" | "ip_network" | "network" | "subnet" | "netblock"
            | "range" => IndicatorKind::Cidr,
            "user_agent" | "useragent" | "ua" | "user_agent_exact" | "ua_exact"
            | "http_user_agent" => IndicatorKind::UserAgent,
            "user_agent_contains"
            | "useragent_contains"
            | "ua_contains"
            | "ua_substring"
            | "user_agent_substring" => IndicatorKind::UserAgentContains,
            "app_name" | "app" | "appname" | "application" | "connected_app" | "app_label" => {
                IndicatorKind::AppName
            }
            "consumer_key" | "consumerkey" | "client_id" | "oauth_client_id" => {
                IndicatorKind::ConsumerKey
            }
            _ => {
                return Err(format!(
                    "unknown indicator type `{}` (ip, cidr, user_agent, user_agent_contains, \
                     app_name or consumer_key)",
                    shorten(s.trim())
                ));
            }
        })
    }
}

impl Serialize for IndicatorKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IndicatorKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IndicatorKind, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One indicator. Its window, when set, is `valid_from <= t < valid_to`.
/// In serde form (the shipped files) `kind` is written `type`, as in the
/// JSON import format, so a shipped file is also a valid JSON import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    #[serde(rename = "type", alias = "kind")]
    pub kind: IndicatorKind,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    /// Exclusive end. A date alone (`2025-08-18`) in an import means the
    /// whole of that day, so it is stored as the next midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Indicator {
    /// A checked, normalised indicator without a window or a note. An `Ip`
    /// with a prefix becomes a `Cidr` and a `Cidr` without one an `Ip`.
    pub fn new(kind: IndicatorKind, value: &str) -> Result<Indicator, String> {
        let (kind, value) = normalize(kind, value)?;
        Ok(Indicator {
            kind,
            value,
            valid_from: None,
            valid_to: None,
            note: None,
        })
    }
}

/// A problem with one line (text, CSV), one element (JSON, STIX: its index
/// + 1), or with the input as a whole (`line` 0, [`LineError::WHOLE_INPUT`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl LineError {
    pub const WHOLE_INPUT: usize = 0;
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == LineError::WHOLE_INPUT {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

/// What a parse found: the indicators it could read (deduplicated, in
/// input order) and an error for each one it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    pub indicators: Vec<Indicator>,
    pub errors: Vec<LineError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    Csv,
    Json,
    Stix,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Stix => "stix",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "txt" | "plain" => Ok(Format::Text),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "stix" | "stix2" | "stix2.1" | "stix_2.1" => Ok(Format::Stix),
            _ => Err(format!(
                "unknown format `{}`: text, csv, json or stix",
                shorten(s.trim())
            )),
        }
    }
}

/// A shipped indicator set (`crates/domain/indicators/*.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorSetFile {
    pub name: String,
    pub source_label: String,
    pub source_url: String,
    pub published: NaiveDate,
    pub description: String,
    pub indicators: Vec<Indicator>,
}

const SHIPPED: [(&str, &str); 2] = [
    (
        "drift-unc6395-2025.json",
        include_str!("../indicators/drift-unc6395-2025.json"),
    ),
    (
        "gainsight-2025.json",
        include_str!("../indicators/gainsight-2025.json"),
    ),
];

/// The indicator sets shipped with the cockpit, from published advisories.
/// They are compiled in; a unit test checks each parses and is normalised.
pub fn shipped() -> Vec<IndicatorSetFile> {
    SHIPPED
        .iter()
        .map(|(file, text)| {
            serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("shipped indicator set {file} does not parse: {e}"))
        })
        .collect()
}

/// Guesses the format: a JSON bundle, or JSON objects with a `pattern`, is
/// STIX; other JSON is JSON; a first line (past blank and `#` lines) that
/// is a CSV header with `type` (or `kind`) and `value` is CSV; anything else
/// is text (lines of raw STIX patterns `[...]` included).
pub fn detect(input: &str) -> Format {
    let s = strip_bom(input).trim_start();
    if s.starts_with('{') || s.starts_with('[') {
        match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                return if looks_stix(&v) {
                    Format::Stix
                } else {
                    Format::Json
                };
            }
            // `{` can only be meant as JSON; `[` may be a line of text
            // holding a raw STIX pattern.
            Err(_) if s.starts_with('{') => return Format::Json,
            Err(_) => {}
        }
    }
    let first = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    if first.is_some_and(is_csv_header) {
        Format::Csv
    } else {
        Format::Text
    }
}

/// Reads every indicator of `input` in `format`. Never fails as a whole:
/// what cannot be read is in [`Parsed::errors`].
pub fn parse(format: Format, input: &str) -> Parsed {
    let input = strip_bom(input);
    let mut c = Collector::default();
    match format {
        Format::Text => parse_text(input, &mut c),
        Format::Csv => parse_csv(input, &mut c),
        Format::Json => parse_json(input, &mut c),
        Format::Stix => parse_stix(input, &mut c),
    }
    c.finish()
}

// ---------------------------------------------------------------------------
// Normalisation

/// At most 60 characters of attacker text, for an error message.
fn shorten(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(60)
        .map(|c| if is_forbidden(c) { '?' } else { c })
        .collect();
    if s.chars().nth(60).is_some() {
        out.push('…');
    }
    out
}

/// Control characters, and the bidirectional overrides that can make a
/// value display as something else.
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn strip_bom(s: &str) -> &str {
    s.strip_prefix('\u{feff}').unwrap_or(s)
}

fn normalize(kind: IndicatorKind, raw: &str) -> Result<(IndicatorKind, String), String> {
    let v = raw.trim();
    if v.is_empty() {
        return Err("empty value".into());
    }
    if v.len() > MAX_VALUE_LEN && v.chars().nth(MAX_VALUE_LEN).is_some() {
        return Err(format!("value longer than {MAX_VALUE_LEN} characters"));
    }
    if v.chars().any(is_forbidden) {
        return Err("control characters in the value".into());
    }
    match kind {
        IndicatorKind::Ip | IndicatorKind::Cidr => address(v),
        IndicatorKind::UserAgent
        | IndicatorKind::UserAgentContains
        | IndicatorKind::AppName
        | IndicatorKind::ConsumerKey => Ok((kind, v.to_owned())),
    }
}

/// An IP or a CIDR, canonical. Feeds often "defang" addresses
/// (`1.2.3[.]4`) and wrap IPv6 ones in brackets: both are undone.
fn address(v: &str) -> Result<(IndicatorKind, String), String> {
    let undefanged = v.replace("[.]", ".").replace("[:]", ":");
    let s = undefanged.as_str();
    let s = match (s.strip_prefix('['), s.find(']')) {
        (Some(rest), Some(_)) => rest.replacen(']', "", 1),
        _ => s.to_owned(),
    };
    if s.contains('/') {
        let net: IpNet = s
            .parse()
            .map_err(|_| format!("`{}` is not a CIDR", shorten(v)))?;
        let min = match net {
            IpNet::V4(_) => MIN_PREFIX_V4,
            IpNet::V6(_) => MIN_PREFIX_V6,
        };
        if net.prefix_len() < min {
            return Err(format!(
                "`{}` is too broad to hunt (the broadest accepted are /{MIN_PREFIX_V4} for IPv4 \
                 and /{MIN_PREFIX_V6} for IPv6)",
                shorten(v)
            ));
        }
        Ok((IndicatorKind::Cidr, net.trunc().to_string()))
    } else {
        let ip: IpAddr = s
            .parse()
            .map_err(|_| format!("`{}` is not an IP address", shorten(v)))?;
        // An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is the IPv4 one.
        Ok((IndicatorKind::Ip, ip.to_canonical().to_string()))
    }
}

/// `None` for an absent or blank time; RFC 3339, or a date alone, which
/// starts that day (`end` false) or ends it (`end` true: the next midnight).
fn parse_time(s: Option<&str>, end: bool) -> Result<Option<DateTime<Utc>>, String> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let bad = || format!("`{}` is not a time (RFC 3339 or YYYY-MM-DD)", shorten(s));
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
    let date = if end {
        date.succ_opt().ok_or_else(bad)?
    } else {
        date
    };
    Ok(Some(date.and_time(NaiveTime::MIN).and_utc()))
}

/// A note: trimmed, control characters made spaces, cut to
/// [`MAX_NOTE_LEN`]; `None` when blank.
fn clean_note(s: &str) -> Option<String> {
    let mut out: String = s
        .trim()
        .chars()
        .take(MAX_NOTE_LEN)
        .map(|c| if is_forbidden(c) { ' ' } else { c })
        .collect();
    if s.trim().chars().nth(MAX_NOTE_LEN).is_some() {
        out.push('…');
    }
    let t = out.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Puts a window on a normalised indicator, refusing an empty one.
fn with_window(
    mut ind: Indicator,
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
) -> Result<Indicator, String> {
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && from >= to
    {
        return Err(format!(
            "the window is empty: valid_from {} is not before its end {}",
            from.to_rfc3339(),
            to.to_rfc3339()
        ));
    }
    ind.valid_from = valid_from;
    ind.valid_to = valid_to;
    Ok(ind)
}

/// The fields of one CSV row or JSON object, as text.
struct Fields<'a> {
    kind: Option<&'a str>,
    value: Option<&'a str>,
    valid_from: Option<&'a str>,
    valid_to: Option<&'a str>,
    note: Option<&'a str>,
}

fn build(f: &Fields<'_>) -> Result<Indicator, String> {
    let kind: IndicatorKind = f
        .kind
        .filter(|k| !k.trim().is_empty())
        .ok_or("no type")?
        .parse()?;
    let value = f.value.ok_or("no value")?;
    let ind = Indicator::new(kind, value)?;
    let from = parse_time(f.valid_from, false).map_err(|e| format!("valid_from: {e}"))?;
    let to = parse_time(f.valid_to, true).map_err(|e| format!("valid_to: {e}"))?;
    let mut ind = with_window(ind, from, to)?;
    ind.note = f.note.and_then(clean_note);
    Ok(ind)
}

// ---------------------------------------------------------------------------
// Collecting, with the bounds

type Key = (
    IndicatorKind,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

#[derive(Default)]
struct Collector {
    out: Parsed,
    seen: HashSet<Key>,
    full: bool,
    unreported: usize,
}

impl Collector {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        if self.out.errors.len() < MAX_ERRORS {
            self.out.errors.push(LineError {
                line,
                message: message.into(),
            });
        } else {
            self.unreported += 1;
        }
    }

    /// Keeps `ind` unless already kept; `false` once the limit is reached:
    /// the caller stops reading.
    fn add(&mut self, line: usize, ind: Indicator) -> bool {
        if self.full {
            return false;
        }
        let key = (ind.kind, ind.value.clone(), ind.valid_from, ind.valid_to);
        if self.seen.contains(&key) {
            return true;
        }
        if self.out.indicators.len() >= MAX_INDICATORS {
            self.full = true;
            // Always reported, past MAX_ERRORS too.
            self.out.errors.push(LineError {
                line,
                message: format!(
                    "more than {MAX_INDICATORS} indicators, the most one import takes: \
                     this one and the rest were not read"
                ),
            });
            return false;
        }
        self.seen.insert(key);
        self.out.indicators.push(ind);
        true
    }

    fn finish(mut self) -> Parsed {
        if self.unreported > 0 {
            self.out.errors.push(LineError {
                line: LineError::WHOLE_INPUT,
                message: format!("{} more errors not listed", self.unreported),
            });
        }
        self.out
    }
}

// ---------------------------------------------------------------------------
// Text

const NOT_RECOGNISED: &str = "not an IP, a CIDR or `kind: value`";

fn parse_text(input: &str, c: &mut Collector) {
    for (i, raw) in input.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            // A raw STIX pattern, one per line (or a bracketed IPv6).
            if let Ok((kind, value)) = address(t) {
                if !c.add(line, plain(kind, value)) {
                    return;
                }
                continue;
            }
            match stix_pattern_indicators(t, None, None, None) {
                Ok(list) => {
                    for ind in list {
                        if !c.add(line, ind) {
                            return;
                        }
                    }
                }
                Err(e) => c.error(line, e),
            }
            continue;
        }
        match text_line(t) {
            Ok(ind) => {
                if !c.add(line, ind) {
                    return;
                }
            }
            Err(e) => c.error(line, e),
        }
    }
}

fn plain(kind: IndicatorKind, value: String) -> Indicator {
    Indicator {
        kind,
        value,
        valid_from: None,
        valid_to: None,
        note: None,
    }
}

fn text_line(t: &str) -> Result<Indicator, String> {
    // A bare IP or CIDR, perhaps with a `# note` after it.
    let (head, comment) = match t.split_once('#') {
        Some((h, n)) => (h.trim(), Some(n)),
        None => (t, None),
    };
    let looks_like_address = !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_hexdigit() || ".:/[]".contains(c));
    match address(head) {
        Ok((kind, value)) => {
            let mut ind = plain(kind, value);
            ind.note = comment.and_then(clean_note);
            return Ok(ind);
        }
        Err(e) if looks_like_address => return Err(e),
        Err(_) => {}
    }
    // `kind: value` or `kind,value`: the kind ends at the first of them.
    if let Some(pos) = t.find([':', ',']) {
        let (k, rest) = (&t[..pos], &t[pos + 1..]);
        if let Ok(kind) = k.parse::<IndicatorKind>() {
            return Indicator::new(kind, rest);
        }
        if !k.trim().is_empty() && !k.contains(char::is_whitespace) && k.len() <= 40 {
            return Err(format!("{NOT_RECOGNISED}: unknown kind `{}`", shorten(k)));
        }
    }
    Err(NOT_RECOGNISED.into())
}

// ---------------------------------------------------------------------------
// CSV

fn is_csv_header(line: &str) -> bool {
    let cols: Vec<String> = line
        .split(',')
        .map(|f| f.trim().trim_matches('"').trim().to_ascii_lowercase())
        .collect();
    let has = |n: &str| cols.iter().any(|c| c == n);
    (has("type") || has("kind")) && has("value")
}

fn parse_csv(input: &str, c: &mut Collector) {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(input.as_bytes());
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            c.error(1, format!("unreadable CSV header: {e}"));
            return;
        }
    };
    let col = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&h.to_ascii_lowercase().as_str()))
    };
    let header_line = headers.position().map_or(1, |p| p.line() as usize);
    let (Some(kind_col), Some(value_col)) = (col(&["type", "kind"]), col(&["value"])) else {
        c.error(
            header_line,
            "the CSV header needs a `type` (or `kind`) column and a `value` column",
        );
        return;
    };
    let from_col = col(&["valid_from", "first_seen"]);
    let to_col = col(&["valid_to", "valid_until", "last_seen"]);
    let note_col = col(&["note", "notes", "description", "comment"]);

    let mut record = csv::StringRecord::new();
    let mut last_error_at = None;
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                if record.iter().all(str::is_empty) {
                    continue;
                }
                let get = |i: Option<usize>| i.and_then(|i| record.get(i));
                let fields = Fields {
                    kind: get(Some(kind_col)),
                    value: get(Some(value_col)),
                    valid_from: get(from_col),
                    valid_to: get(to_col),
                    note: get(note_col),
                };
                match build(&fields) {
                    Ok(ind) => {
                        if !c.add(line, ind) {
                            return;
                        }
                    }
                    Err(e) => c.error(line, e),
                }
            }
            Err(e) => {
                // Not expected from a `&str` with flexible rows; if it comes,
                // report it, and stop should the reader not move on.
                let at = e.position().map(|p| (p.byte(), p.line() as usize));
                c.error(at.map_or(0, |a| a.1), format!("unreadable CSV: {e}"));
                if at.is_none() || at == last_error_at {
                    break;
                }
                last_error_at = at;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// JSON

fn str_field<'a>(o: &'a Map<String, Value>, names: &[&str]) -> Result<Option<&'a str>, String> {
    for n in names {
        match o.get(*n) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(s)),
            Some(_) => return Err(format!("`{n}` is not a string")),
        }
    }
    Ok(None)
}

fn json_value(input: &str, c: &mut Collector) -> Option<Value> {
    match serde_json::from_str(input) {
        Ok(v) => Some(v),
        Err(e) => {
            c.error(LineError::WHOLE_INPUT, format!("not valid JSON: {e}"));
            None
        }
    }
}

fn parse_json(input: &str, c: &mut Collector) {
    let Some(v) = json_value(input, c) else {
        return;
    };
    let items = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("indicators") {
            Some(Value::Array(a)) => a,
            _ => {
                c.error(
                    LineError::WHOLE_INPUT,
                    "expected an array of indicators or an object with an `indicators` array",
                );
                return;
            }
        },
        _ => {
            c.error(
                LineError::WHOLE_INPUT,
                "expected an array of indicators or an object with an `indicators` array",
            );
            return;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let line = i + 1;
        match json_item(item) {
            Ok(ind) => {
                if !c.add(line, ind) {
                    return;
                }
            }
            Err(e) => c.error(line, e),
        }
    }
}

fn json_item(item: &Value) -> Result<Indicator, String> {
    let o = item.as_object().ok_or("not an object")?;
    build(&Fields {
        kind: str_field(o, &["type", "kind"])?,
        value: str_field(o, &["value"])?,
        valid_from: str_field(o, &["valid_from"])?,
        valid_to: str_field(o, &["valid_to", "valid_until"])?,
        note: str_field(o, &["note", "description"])?,
    })
}

// ---------------------------------------------------------------------------
// STIX 2.1

fn looks_stix(v: &Value) -> bool {
    match v {
        Value::Object(o) => {
            o.get("type").and_then(Value::as_str) == Some("bundle") || o.contains_key("pattern")
        }
        Value::Array(a) => a.iter().any(|x| x.get("pattern").is_some()),
        _ => false,
    }
}

fn parse_stix(input: &str, c: &mut Collector) {
    let Some(v) = json_value(input, c) else {
        return;
    };
    let objects = match v {
        Value::Array(a) => a,
        Value::Object(mut o) if o.get("type").and_then(Value::as_str) == Some("bundle") => {
            match o.remove("objects") {
                Some(Value::Array(a)) => a,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    c.error(
                        LineError::WHOLE_INPUT,
                        "the bundle's `objects` is not an array",
                    );
                    return;
                }
            }
        }
        Value::Object(o) => vec![Value::Object(o)],
        _ => {
            c.error(
                LineError::WHOLE_INPUT,
                "expected a STIX bundle or an array of STIX indicators",
            );
            return;
        }
    };
    for (i, obj) in objects.iter().enumerate() {
        let line = i + 1;
        let Some(o) = obj.as_object() else {
            c.error(line, "not an object");
            continue;
        };
        let ty = o.get("type").and_then(Value::as_str);
        // Identities, relationships, markings… carry no indicator.
        if ty != Some("indicator") && !(ty.is_none() && o.contains_key("pattern")) {
            continue;
        }
        if o.get("revoked") == Some(&Value::Bool(true)) {
            continue;
        }
        match stix_indicator(o) {
            Ok(list) => {
                for ind in list {
                    if !c.add(line, ind) {
                        return;
                    }
                }
            }
            Err(e) => c.error(line, e),
        }
    }
}

fn stix_indicator(o: &Map<String, Value>) -> Result<Vec<Indicator>, String> {
    if let Some(pt) = str_field(o, &["pattern_type"])?
        && !pt.trim().eq_ignore_ascii_case("stix")
    {
        return Err(format!(
            "pattern_type `{}` is not supported (only `stix`)",
            shorten(pt)
        ));
    }
    let pattern = str_field(o, &["pattern"])?.ok_or("indicator without a `pattern`")?;
    let from = parse_time(str_field(o, &["valid_from"])?, false)
        .map_err(|e| format!("valid_from: {e}"))?;
    let to = parse_time(str_field(o, &["valid_until"])?, true)
        .map_err(|e| format!("valid_until: {e}"))?;
    let note = match str_field(o, &["name"])?.and_then(clean_note) {
        Some(n) => Some(n),
        None => str_field(o, &["description"])?.and_then(clean_note),
    };
    stix_pattern_indicators(pattern, from, to, note)
}

fn stix_pattern_indicators(
    pattern: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    note: Option<String>,
) -> Result<Vec<Indicator>, String> {
    let comparisons =
        stix_pattern::parse(pattern).map_err(|e| format!("pattern not expressible: {e}"))?;
    comparisons
        .into_iter()
        .map(|(kind, value)| {
            let ind =
                Indicator::new(kind, &value).map_err(|e| format!("bad value in pattern: {e}"))?;
            let mut ind = with_window(ind, from, to)?;
            ind.note.clone_from(&note);
            Ok(ind)
        })
        .collect()
}

/// The subset of the STIX 2.1 patterning language that maps onto
/// indicators: comparisons joined by OR (inside one `[...]` or across
/// several; parentheses are allowed, since with OR alone grouping changes
/// nothing), on `ipv4-addr:value`, `ipv6-addr:value`,
/// `network-traffic:src_ref.value` (`=`, `ISSUBSET`, `IN`) and the HTTP
/// `User-Agent` request header (`=`, `LIKE`, `IN`). Anything else (AND,
/// FOLLOWEDBY, qualifiers, other objects) is refused with a reason: an
/// indicator that means "A and B" must not be hunted as "A".
///
/// Written by hand. Rust STIX crates do exist (`stix2` 0.1.1, which claims a
/// full pattern parser, `stixflayer` 0.1.x, `stix-rs` 0.1.0), but all are
/// early 0.1 releases that bring a whole STIX object model (`stixflayer`
/// enables pyo3 by default) for the dozen lines of grammar needed here, and
/// none is established enough to trust with attacker input. This parser is
/// a cursor without recursion, so no input can exhaust the stack.
mod stix_pattern {
    use super::{IndicatorKind, MAX_INDICATORS, MAX_VALUE_LEN, shorten};

    type Comparison = (IndicatorKind, String);

    struct Cursor<'a> {
        s: &'a str,
        pos: usize,
    }

    impl<'a> Cursor<'a> {
        fn rest(&self) -> &'a str {
            &self.s[self.pos..]
        }

        fn skip_ws(&mut self) {
            let t = self.rest().trim_start();
            self.pos = self.s.len() - t.len();
        }

        fn peek(&mut self) -> Option<char> {
            self.skip_ws();
            self.rest().chars().next()
        }

        fn eat(&mut self, c: char) -> bool {
            if self.peek() == Some(c) {
                self.pos += c.len_utf8();
                true
            } else {
                false
            }
        }

        fn keyword(&mut self) -> Option<&'a str> {
            self.skip_ws();
            let r = self.rest();
            let n = r
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(r.len());
            (n > 0).then(|| {
                self.pos += n;
                &r[..n]
            })
        }

        fn at_end(&mut self) -> bool {
            self.peek().is_none()
        }

        /// What comes next, for an error message.
        fn next_text(&mut self) -> String {
            match self.peek() {
                None => "the end of the pattern".into(),
                Some(_) => format!("`{}`", shorten(self.rest())),
            }
        }

        /// A quoted string; `\'` and `\\` are the escapes.
        fn string(&mut self) -> Result<String, String> {
            if !self.eat('\'') {
                return Err(format!(
                    "expected a quoted string, found {}",
                    self.next_text()
                ));
            }
            let mut out = String::new();
            let mut chars = self.rest().char_indices();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\'' => {
                        self.pos += i + 1;
                        return Ok(out);
                    }
                    '\\' => match chars.next() {
                        Some((_, e @ ('\'' | '\\'))) => out.push(e),
                        _ => return Err("a `\\` in a string escapes neither `'` nor `\\`".into()),
                    },
                    ch => out.push(ch),
                }
                if out.len() > 4 * MAX_VALUE_LEN {
                    return Err(format!("a string longer than {MAX_VALUE_LEN} characters"));
                }
            }
            Err("a string is not closed".into())
        }
    }

    pub(super) fn parse(pattern: &str) -> Result<Vec<Comparison>, String> {
        let mut c = Cursor { s: pattern, pos: 0 };
        let mut out = Vec::new();
        let mut depth = 0usize;
        loop {
            while c.eat('(') {
                depth += 1;
            }
            if !c.eat('[') {
                return Err(format!("expected `[`, found {}", c.next_text()));
            }
            let mut inner = 0usize;
            loop {
                while c.eat('(') {
                    inner += 1;
                }
                out.extend(comparison(&mut c)?);
                if out.len() > MAX_INDICATORS {
                    return Err(format!("more than {MAX_INDICATORS} comparisons"));
                }
                while c.eat(')') {
                    inner = inner.checked_sub(1).ok_or("a `)` closes nothing")?;
                }
                if c.eat(']') {
                    if inner != 0 {
                        return Err("a `(` is not closed before `]`".into());
                    }
                    break;
                }
                expect_or(&mut c)?;
            }
            while c.eat(')') {
                depth = depth.checked_sub(1).ok_or("a `)` closes nothing")?;
            }
            if c.at_end() {
                if depth != 0 {
                    return Err("a `(` is not closed".into());
                }
                return Ok(out);
            }
            expect_or(&mut c)?;
        }
    }

    fn expect_or(c: &mut Cursor<'_>) -> Result<(), String> {
        match c.keyword() {
            Some(k) if k.eq_ignore_ascii_case("OR") => Ok(()),
            Some(k) => Err(format!(
                "`{}` is not supported (only OR may join comparisons)",
                shorten(&k.to_ascii_uppercase())
            )),
            None => Err(format!("expected OR or `]`, found {}", c.next_text())),
        }
    }

    #[derive(Clone, Copy)]
    enum Target {
        V4,
        V6,
        AnyIp,
        UserAgent,
    }

    fn object_path(c: &mut Cursor<'_>) -> Result<String, String> {
        c.skip_ws();
        let mut path = String::new();
        loop {
            match c.rest().chars().next() {
                Some(ch) if ch.is_ascii_alphanumeric() || "-_:.*".contains(ch) => {
                    path.push(ch.to_ascii_lowercase());
                    c.pos += 1;
                }
                Some('\'') => path.push_str(&c.string()?.to_lowercase()),
                _ => break,
            }
            if path.len() > 256 {
                return Err(format!("object path `{}` too long", shorten(&path)));
            }
        }
        if path.is_empty() {
            return Err(format!("expected an object path, found {}", c.next_text()));
        }
        Ok(path)
    }

    fn target(path: &str) -> Result<Target, String> {
        Ok(match path {
            "ipv4-addr:value" => Target::V4,
            "ipv6-addr:value" => Target::V6,
            "network-traffic:src_ref.value" => Target::AnyIp,
            "network-traffic:extensions.http-request-ext.request_header.user-agent" => {
                Target::UserAgent
            }
            _ => {
                return Err(format!(
                    "`{}` is not supported (only ipv4-addr:value, ipv6-addr:value, \
                     network-traffic:src_ref.value and the HTTP User-Agent request header)",
                    shorten(path)
                ));
            }
        })
    }

    fn operator(c: &mut Cursor<'_>) -> Result<String, String> {
        c.skip_ws();
        for sym in ["!=", "<=", ">=", "=", "<", ">"] {
            if c.rest().starts_with(sym) {
                c.pos += sym.len();
                return Ok(sym.into());
            }
        }
        match c.keyword() {
            Some(k) => Ok(k.to_ascii_uppercase()),
            None => Err(format!("expected an operator, found {}", c.next_text())),
        }
    }

    fn comparison(c: &mut Cursor<'_>) -> Result<Vec<Comparison>, String> {
        let path = object_path(c)?;
        let target = target(&path)?;
        let op = operator(c)?;
        let values = match op.as_str() {
            "IN" => {
                if !c.eat('(') {
                    return Err(format!("expected `(` after IN, found {}", c.next_text()));
                }
                let mut list = vec![c.string()?];
                while c.eat(',') {
                    list.push(c.string()?);
                    if list.len() > MAX_INDICATORS {
                        return Err(format!("more than {MAX_INDICATORS} values after IN"));
                    }
                }
                if !c.eat(')') {
                    return Err(format!("expected `)` closing IN, found {}", c.next_text()));
                }
                list
            }
            _ => vec![c.string()?],
        };
        values
            .into_iter()
            .map(|v| one(target, &op, &path, v))
            .collect()
    }

    fn one(target: Target, op: &str, path: &str, v: String) -> Result<Comparison, String> {
        match (target, op) {
            (Target::V4 | Target::V6 | Target::AnyIp, "=" | "ISSUBSET" | "IN") => {
                match target {
                    Target::V4 if v.contains(':') => {
                        return Err(format!("`{}` is not IPv4", shorten(&v)));
                    }
                    Target::V6 if !v.contains(':') => {
                        return Err(format!("`{}` is not IPv6", shorten(&v)));
                    }
                    _ => {}
                }
                // Ip or Cidr: the value's prefix decides.
                Ok((IndicatorKind::Ip, v))
            }
            (Target::UserAgent, "=" | "IN") => Ok((IndicatorKind::UserAgent, v)),
            (Target::UserAgent, "LIKE") => {
                let inner = v.strip_prefix('%').and_then(|s| s.strip_suffix('%'));
                match inner {
                    Some(x) if !x.is_empty() && !x.contains(['%', '_']) => {
                        Ok((IndicatorKind::UserAgentContains, x.to_owned()))
                    }
                    _ if !v.contains(['%', '_']) => Ok((IndicatorKind::UserAgent, v)),
                    _ => Err(format!(
                        "LIKE '{}' is neither '%text%' nor text without wildcards",
                        shorten(&v)
                    )),
                }
            }
            _ => Err(format!(
                "operator {} on `{}` is not supported",
                shorten(op),
                shorten(path)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn pairs(p: &Parsed) -> Vec<(IndicatorKind, &str)> {
        p.indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect()
    }

    fn err_lines(p: &Parsed) -> Vec<usize> {
        p.errors.iter().map(|e| e.line).collect()
    }

    use IndicatorKind::*;

    #[test]
    fn kinds_round_trip_and_take_aliases() {
        for k in IndicatorKind::ALL {
            assert_eq!(k.as_str().parse::<IndicatorKind>(), Ok(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        for (alias, k) in [
            ("IPv4", Ip),
            ("ipv6", Ip),
            ("ipv4-addr", Ip),
            ("UA", UserAgent),
            ("User-Agent", UserAgent),
            ("ua_contains", UserAgentContains),
            ("ua-contains", UserAgentContains),
            ("app", AppName),
            ("Consumer-Key", ConsumerKey),
            ("client_id", ConsumerKey),
            ("subnet", Cidr),
        ] {
            assert_eq!(alias.parse::<IndicatorKind>(), Ok(k), "{alias}");
        }
        let e = "domain".parse::<IndicatorKind>().unwrap_err();
        assert!(e.contains("unknown indicator type `domain`"), "{e}");
        assert!(serde_json::from_str::<IndicatorKind>("\"hash\"").is_err());
    }

    #[test]
    fn text_reads_ips_cidrs_and_kinds() {
        let input = "# Drift IOCs\n\
                     208.68.36.90\n\
                     \n\
                     2001:DB8:0:0:0:0:0:1\n\
                     10.1.2.3/8\n\
                     ua: python-requests/2.32.4\n\
                     this is junk\n\
                     ua_contains:  aiohttp \n\
                     app: Drift\n\
                     consumer_key,3MVG9abc.def\n\
                     user-agent: Python/3.11 aiohttp/3.12.15\n\
                     2001:db8::1/128\n\
                     ::ffff:192.0.2.7\n\
                     185.220.101[.]33 # Tor exit\n\
                     ipv6: 2001:0db8::0001\n";
        let p = parse(Format::Text, input);
        assert_eq!(
            pairs(&p),
            vec![
                (Ip, "208.68.36.90"),
                (Ip, "2001:db8::1"),
                (Cidr, "10.0.0.0/8"),
                (UserAgent, "python-requests/2.32.4"),
                (UserAgentContains, "aiohttp"),
                (AppName, "Drift"),
                (ConsumerKey, "3MVG9abc.def"),
                (UserAgent, "Python/3.11 aiohttp/3.12.15"),
                (Cidr, "2001:db8::1/128"),
                (Ip, "192.0.2.7"),
                (Ip, "185.220.101.33"),
            ],
            "the last line repeats line 4 and is deduplicated"
        );
        assert_eq!(p.indicators[10].note.as_deref(), Some("Tor exit"));
        assert_eq!(
            p.errors,
            vec![LineError {
                line: 7,
                message: "not an IP, a CIDR or `kind: value`".into()
            }]
        );
        assert_eq!(
            p.errors[0].to_string(),
            "line 7: not an IP, a CIDR or `kind: value`"
        );
    }

    #[test]
    fn text_errors_name_the_line_and_reason() {
        let long = "a".repeat(MAX_VALUE_LEN + 1);
        let ok_long = "b".repeat(MAX_VALUE_LEN);
        let input = format!(
            "999.1.1.1\nip: 1.2.3\nua: {long}\nua: {ok_long}\nua: a\u{7}b\nfoo: bar\n\
             0.0.0.0/0\n2001::/8\nua:   \nip: 010.1.1.1\ncidr: 10.0.0.0/33\napp: x\u{202e}y\n"
        );
        let p = parse(Format::Text, &input);
        assert_eq!(pairs(&p), vec![(UserAgent, ok_long.as_str())]);
        assert_eq!(err_lines(&p), vec![1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]);
        let m: Vec<&str> = p.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(m[0], "`999.1.1.1` is not an IP address");
        assert!(m[1].contains("`1.2.3` is not an IP address"), "{}", m[1]);
        assert!(m[2].contains("longer than 512"), "{}", m[2]);
        assert!(m[3].contains("control characters"), "{}", m[3]);
        assert!(m[4].contains("unknown kind `foo`"), "{}", m[4]);
        assert!(m[5].contains("too broad"), "{}", m[5]);
        assert!(m[6].contains("too broad"), "{}", m[6]);
        assert_eq!(m[7], "empty value");
        assert!(m[8].contains("not an IP address"), "{}", m[8]);
        assert!(m[9].contains("not a CIDR"), "{}", m[9]);
        assert!(m[10].contains("control characters"), "{}", m[10]);
    }

    #[test]
    fn cidrs_are_canonical_and_kinds_follow_the_value() {
        for (kind, input, want) in [
            (Cidr, "192.168.1.77/24", (Cidr, "192.168.1.0/24")),
            (Ip, "192.168.1.77/32", (Cidr, "192.168.1.77/32")),
            (Cidr, "2001:DB8:ABCD:12::5/48", (Cidr, "2001:db8:abcd::/48")),
            (Cidr, "203.0.113.9", (Ip, "203.0.113.9")),
            (Ip, " [2001:db8::2] ", (Ip, "2001:db8::2")),
            (UserAgent, "  Mozilla/5.0 X  ", (UserAgent, "Mozilla/5.0 X")),
        ] {
            let i = Indicator::new(kind, input).unwrap();
            assert_eq!((i.kind, i.value.as_str()), want, "{input}");
        }
    }

    #[test]
    fn csv_rows_with_windows_and_line_numbers() {
        let input = "type,value,valid_from,valid_to,note\n\
                     ip,208.68.36.90,2025-08-08,2025-08-18,DigitalOcean\n\
                     ua,Salesforce-CLI/1.0,,,\n\
                     \"ua_contains\",\"multi\nline\",,,\n\
                     cidr,10.9.8.7/16,2025-08-08T10:00:00Z,2025-08-08T09:00:00Z,\n\
                     hash,abc,,,\n\
                     ip,not-an-ip,,,\n\
                     ip,1.2.3.4,yesterday,,\n\
                     ,,,,\n\
                     app_name,Drift,2025-08-08T00:00:00+02:00,,\"quoted, note\"\n";
        let p = parse(Format::Csv, input);
        assert_eq!(
            pairs(&p),
            vec![
                (Ip, "208.68.36.90"),
                (UserAgent, "Salesforce-CLI/1.0"),
                (AppName, "Drift"),
            ],
            "the multi-line value (line 4) holds a control character"
        );
        let drift = &p.indicators[0];
        assert_eq!(drift.valid_from, Some(t("2025-08-08T00:00:00Z")));
        assert_eq!(drift.valid_to, Some(t("2025-08-19T00:00:00Z")));
        assert_eq!(drift.note.as_deref(), Some("DigitalOcean"));
        assert_eq!(p.indicators[1].note, None);
        assert_eq!(p.indicators[2].valid_from, Some(t("2025-08-07T22:00:00Z")));
        assert_eq!(p.indicators[2].note.as_deref(), Some("quoted, note"));
        assert_eq!(err_lines(&p), vec![4, 6, 7, 8, 9]);
        assert!(p.errors[1].message.contains("window is empty"));
        assert!(
            p.errors[2]
                .message
                .contains("unknown indicator type `hash`")
        );
        assert!(p.errors[4].message.contains("valid_from: `yesterday`"));
    }

    #[test]
    fn csv_needs_type_and_value_columns() {
        let p = parse(Format::Csv, "ip,comment\n1.2.3.4,x\n");
        assert!(p.indicators.is_empty());
        assert_eq!(err_lines(&p), vec![1]);
        assert!(p.errors[0].message.contains("`value` column"));
        let p = parse(
            Format::Csv,
            "Kind,Value,Description\nipv4,1.2.3.4,Tor\nip\n",
        );
        assert_eq!(pairs(&p), vec![(Ip, "1.2.3.4")]);
        assert_eq!(p.indicators[0].note.as_deref(), Some("Tor"));
        assert_eq!(err_lines(&p), vec![3]);
        assert_eq!(p.errors[0].message, "no value");
    }

    #[test]
    fn json_arrays_and_objects() {
        let input = r#"[
            {"type": "ip", "value": "44.215.108.109", "note": "AWS, recon"},
            {"type": "ua", "value": "Salesforce-Multi-Org-Fetcher/1.0", "valid_from": "2025-08-08", "valid_to": null},
            {"kind": "cidr", "value": "2001:db8::/32"},
            "1.2.3.4",
            {"type": "ip"},
            {"type": 4, "value": "1.2.3.4"},
            {"type": "ip", "value": "44.215.108.109", "note": "duplicate"}
        ]"#;
        let p = parse(Format::Json, input);
        assert_eq!(
            pairs(&p),
            vec![
                (Ip, "44.215.108.109"),
                (UserAgent, "Salesforce-Multi-Org-Fetcher/1.0"),
                (Cidr, "2001:db8::/32"),
            ]
        );
        assert_eq!(p.indicators[0].note.as_deref(), Some("AWS, recon"));
        assert_eq!(p.indicators[1].valid_from, Some(t("2025-08-08T00:00:00Z")));
        assert_eq!(err_lines(&p), vec![4, 5, 6]);
        assert_eq!(p.errors[0].message, "not an object");
        assert_eq!(p.errors[1].message, "no value");
        assert_eq!(p.errors[2].message, "`type` is not a string");

        let p = parse(
            Format::Json,
            r#"{"indicators": [{"type": "app", "value": " Drift "}]}"#,
        );
        assert_eq!(pairs(&p), vec![(AppName, "Drift")]);

        let p = parse(Format::Json, "[{\"type\": ");
        assert_eq!(err_lines(&p), vec![LineError::WHOLE_INPUT]);
        assert!(p.errors[0].message.starts_with("not valid JSON"));
        let p = parse(Format::Json, "{\"x\": 1}");
        assert_eq!(err_lines(&p), vec![0]);
    }

    const BUNDLE: &str = r#"{
      "type": "bundle", "id": "bundle--1",
      "objects": [
        {"type": "identity", "id": "identity--1", "name": "GTIG"},
        {"type": "indicator", "pattern_type": "stix", "name": "Drift exfil",
         "pattern": "[ipv4-addr:value = '208.68.36.90'] OR [ipv4-addr:value = '44.215.108.109']",
         "valid_from": "2025-08-08T00:00:00Z", "valid_until": "2025-08-19T00:00:00Z"},
        {"type": "indicator", "description": "Tor exits",
         "pattern": "[ipv4-addr:value ISSUBSET '185.220.101.0/24' OR ipv6-addr:value = '2001:DB8::1' OR ipv4-addr:value = '10.0.0.1/8']",
         "valid_from": "2025-08-08T00:00:00Z"},
        {"type": "indicator", "pattern_type": "stix",
         "pattern": "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Python/3.11 aiohttp/3.12.15']"},
        {"type": "indicator",
         "pattern": "[network-traffic:extensions.'http-request-ext'.request_header.'user-agent' LIKE '%aiohttp%'] OR [network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' LIKE 'python-requests/2.32.4']"},
        {"type": "indicator", "pattern": "[user-account:account_login = 'admin']"},
        {"type": "indicator", "pattern": "[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']"},
        {"type": "indicator", "pattern": "[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS"},
        {"type": "indicator", "pattern_type": "sigma", "pattern": "title: x"},
        {"type": "indicator", "pattern": "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'it\\'s \\\\ ok']"},
        {"type": "indicator", "pattern": "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' LIKE '%a_b%']"},
        {"type": "indicator", "pattern": "[ipv4-addr:value = '2001:db8::5']"},
        {"type": "indicator", "revoked": true, "pattern": "[ipv4-addr:value = '9.9.9.9']"},
        {"type": "indicator", "pattern": "([ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')] OR ([network-traffic:src_ref.value = '198.51.100.7']))"},
        {"type": "indicator", "pattern": "[ipv4-addr:value = '1.2.3.4'"},
        {"type": "indicator", "pattern": "[ipv4-addr:value = '198.51.100.1']", "valid_from": "2025-09-01", "valid_until": "2025-08-01"}
      ]
    }"#;

    #[test]
    fn stix_bundles_map_or_patterns_and_refuse_the_rest() {
        assert_eq!(detect(BUNDLE), Format::Stix);
        let p = parse(Format::Stix, BUNDLE);
        assert_eq!(
            pairs(&p),
            vec![
                (Ip, "208.68.36.90"),
                (Ip, "44.215.108.109"),
                (Cidr, "185.220.101.0/24"),
                (Ip, "2001:db8::1"),
                (Cidr, "10.0.0.0/8"),
                (UserAgent, "Python/3.11 aiohttp/3.12.15"),
                (UserAgentContains, "aiohttp"),
                (UserAgent, "python-requests/2.32.4"),
                (UserAgent, "it's \\ ok"),
                (Ip, "192.0.2.1"),
                (Ip, "192.0.2.2"),
                (Ip, "198.51.100.7"),
            ]
        );
        let first = &p.indicators[0];
        assert_eq!(first.note.as_deref(), Some("Drift exfil"));
        assert_eq!(first.valid_from, Some(t("2025-08-08T00:00:00Z")));
        assert_eq!(first.valid_to, Some(t("2025-08-19T00:00:00Z")));
        assert_eq!(p.indicators[2].note.as_deref(), Some("Tor exits"));
        assert_eq!(p.indicators[2].valid_to, None);

        assert_eq!(err_lines(&p), vec![6, 7, 8, 9, 11, 12, 15, 16]);
        let m: Vec<&str> = p.errors.iter().map(|e| e.message.as_str()).collect();
        assert!(
            m[0].starts_with("pattern not expressible: `user-account:account_login`"),
            "{}",
            m[0]
        );
        assert!(m[1].contains("`AND` is not supported"), "{}", m[1]);
        assert!(m[2].contains("`WITHIN` is not supported"), "{}", m[2]);
        assert!(m[3].contains("pattern_type `sigma`"), "{}", m[3]);
        assert!(m[4].contains("neither '%text%'"), "{}", m[4]);
        assert!(m[5].contains("is not IPv4"), "{}", m[5]);
        assert!(m[6].contains("expected OR or `]`"), "{}", m[6]);
        assert!(m[7].contains("window is empty"), "{}", m[7]);
    }

    #[test]
    fn stix_lists_of_indicators_and_raw_patterns_in_text() {
        let list = r#"[{"type": "indicator", "pattern": "[ipv6-addr:value = '2001:db8:0::7']"}]"#;
        assert_eq!(detect(list), Format::Stix);
        assert_eq!(pairs(&parse(Format::Stix, list)), vec![(Ip, "2001:db8::7")]);
        let text = "[ipv4-addr:value = '203.0.113.0/24'] OR [ipv4-addr:value = '203.0.113.5']\n\
                    [file:name = 'x']\n";
        assert_eq!(detect(text), Format::Text);
        let p = parse(Format::Text, text);
        assert_eq!(
            pairs(&p),
            vec![(Cidr, "203.0.113.0/24"), (Ip, "203.0.113.5")]
        );
        assert_eq!(err_lines(&p), vec![2]);
        assert!(p.errors[0].message.starts_with("pattern not expressible"));
    }

    #[test]
    fn detect_tells_the_formats_apart() {
        assert_eq!(
            detect("[{\"type\":\"ip\",\"value\":\"1.2.3.4\"}]"),
            Format::Json
        );
        assert_eq!(detect("\u{feff}  {\"indicators\": []}"), Format::Json);
        assert_eq!(detect("{not json"), Format::Json);
        assert_eq!(detect("{\"type\":\"bundle\",\"objects\":[]}"), Format::Stix);
        assert_eq!(
            detect("# c\n\nType, Value ,note\nip,1.2.3.4,x"),
            Format::Csv
        );
        assert_eq!(detect("\"kind\",\"value\"\n"), Format::Csv);
        assert_eq!(detect("1.2.3.4\nua: x"), Format::Text);
        assert_eq!(detect("value,type_of\n"), Format::Text);
        assert_eq!(detect(""), Format::Text);
        assert_eq!("STIX".parse::<Format>(), Ok(Format::Stix));
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn duplicates_are_kept_once_per_window() {
        let p = parse(
            Format::Json,
            r#"[{"type":"ip","value":"1.2.3.4"},{"type":"ipv4","value":" 1.2.3.4 "},
                {"type":"ip","value":"1.2.3.4","valid_from":"2025-01-01"},
                {"type":"ua","value":"X"},{"type":"ua","value":"x"}]"#,
        );
        assert_eq!(p.indicators.len(), 4);
        assert!(p.errors.is_empty());
    }

    #[test]
    fn one_parse_keeps_at_most_the_limit() {
        let n = MAX_INDICATORS + 5;
        let mut input = String::with_capacity(n * 16);
        for i in 0..n {
            input.push_str(&format!("10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255));
        }
        let p = parse(detect(&input), &input);
        assert_eq!(p.indicators.len(), MAX_INDICATORS);
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, MAX_INDICATORS + 1);
        assert!(p.errors[0].message.contains("200000"), "{}", p.errors[0]);
    }

    #[test]
    fn errors_past_the_cap_are_counted() {
        let input = "junk\n".repeat(MAX_ERRORS + 7) + "1.2.3.4\n";
        let p = parse(Format::Text, &input);
        assert_eq!(pairs(&p), vec![(Ip, "1.2.3.4")]);
        assert_eq!(p.errors.len(), MAX_ERRORS + 1);
        let last = p.errors.last().unwrap();
        assert_eq!(last.line, LineError::WHOLE_INPUT);
        assert_eq!(last.message, "7 more errors not listed");
    }

    #[test]
    fn notes_are_bounded_and_cleaned() {
        let desc = "x".repeat(5000);
        let input = format!(
            r#"[{{"type":"ip","value":"1.2.3.4","note":"a\u0007b"}},
                {{"type":"ip","value":"1.2.3.5","note":"{desc}"}}]"#
        );
        let p = parse(Format::Json, &input);
        assert_eq!(p.indicators[0].note.as_deref(), Some("a b"));
        assert_eq!(
            p.indicators[1].note.as_ref().unwrap().chars().count(),
            MAX_NOTE_LEN + 1
        );
    }

    #[test]
    fn shipped_sets_parse_and_are_normalised() {
        let sets = shipped();
        assert_eq!(sets.len(), SHIPPED.len());
        for set in &sets {
            assert!(!set.indicators.is_empty(), "{}", set.name);
            assert!(set.source_url.starts_with("https://"), "{}", set.name);
            for ind in &set.indicators {
                let norm = Indicator::new(ind.kind, &ind.value).unwrap();
                assert_eq!((norm.kind, &norm.value), (ind.kind, &ind.value));
                assert!(ind.note.is_some(), "{} {}", set.name, ind.value);
                assert!(ind.valid_from.is_none() && ind.valid_to.is_none());
            }
            // A shipped file is also a valid JSON import, with no loss.
            let text = serde_json::to_string(set).unwrap();
            assert_eq!(detect(&text), Format::Json);
            let p = parse(Format::Json, &text);
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            assert_eq!(p.indicators, set.indicators, "{}", set.name);
        }
        let drift = sets
            .iter()
            .find(|s| s.name.starts_with("Salesloft Drift"))
            .unwrap();
        assert_eq!(
            drift.published,
            NaiveDate::from_ymd_opt(2025, 8, 26).unwrap()
        );
        let ips = drift.indicators.iter().filter(|i| i.kind == Ip).count();
        assert_eq!(ips, 20);
        let uas = drift
            .indicators
            .iter()
            .filter(|i| i.kind == UserAgent)
            .count();
        assert_eq!(uas, 4);
        let gainsight = sets
            .iter()
            .find(|s| s.name.starts_with("Gainsight"))
            .unwrap();
        assert!(
            gainsight
                .indicators
                .iter()
                .any(|i| (i.kind, i.value.as_str()) == (Ip, "3.239.45.43"))
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panic(s in "\\PC{0,400}") {
            let p = parse(detect(&s), &s);
            proptest::prop_assert!(p.indicators.len() <= s.lines().count().max(1) * 64);
        }

        #[test]
        fn any_string_in_every_format(s in proptest::prelude::any::<String>()) {
            for f in [Format::Text, Format::Csv, Format::Json, Format::Stix] {
                let p = parse(f, &s);
                for i in &p.indicators {
                    proptest::prop_assert!(i.value.chars().count() <= MAX_VALUE_LEN);
                    proptest::prop_assert!(!i.value.chars().any(is_forbidden));
                }
            }
        }

        #[test]
        fn any_bytes_lossily_decoded(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse(detect(&s), &s);
        }

        /// Near-miss patterns reach deep into the pattern parser.
        #[test]
        fn any_pattern_in_a_bundle(p in "[\\[\\]() ]{0,3}(ipv4-addr:value|network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'|ipv6-addr:value|[a-z:'.-]{0,20}) {0,2}(=|LIKE|ISSUBSET|IN|AND|OR|!=)? ?('[^']{0,20}'|\\('[0-9./:]{0,12}', ?'[a-z%_]{0,8}'\\))?[\\[\\]() ]{0,3}( (OR|AND) \\[[^\\]]{0,30}\\])?") {
            let bundle = serde_json::json!({"type": "bundle", "objects": [{"type": "indicator", "pattern": p}]}).to_string();
            let parsed = parse(detect(&bundle), &bundle);
            // Each indicator object yields indicators or one error, not both.
            proptest::prop_assert!(parsed.indicators.is_empty() || parsed.errors.is_empty());
            proptest::prop_assert!(parsed.errors.len() <= 1);
            let _ = parse(Format::Text, &p);
        }
    }
}
