//! The app inventory's entries and its CSV form, so an existing spreadsheet
//! can be brought in and kept. Import is all or nothing: any bad row and no
//! row is taken, with every problem reported by line.

use serde::{Deserialize, Serialize};

pub const STATUSES: [&str; 3] = ["approved", "under_review", "not_approved"];
pub const CRITICALITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// The columns of the CSV, in order.
pub const COLUMNS: [&str; 9] = [
    "name",
    "consumer_key",
    "owner_team",
    "business_purpose",
    "expected_users",
    "criticality",
    "status",
    "vendor_url",
    "notes",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    pub name: String,
    pub consumer_key: Option<String>,
    pub owner_team: Option<String>,
    pub business_purpose: Option<String>,
    pub expected_users: Option<i32>,
    pub criticality: Option<String>,
    pub status: String,
    pub vendor_url: Option<String>,
    pub notes: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.chars().take(2000).collect())
}

impl InventoryEntry {
    /// Checks and normalises one entry; the message says what to fix.
    pub fn validated(mut self) -> Result<InventoryEntry, String> {
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() || self.name.chars().count() > 255 {
            return Err("the name is required (at most 255 characters)".into());
        }
        self.status = self.status.trim().to_lowercase().replace([' ', '-'], "_");
        if self.status.is_empty() {
            self.status = "under_review".into();
        }
        if !STATUSES.contains(&self.status.as_str()) {
            return Err(format!(
                "status {:?} is not one of approved, under_review, not_approved",
                self.status
            ));
        }
        if let Some(c) = &mut self.criticality {
            *c = c.trim().to_lowercase();
            if !CRITICALITIES.contains(&c.as_str()) {
                return Err(format!(
                    "criticality {c:?} is not one of low, medium, high, critical"
                ));
            }
        }
        if let Some(u) = &self.vendor_url {
            let ok = url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"));
            if !ok {
                return Err(format!("vendor_url {u:?} is not an http(s) link"));
            }
        }
        if self.expected_users.is_some_and(|n| n < 0) {
            return Err("expected_users cannot be negative".into());
        }
        Ok(self)
    }
}

/// Problems of an import, by CSV line number (1 = the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors(pub Vec<(u64, String)>);

impl std::fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (line, msg) in &self.0 {
            writeln!(f, "line {line}: {msg}")?;
        }
        Ok(())
    }
}

/// Parses an inventory CSV. The header names the columns (any order; only
/// `name` is required; unknown columns are ignored).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<InventoryEntry>, ImportErrors> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
            .collect::<Vec<_>>(),
        Err(e) => {
            return Err(ImportErrors(vec![(
                1,
                format!("cannot read the header: {e}"),
            )]));
        }
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let Some(name_col) = col("name") else {
        return Err(ImportErrors(vec![(
            1,
            "the header has no `name` column".into(),
        )]));
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let get = |name: &str| col(name).and_then(|c| record.get(c)).unwrap_or("");
        let expected_users = match get("expected_users").trim() {
            "" => None,
            n => match n.replace([',', '_'], "").parse::<i32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    errors.push((line, format!("expected_users {n:?} is not a whole number")));
                    continue;
                }
            },
        };
        let entry = InventoryEntry {
            name: record.get(name_col).unwrap_or("").to_owned(),
            consumer_key: opt(get("consumer_key")),
            owner_team: opt(get("owner_team")),
            business_purpose: opt(get("business_purpose")),
            expected_users,
            criticality: opt(get("criticality")),
            status: get("status").to_owned(),
            vendor_url: opt(get("vendor_url")),
            notes: opt(get("notes")),
        };
        match entry.validated() {
            Ok(e) => {
                if !seen.insert(e.name.to_lowercase()) {
                    errors.push((line, format!("{:?} appears twice", e.name)));
                } else {
                    entries.push(e);
                }
            }
            Err(msg) => errors.push((line, msg)),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(ImportErrors(errors))
    }
}

/// Cells starting like a formula are prefixed with `'` so a spreadsheet
/// shows them as text (names are third-party data).
pub fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

pub fn to_csv(entries: &[InventoryEntry]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for e in entries {
        let _ = w.write_record([
            defuse(&e.name),
            defuse(e.consumer_key.as_deref().unwrap_or("")),
            defuse(e.owner_team.as_deref().unwrap_or("")),
            defuse(e.business_purpose.as_deref().unwrap_or("")),
            e.expected_users.map(|n| n.to_string()).unwrap_or_default(),
            e.criticality.clone().unwrap_or_default(),
            e.status.clone(),
            e.vendor_url.clone().unwrap_or_default(),
            defuse(e.notes.as_deref().unwrap_or("")),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// Any file at all: entries or per-line errors, never a panic, and
        /// never more entries than lines.
        #[test]
        fn any_bytes_import_or_fail_by_line(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
            match parse_csv(&bytes) {
                Ok(entries) => proptest::prop_assert!(entries.len() <= lines),
                Err(errors) => proptest::prop_assert!(!errors.0.is_empty()),
            }
        }
    }

    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let csv = "\u{feff}Name,Status,Expected_Users,Owner_Team,Vendor_URL,criticality,extra\n\
                   Drift,not approved,40,Marketing,https://drift.example,High,x\n\
                   \"Acme, \"\"Sync\"\"\",approved,\"1,200\",IT,,,\n";
        let entries = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].status, "not_approved");
        assert_eq!(entries[0].criticality.as_deref(), Some("high"));
        assert_eq!(entries[1].name, "Acme, \"Sync\"");
        assert_eq!(entries[1].expected_users, Some(1200));
        let again = parse_csv(&to_csv(&entries)).unwrap();
        assert_eq!(again, entries);
    }

    #[test]
    fn any_bad_row_rejects_the_import_with_every_problem() {
        let csv = "name,status,expected_users,vendor_url\n\
                   Ok app,approved,,\n\
                   ,approved,,\n\
                   Bad status,maybe,,\n\
                   Bad number,approved,lots,\n\
                   Bad link,approved,,javascript:alert(1)\n\
                   ok app,approved,,\n";
        let errs = parse_csv(csv.as_bytes()).unwrap_err();
        let lines: Vec<u64> = errs.0.iter().map(|e| e.0).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7], "{errs}");
        assert!(
            parse_csv(b"title,status\nx,approved\n").is_err(),
            "no name column"
        );
    }

    #[test]
    fn formulas_are_defused_on_export() {
        let e = InventoryEntry {
            name: "=HYPERLINK(\"x\")".into(),
            status: "approved".into(),
            ..Default::default()
        };
        let out = String::from_utf8(to_csv(&[e])).unwrap();
        assert!(out.contains("'=HYPERLINK"), "{out}");
    }
}
