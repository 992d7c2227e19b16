//! Charts as inline SVG drawn on the server: geometry is computed here and the
//! templates (the `bar_chart` and `line_chart` macros of `macros.html`) only
//! place it with presentation attributes, so the strict CSP holds and the
//! charts work without JavaScript. Each chart also has a text table for
//! screen readers.

use chrono::{DateTime, NaiveDate, Utc};

use crate::filters::grouped;

pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 160.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

/// One bar segment; `label` is shown on hover (SVG `<title>`).
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub fill: &'static str,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub bars: Vec<Bar>,
    pub max_label: String,
    pub first_label: String,
    pub last_label: String,
    /// Day, first value, second value: the accessible table.
    pub rows: Vec<(String, i64, i64)>,
    pub legend: [(&'static str, &'static str); 2],
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// A bar per day over `days` days ending at `last`, each stacked from two
/// values (e.g. successful requests and errors). Days without data are 0.
pub fn daily_bars(
    title: &str,
    last: NaiveDate,
    days: u32,
    data: &[(NaiveDate, i64, i64)],
    legend: [(&'static str, &'static str); 2],
) -> BarChart {
    let first = last - chrono::Duration::days(i64::from(days) - 1);
    let mut values = vec![(0i64, 0i64); days as usize];
    for (d, a, b) in data {
        let i = (*d - first).num_days();
        if (0..i64::from(days)).contains(&i) {
            values[i as usize] = (*a, *b);
        }
    }
    let max = values.iter().map(|(a, b)| a + b).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT - 4.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = plot_w / f64::from(days);
    let mut bars = Vec::new();
    let mut rows = Vec::new();
    for (i, (a, b)) in values.iter().enumerate() {
        let day = first + chrono::Duration::days(i as i64);
        let x = LEFT + slot * i as f64 + slot * 0.1;
        let ha = plot_h * (*a as f64) / max as f64;
        let hb = plot_h * (*b as f64) / max as f64;
        let base = HEIGHT - BOTTOM;
        let label = format!(
            "{}: {} {}, {} {}",
            day.format("%Y-%m-%d"),
            grouped(*a),
            legend[0].0,
            grouped(*b),
            legend[1].0
        );
        if *a > 0 {
            bars.push(Bar {
                x: fmt(x),
                y: fmt(base - ha),
                w: fmt(slot * 0.8),
                h: fmt(ha),
                fill: legend[0].1,
                label: label.clone(),
            });
        }
        if *b > 0 {
            bars.push(Bar {
                x: fmt(x),
                y: fmt(base - ha - hb),
                w: fmt(slot * 0.8),
                h: fmt(hb),
                fill: legend[1].1,
                label,
            });
        }
        rows.push((day.format("%Y-%m-%d").to_string(), *a, *b));
    }
    BarChart {
        title: title.to_owned(),
        bars,
        max_label: grouped(max),
        first_label: first.format("%b %-d").to_string(),
        last_label: last.format("%b %-d").to_string(),
        rows,
        legend,
    }
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: &'static str,
    pub stroke: &'static str,
    /// The `points` attribute of a `<polyline>`.
    pub points: String,
    pub last: String,
}

#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub series: Vec<Series>,
    pub max_label: String,
    pub first_label: String,
    pub last_label: String,
    pub rows: Vec<(String, Vec<i64>)>,
    pub names: Vec<&'static str>,
}

/// Lines over time; every series shares the time axis and a y axis from 0.
pub fn trend(
    title: &str,
    points: &[(DateTime<Utc>, Vec<i64>)],
    series: &[(&'static str, &'static str)],
) -> Option<LineChart> {
    let (t0, t1) = (points.first()?.0, points.last()?.0);
    let span = (t1 - t0).num_seconds().max(1) as f64;
    let max = points
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - 4.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let lines = series
        .iter()
        .enumerate()
        .map(|(i, (name, stroke))| {
            let pts: Vec<String> = points
                .iter()
                .map(|(t, v)| {
                    let x = if points.len() == 1 {
                        LEFT + plot_w
                    } else {
                        LEFT + plot_w * (*t - t0).num_seconds() as f64 / span
                    };
                    let y = HEIGHT
                        - BOTTOM
                        - plot_h * v.get(i).copied().unwrap_or(0) as f64 / max as f64;
                    format!("{},{}", fmt(x), fmt(y))
                })
                .collect();
            let pts = if pts.len() == 1 {
                // One snapshot: a flat line across makes it visible.
                let y = pts[0].split(',').nth(1).unwrap_or("0").to_owned();
                format!("{},{y} {}", fmt(LEFT), pts[0])
            } else {
                pts.join(" ")
            };
            Series {
                name,
                stroke,
                points: pts,
                last: grouped(
                    points
                        .last()
                        .and_then(|(_, v)| v.get(i).copied())
                        .unwrap_or(0),
                ),
            }
        })
        .collect();
    Some(LineChart {
        title: title.to_owned(),
        series: lines,
        max_label: grouped(max),
        first_label: t0.format("%b %-d").to_string(),
        last_label: t1.format("%b %-d").to_string(),
        rows: points
            .iter()
            .map(|(t, v)| (t.format("%Y-%m-%d %H:%M UTC").to_string(), v.clone()))
            .collect(),
        names: series.iter().map(|(n, _)| *n).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn bars_scale_to_the_busiest_day_and_fill_missing_days() {
        let chart = daily_bars(
            "Requests",
            d("2026-11-30"),
            30,
            &[
                (d("2026-11-30"), 900, 100),
                (d("2026-11-01"), 10, 0),
                (d("2026-10-01"), 5, 5),
            ],
            [("requests", "#0b5cad"), ("errors", "#b42318")],
        );
        assert_eq!(chart.rows.len(), 30);
        assert_eq!(chart.rows[0], ("2026-11-01".to_owned(), 10, 0));
        assert_eq!(chart.max_label, "1,000");
        // The busiest day reaches the top of the plot.
        let top = chart.bars.iter().find(|b| b.fill == "#b42318").unwrap();
        assert_eq!(top.y, fmt(TOP));
        assert!(top.label.contains("2026-11-30: 900 requests, 100 errors"));
        // Out-of-range days are ignored; empty days draw nothing.
        assert_eq!(chart.bars.len(), 3);
    }

    #[test]
    fn trend_lines_span_the_plot() {
        let t = |h: i64| DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap();
        let chart = trend(
            "Tokens",
            &[(t(0), vec![10, 2]), (t(24), vec![20, 4])],
            &[("tokens", "#0b5cad"), ("apps", "#1a7f37")],
        )
        .unwrap();
        assert_eq!(chart.series[0].points, "56.0,74.0 636.0,8.0");
        assert_eq!(chart.series[1].last, "4");
        assert!(trend("x", &[], &[("a", "#000")]).is_none());
    }
}
