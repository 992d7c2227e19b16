//! Salesforce record ids: 15-character case-sensitive ids (as event logs
//! write them) and their 18-character case-insensitive form (as the APIs
//! return them).

/// The 18-character form of a 15- or 18-character id; `None` for anything else.
pub fn to_18(id: &str) -> Option<String> {
    if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        18 => Some(id.to_owned()),
        15 => {
            const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
            let bytes = id.as_bytes();
            let mut out = id.to_owned();
            for chunk in bytes.chunks(5) {
                let mut bits = 0usize;
                for (i, b) in chunk.iter().enumerate() {
                    if b.is_ascii_uppercase() {
                        bits |= 1 << i;
                    }
                }
                out.push(ALPHABET[bits] as char);
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_conversions() {
        // Worked example from Salesforce's documentation of the checksum.
        assert_eq!(
            to_18("001A0000006Vm9r").as_deref(),
            Some("001A0000006Vm9rIAC")
        );
        assert_eq!(
            to_18("0055g00000AbCdE").as_deref(),
            Some("0055g00000AbCdEAAV")
        );
        assert_eq!(
            to_18("0055g00000AbCdEAAV").as_deref(),
            Some("0055g00000AbCdEAAV")
        );
        assert_eq!(to_18("short"), None);
        assert_eq!(to_18("0055g00000AbC<E"), None);
    }
}
