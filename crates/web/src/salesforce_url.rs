//! Salesforce addresses people type (the My Domain URL of "Connect an org"):
//! the cockpit sends a client secret to that address and then fetches what
//! it names, so only Salesforce's own hosts, or hosts the operator allowed
//! (`--allow-salesforce-host`, which the demo and tests set for sfsim), are
//! accepted.

use std::net::IpAddr;

use url::{Host, Url};

/// Domains Salesforce serves logins and orgs from: production and My
/// Domain (`*.my.salesforce.com`), sandboxes (`*.sandbox.my.salesforce.com`,
/// `test.salesforce.com`), Experience sites (`*.force.com`) and Government
/// Cloud (`*.salesforce.mil`, `*.force.mil`). `cloudforce.com` is the older
/// instance domain. [C] the government list is inferred from Salesforce's
/// published My Domain formats; an operator can allow any other host.
const SALESFORCE_DOMAINS: [&str; 5] = [
    "salesforce.com",
    "force.com",
    "cloudforce.com",
    "salesforce.mil",
    "force.mil",
];

/// The host (and port, when it is not the scheme's default) of a URL, as an
/// allowlist entry names it: `acme.example`, `127.0.0.1:5443`.
fn host_key(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

fn allowed(url: &Url, allow: &[String]) -> bool {
    let Some(key) = host_key(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    allow
        .iter()
        .map(|a| a.trim().to_ascii_lowercase())
        .any(|a| a == key || (url.port().is_none() && a == host))
}

fn salesforce_domain(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    SALESFORCE_DOMAINS
        .iter()
        .any(|d| host.ends_with(&format!(".{d}")))
}

/// An address no Salesforce org is at: loopback, private, link-local,
/// unspecified, multicast, and their IPv6 forms.
fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Checks a URL someone typed. The reason, when refused, is a sentence to
/// show them.
pub async fn check(raw: &str, allow: &[String]) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .map_err(|_| "Enter the My Domain URL, like https://acme.my.salesforce.com.".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL must not carry a user name or password.".into());
    }
    if allowed(&url, allow) {
        // Allowed by the operator: http too (sfsim on loopback).
        return match url.scheme() {
            "https" | "http" => Ok(url),
            _ => Err("The My Domain URL must be an https:// address.".into()),
        };
    }
    if url.scheme() != "https" {
        return Err("The My Domain URL must be an https:// address.".into());
    }
    if url.port().is_some() {
        return Err("Salesforce is reached on the standard https port: remove the port.".into());
    }
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_owned(),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => {
            return Err("Enter the org's My Domain name, not an IP address.".into());
        }
        None => return Err("The URL has no host.".into()),
    };
    if !salesforce_domain(&host) {
        return Err(
            "That is not a Salesforce address (…my.salesforce.com, …force.com). An operator can allow \
             other hosts with --allow-salesforce-host."
                .into(),
        );
    }
    // A Salesforce name that resolves inside our network is refused too.
    let addrs = tokio::net::lookup_host((host.as_str(), 443))
        .await
        .map_err(|_| format!("{host} could not be found. Check the My Domain name."))?;
    for a in addrs {
        if internal(a.ip()) {
            return Err(format!(
                "{host} resolves to an internal address; it is not a Salesforce org."
            ));
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_salesforce_hosts_or_the_allowlist() {
        let none: Vec<String> = Vec::new();
        for bad in [
            "http://acme.my.salesforce.com",
            "https://user:pass@acme.my.salesforce.com",
            "https://127.0.0.1",
            "https://0x7f000001",
            "https://[::1]",
            "https://169.254.169.254/latest/meta-data",
            "https://evil.example",
            "https://salesforce.com.evil.example",
            "https://acme.my.salesforce.com:8443",
            "ftp://acme.my.salesforce.com",
            "javascript:alert(1)",
            "http://localhost:8080",
        ] {
            assert!(check(bad, &none).await.is_err(), "{bad}");
        }
        let allow = vec!["127.0.0.1:5443".to_owned()];
        assert!(check("http://127.0.0.1:5443", &allow).await.is_ok());
        assert!(check("http://127.0.0.1:5444", &allow).await.is_err());
        assert!(check("http://u:p@127.0.0.1:5443", &allow).await.is_err());
        assert!(salesforce_domain("acme.my.salesforce.com"));
        assert!(salesforce_domain("acme--uat.sandbox.my.salesforce.com"));
        assert!(salesforce_domain("acme.my.site.force.com"));
        assert!(!salesforce_domain("salesforce.com.evil.example"));
        assert!(!salesforce_domain("evilsalesforce.com"));
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        assert!(!internal("13.110.0.1".parse().unwrap()));
    }
}
