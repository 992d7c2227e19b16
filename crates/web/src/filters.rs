//! Template filters: relative times with the exact UTC time on hover, and
//! grouped numbers. Page templates bring them in with `use crate::filters;`.
//!
//! The formatting lives in plain functions (`relative`, `grouped`, …) so it
//! can be tested with a fixed clock; the filters are thin wrappers.

use std::fmt::Write;

use askama::{Result, Values, filters::Safe};
use chrono::{DateTime, Datelike, Timelike, Utc};

/// Something a template may show as a time: a timestamp, or an optional one
/// (shown as "never" when absent).
pub trait AsTime {
    fn as_time(&self) -> Option<DateTime<Utc>>;
}

impl AsTime for DateTime<Utc> {
    fn as_time(&self) -> Option<DateTime<Utc>> {
        Some(*self)
    }
}

impl<T: AsTime> AsTime for Option<T> {
    fn as_time(&self) -> Option<DateTime<Utc>> {
        self.as_ref().and_then(AsTime::as_time)
    }
}

impl<T: AsTime + ?Sized> AsTime for &T {
    fn as_time(&self) -> Option<DateTime<Utc>> {
        (**self).as_time()
    }
}

/// "3 days ago", "in 2 hours", "just now", relative to `now`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (ahead, secs) = if secs < 0 {
        (true, -secs)
    } else {
        (false, secs)
    };
    let (n, unit) = match secs {
        0..45 => return "just now".to_owned(),
        45..5_400 => ((secs + 30) / 60, "minute"),
        5_400..129_600 => ((secs + 1_800) / 3_600, "hour"),
        129_600..3_888_000 => ((secs + 43_200) / 86_400, "day"),
        3_888_000..47_304_000 => ((secs + 1_296_000) / 2_592_000, "month"),
        _ => ((secs + 15_768_000) / 31_536_000, "year"),
    };
    let n = n.max(1);
    let plural = if n == 1 { "" } else { "s" };
    if ahead {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// The `<time>` element for a moment: relative text, exact UTC on hover.
/// Everything in it is produced here from numbers, so it is safe HTML.
pub fn time_html(t: Option<DateTime<Utc>>, now: DateTime<Utc>, never: &str) -> String {
    match t {
        None => format!("<span class=\"never\">{never}</span>"),
        Some(t) => {
            // A page lists hundreds of times: the fields are written directly
            // (what chrono's `%Y-%m-%dT%H:%M:%SZ` and `%Y-%m-%d %H:%M:%S UTC`
            // give for years 0 to 9999) rather than through format strings.
            let (y, mo, d) = (t.year(), t.month(), t.day());
            let (h, mi, s) = (t.hour(), t.minute(), t.second());
            if !(0..=9999).contains(&y) {
                return format!(
                    "<time datetime=\"{}\" title=\"{}\">{}</time>",
                    t.format("%Y-%m-%dT%H:%M:%SZ"),
                    t.format("%Y-%m-%d %H:%M:%S UTC"),
                    relative(t, now)
                );
            }
            let mut out = String::with_capacity(96);
            let _ = write!(
                out,
                "<time datetime=\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z\" \
                 title=\"{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC\">{}</time>",
                relative(t, now)
            );
            out
        }
    }
}

/// 1234567 → "1,234,567".
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Errors as a share of requests: "2.5%", or "–" without requests.
pub fn rate(errors: i64, requests: i64) -> String {
    if requests <= 0 {
        return "–".to_owned();
    }
    let pct = errors as f64 * 100.0 / requests as f64;
    let mut s = String::new();
    if pct > 0.0 && pct < 0.1 {
        s.push_str("<0.1%");
    } else {
        let _ = write!(s, "{pct:.1}%");
    }
    s
}

/// Something a template may show as a grouped number.
pub trait AsNumber {
    fn as_number(&self) -> Option<i64>;
}

macro_rules! as_number {
    ($($t:ty),*) => {$(
        impl AsNumber for $t {
            fn as_number(&self) -> Option<i64> {
                i64::try_from(*self).ok()
            }
        }
    )*};
}
as_number!(i64, i32, u32, u64, usize);

impl<T: AsNumber> AsNumber for Option<T> {
    fn as_number(&self) -> Option<i64> {
        self.as_ref().and_then(AsNumber::as_number)
    }
}

impl<T: AsNumber + ?Sized> AsNumber for &T {
    fn as_number(&self) -> Option<i64> {
        (**self).as_number()
    }
}

/// `{{ t|when }}`: relative time with the exact UTC time on hover.
#[askama::filter_fn]
pub fn when(t: impl AsTime, _: &dyn Values) -> Result<Safe<String>> {
    Ok(Safe(time_html(t.as_time(), Utc::now(), "never")))
}

/// `{{ n|num }}`: 12,345 (or "–" when absent).
#[askama::filter_fn]
pub fn num(n: impl AsNumber, _: &dyn Values) -> Result<String> {
    Ok(n.as_number().map(grouped).unwrap_or_else(|| "–".to_owned()))
}

/// A size in bytes, in the largest unit that keeps it above 1: "1.4 MB".
pub fn size(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut v = n.max(0) as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{} bytes", n.max(0))
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `{{ n|bytes }}`: 1.4 MB.
#[askama::filter_fn]
pub fn bytes(n: impl AsNumber, _: &dyn Values) -> Result<String> {
    Ok(n.as_number().map(size).unwrap_or_else(|| "–".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(1_400_000), "1.4 MB");
        assert_eq!(size(-3), "0 bytes");
    }
    use askama::Template;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = at(0);
        assert_eq!(relative(at(-10), now), "just now");
        assert_eq!(relative(at(-60), now), "1 minute ago");
        assert_eq!(relative(at(-150), now), "3 minutes ago");
        assert_eq!(relative(at(-3_600), now), "60 minutes ago");
        assert_eq!(relative(at(-7_200), now), "2 hours ago");
        assert_eq!(relative(at(-86_400 * 3), now), "3 days ago");
        assert_eq!(relative(at(-86_400 * 90), now), "3 months ago");
        assert_eq!(relative(at(-86_400 * 800), now), "2 years ago");
        assert_eq!(relative(at(7_200), now), "in 2 hours");
    }

    #[test]
    fn time_element_carries_exact_utc() {
        let html = time_html(Some(at(-86_400 * 3)), at(0), "never");
        assert_eq!(
            html,
            "<time datetime=\"2027-01-12T08:00:00Z\" title=\"2027-01-12 08:00:00 UTC\">3 days ago</time>"
        );
        assert!(time_html(None, at(0), "never").contains("never"));
    }

    #[test]
    fn time_element_matches_chrono_formatting() {
        let now = at(0);
        for t in [
            at(-86_400 * 3 + 7),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(12_345, 6, 7, 8, 9, 10).unwrap(),
            Utc.with_ymd_and_hms(5, 1, 2, 3, 4, 5).unwrap(),
        ] {
            assert_eq!(
                time_html(Some(t), now, "never"),
                format!(
                    "<time datetime=\"{}\" title=\"{}\">{}</time>",
                    t.format("%Y-%m-%dT%H:%M:%SZ"),
                    t.format("%Y-%m-%d %H:%M:%S UTC"),
                    relative(t, now)
                )
            );
        }
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(12_345), "12,345");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-1_234_567), "-1,234,567");
        assert_eq!(grouped(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn error_rates() {
        assert_eq!(rate(0, 0), "–");
        assert_eq!(rate(1, 40), "2.5%");
        assert_eq!(rate(1, 100_000), "<0.1%");
        assert_eq!(rate(0, 10), "0.0%");
    }

    #[derive(Template)]
    #[template(
        source = "{{ n|num }} {{ none|num }} {{ t|when }} {{ never|when }}",
        ext = "html"
    )]
    struct Probe {
        n: i64,
        none: Option<i64>,
        t: DateTime<Utc>,
        never: Option<DateTime<Utc>>,
    }

    #[test]
    fn filters_work_in_templates() {
        let html = Probe {
            n: 12_345,
            none: None,
            t: Utc::now() - chrono::Duration::days(3),
            never: None,
        }
        .render()
        .unwrap();
        assert!(html.starts_with("12,345 – <time datetime=\""), "{html}");
        assert!(html.contains(" UTC\">3 days ago</time>"), "{html}");
        assert!(html.ends_with("never</span>"), "{html}");
    }
}
