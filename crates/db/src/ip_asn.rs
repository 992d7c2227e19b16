//! Which autonomous system an address belongs to, from a table the operator
//! loads (`oauth-cockpit asn load`): address ranges with their AS number,
//! country and name.

use std::net::IpAddr;

use sqlx::PgPool;
use sqlx::types::ipnet::IpNet;

/// One range of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub start: IpAddr,
    pub end: IpAddr,
    pub asn: i64,
    pub country: Option<String>,
    pub name: Option<String>,
}

/// Replaces the table with `ranges`, in one transaction.
pub async fn replace(pool: &PgPool, ranges: &[Range]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query!("DELETE FROM ip_asn").execute(&mut *tx).await?;
    for chunk in ranges.chunks(10_000) {
        let starts: Vec<IpNet> = chunk.iter().map(|r| IpNet::from(r.start)).collect();
        let ends: Vec<IpNet> = chunk.iter().map(|r| IpNet::from(r.end)).collect();
        let text = |f: fn(&Range) -> &Option<String>| -> Vec<Option<String>> {
            chunk.iter().map(|r| f(r).clone()).collect()
        };
        sqlx::query!(
            "INSERT INTO ip_asn (range_start, range_end, asn, country, name)
             SELECT * FROM unnest($1::inet[], $2::inet[], $3::int8[], $4::text[], $5::text[])",
            &starts,
            &ends,
            &chunk.iter().map(|r| r.asn).collect::<Vec<_>>(),
            &text(|r| &r.country) as &[Option<String>],
            &text(|r| &r.name) as &[Option<String>],
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The autonomous system of an address: "AS13335 Cloudflare" style, or
/// `None` when no loaded range holds it (or the range is not routed).
pub async fn lookup(pool: &PgPool, ip: IpAddr) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query!(
        r#"SELECT asn, name FROM (
               SELECT asn, name, range_end FROM ip_asn
               WHERE range_start <= $1 AND family(range_start) = family($1)
               ORDER BY range_start DESC LIMIT 1) r
           WHERE r.range_end >= $1 AND r.asn > 0"#,
        IpNet::from(ip)
    )
    .fetch_optional(pool)
    .await?
    .map(|r| label(r.asn, r.name.as_deref())))
}

/// How an AS is shown.
pub fn label(asn: i64, name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("AS{asn} {n}"),
        None => format!("AS{asn}"),
    }
}
