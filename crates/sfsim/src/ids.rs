//! Salesforce-style record ids derived from sequence numbers.
//!
//! Ids are never stored: a record's id is `prefix + "5g0" + base62(n, 9)` plus the
//! real three-character case-safe checksum, so an 18-char id can be decoded back
//! to its sequence number without any lookup table.

const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub const ORG: &str = "00D";
pub const USER: &str = "005";
pub const PROFILE: &str = "00e";
pub const PERMISSION_SET: &str = "0PS";
pub const PERMISSION_SET_ASSIGNMENT: &str = "0Pa";
pub const CONNECTED_APP: &str = "0H4";
pub const ECA: &str = "0xI";
/// [C] prefix of ExtlClntAppOauthPlcyCnfg is undocumented.
pub const ECA_POLICY: &str = "0Hs";
pub const OAUTH_TOKEN: &str = "0CQ";
pub const EVENT_LOG_FILE: &str = "0AT";
pub const LOGIN_HISTORY: &str = "0Ya";
/// [C] per the reference.
pub const APP_MENU_ITEM: &str = "0DS";
pub const AUDIT_TRAIL: &str = "0Ym";
pub const QUERY_CURSOR: &str = "01g";
pub const DEPLOY: &str = "0Af";

pub fn base62(mut n: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = B62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}

pub fn unbase62(s: &str) -> Option<u64> {
    let mut n: u64 = 0;
    for c in s.bytes() {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        } as u64;
        n = n.checked_mul(62)?.checked_add(d)?;
    }
    Some(n)
}

/// The real 15 -> 18 character checksum: one char per 5-char chunk encoding which
/// characters are upper case.
fn checksum(id15: &str) -> String {
    const MAP: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let b = id15.as_bytes();
    let mut out = String::with_capacity(3);
    for chunk in 0..3 {
        let mut flags = 0usize;
        for i in 0..5 {
            if b[chunk * 5 + i].is_ascii_uppercase() {
                flags |= 1 << i;
            }
        }
        out.push(MAP[flags] as char);
    }
    out
}

/// 18-character id for sequence number `n` (0-based; ids start at 1).
pub fn make_id(prefix: &str, n: u64) -> String {
    let mut s = String::with_capacity(18);
    s.push_str(prefix);
    s.push_str("5g0");
    s.push_str(&base62(n + 1, 9));
    let c = checksum(&s);
    s.push_str(&c);
    s
}

/// Decode a 15- or 18-char id with the given prefix back to its sequence number.
pub fn parse_id(prefix: &str, id: &str) -> Option<u64> {
    if !(id.len() == 15 || id.len() == 18) || !id.is_ascii() || !id.starts_with(prefix) {
        return None;
    }
    if &id[3..6] != "5g0" {
        return None;
    }
    if id.len() == 18 && checksum(&id[..15]) != id[15..].to_ascii_uppercase() {
        return None;
    }
    unbase62(&id[6..15])?.checked_sub(1)
}

/// Whether a string looks like a Salesforce id at all (15 or 18 alphanumerics).
pub fn looks_like_id(s: &str) -> bool {
    (s.len() == 15 || s.len() == 18) && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// The org id for a seed (18 chars).
pub fn org_id(seed: u64) -> String {
    make_id(ORG, seed % 10_000_000 + 4242)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for n in [0u64, 1, 61, 62, 123_456, 999_999] {
            let id = make_id(OAUTH_TOKEN, n);
            assert_eq!(id.len(), 18);
            assert_eq!(parse_id(OAUTH_TOKEN, &id), Some(n));
            assert_eq!(parse_id(OAUTH_TOKEN, &id[..15]), Some(n));
            assert_eq!(parse_id(USER, &id), None);
        }
    }

    #[test]
    fn checksum_matches_known_id() {
        // Known real pair: 001A0000006Vm9r -> 001A0000006Vm9rIAC
        assert_eq!(checksum("001A0000006Vm9r"), "IAC");
    }
}
