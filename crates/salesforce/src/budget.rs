//! The `Sforce-Limit-Info` header: `api-usage=25/5000; per-app-api-usage=17/250(appName=x)`.

/// API usage as last reported by Salesforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
    pub per_app: Option<PerAppUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerAppUsage {
    pub used: u64,
    pub max: u64,
    pub app_name: Option<String>,
}

impl ApiUsage {
    /// Parse a `Sforce-Limit-Info` header value; `None` when it holds no `api-usage`.
    pub fn parse(header: &str) -> Option<Self> {
        let mut usage: Option<(u64, u64)> = None;
        let mut per_app = None;
        for part in header.split(';') {
            let part = part.trim();
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            match key.trim() {
                "api-usage" => usage = parse_fraction(value),
                "per-app-api-usage" => {
                    let (frac, rest) = match value.split_once('(') {
                        Some((f, r)) => (f, Some(r)),
                        None => (value, None),
                    };
                    if let Some((used, max)) = parse_fraction(frac) {
                        let app_name = rest
                            .map(|r| r.trim_end_matches(')'))
                            .and_then(|r| r.strip_prefix("appName="))
                            .map(str::to_owned);
                        per_app = Some(PerAppUsage {
                            used,
                            max,
                            app_name,
                        });
                    }
                }
                _ => {}
            }
        }
        usage.map(|(used, max)| ApiUsage { used, max, per_app })
    }

    /// True when `used` has reached `share` of `max` (org-wide, or per app when the app has a cap).
    pub fn exceeds(&self, share: f64) -> bool {
        Self::over(self.used, self.max, share)
            || self
                .per_app
                .as_ref()
                .is_some_and(|p| Self::over(p.used, p.max, share))
    }

    pub(crate) fn over(used: u64, max: u64, share: f64) -> bool {
        max > 0 && used as f64 >= share * max as f64
    }
}

fn parse_fraction(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.trim().split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_per_app() {
        assert_eq!(
            ApiUsage::parse("api-usage=10018/100000"),
            Some(ApiUsage {
                used: 10018,
                max: 100000,
                per_app: None
            })
        );
        let u = ApiUsage::parse(
            "api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)",
        )
        .unwrap();
        assert_eq!(u.used, 25);
        let p = u.per_app.unwrap();
        assert_eq!((p.used, p.max), (17, 250));
        assert_eq!(p.app_name.as_deref(), Some("sample-connected-app"));
        assert_eq!(ApiUsage::parse("garbage"), None);
        assert_eq!(ApiUsage::parse("api-usage=x/y"), None);
    }

    #[test]
    fn threshold() {
        let u = ApiUsage::parse("api-usage=75/100").unwrap();
        assert!(u.exceeds(0.75));
        assert!(!u.exceeds(0.76));
        let per_app =
            ApiUsage::parse("api-usage=1/100; per-app-api-usage=9/10(appName=a)").unwrap();
        assert!(per_app.exceeds(0.75));
        assert!(!ApiUsage::parse("api-usage=5/0").unwrap().exceeds(0.75));
    }
}
