//! `oauth-cockpit asn load FILE`: the table of address ranges to autonomous
//! systems the app pages name networks with. The file is iptoasn.com's free
//! format (`ip2asn-v4.tsv`, `ip2asn-v6.tsv` or `ip2asn-combined.tsv`,
//! optionally gzipped): `range_start`, `range_end`, `AS_number`,
//! `country_code`, `AS_description`, tab-separated. Hand-written: five
//! columns of text, and no maintained crate reads this format.

use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use cockpit_db::ip_asn::Range;

use crate::cli::DbArgs;

#[derive(Debug, Subcommand)]
pub enum AsnCommand {
    /// Replace the table with a file in iptoasn.com's format (`.tsv` or `.tsv.gz`).
    Load {
        /// The file.
        file: std::path::PathBuf,
    },
}

/// Lines longer than this are refused (the longest real ones are ~150 bytes).
const MAX_LINE: usize = 4096;

/// One line of the file; `Err` says what is wrong with it.
pub fn parse_line(line: &str) -> Result<Range, String> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 3 {
        return Err("fewer than three tab-separated fields".into());
    }
    let ip = |s: &str| -> Result<IpAddr, String> {
        s.trim().parse().map_err(|_| {
            format!(
                "{:?} is not an IP address",
                s.chars().take(60).collect::<String>()
            )
        })
    };
    let (start, end) = (ip(f[0])?, ip(f[1])?);
    if start.is_ipv4() != end.is_ipv4() || start > end {
        return Err("the range does not run from its start to its end".into());
    }
    let asn: i64 = f[2]
        .trim()
        .trim_start_matches("AS")
        .parse()
        .ok()
        .filter(|n| (0..=u32::MAX as i64).contains(n))
        .ok_or_else(|| "the AS number is not a number".to_owned())?;
    let text = |i: usize, max: usize| {
        f.get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty() && *s != "None")
            .map(|s| s.chars().filter(|c| !c.is_control()).take(max).collect())
    };
    Ok(Range {
        start,
        end,
        asn,
        country: text(3, 8),
        name: text(4, 255),
    })
}

pub async fn run(db: &DbArgs, cmd: AsnCommand) -> anyhow::Result<()> {
    let AsnCommand::Load { file } = cmd;
    let raw =
        std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let reader: Box<dyn Read> = if file.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let (mut ranges, mut bad) = (Vec::new(), Vec::new());
    for (n, line) in BufReader::new(reader).split(b'\n').enumerate() {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        if line.len() > MAX_LINE {
            bad.push(format!("line {}: longer than {MAX_LINE} bytes", n + 1));
            continue;
        }
        let line = String::from_utf8_lossy(&line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(&line) {
            Ok(r) => ranges.push(r),
            Err(e) => bad.push(format!("line {}: {e}", n + 1)),
        }
    }
    if !bad.is_empty() {
        for b in bad.iter().take(20) {
            eprintln!("{b}");
        }
        bail!(
            "{} line(s) of {} could not be read; the table is unchanged",
            bad.len(),
            file.display()
        );
    }
    if ranges.is_empty() {
        bail!("{} holds no range; the table is unchanged", file.display());
    }
    let pool = crate::serve::open_database(db).await?;
    cockpit_db::ip_asn::replace(&pool, &ranges).await?;
    println!("{} address ranges loaded", ranges.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_iptoasn_format() {
        let r = parse_line("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET").unwrap();
        assert_eq!(r.asn, 13335);
        assert_eq!(r.name.as_deref(), Some("CLOUDFLARENET"));
        let r = parse_line(
            "2001:200::\t2001:200:ffff:ffff:ffff:ffff:ffff:ffff\t2500\tJP\tWIDE-BB WIDE",
        )
        .unwrap();
        assert!(r.start.is_ipv6());
        let r = parse_line("0.0.0.0\t0.255.255.255\t0\tNone\tNot routed").unwrap();
        assert_eq!((r.asn, r.country), (0, None));
        assert!(
            parse_line("1.0.0.9\t1.0.0.1\t1\tUS\tx").is_err(),
            "backwards"
        );
        assert!(
            parse_line("1.0.0.0\t::1\t1\tUS\tx").is_err(),
            "mixed families"
        );
        assert!(parse_line("nonsense").is_err());
        assert!(parse_line("1.0.0.0\t1.0.0.1\tAS-X\tUS\tx").is_err());
    }
}
