//! Secrets at rest: refresh tokens, client secrets, private keys and
//! DeleteTokens are sealed with AES-256-GCM under the master key.
//!
//! Each sealing uses a fresh random 96-bit nonce. The associated data binds
//! the ciphertext to its org, its field, the record it belongs to and the key
//! that sealed it, so a ciphertext copied into another row (or another
//! column) fails to open. The sealed form names the key that sealed it, so
//! `keys rotate` can re-seal under a new key while the old one still opens
//! what has not been rotated yet.

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "the master key must be base64 of exactly 32 random bytes (generate one with `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error(
        "stored secret is sealed with key {0}, which is not configured (set it in COCKPIT_PREVIOUS_MASTER_KEYS)"
    )]
    UnknownKey(String),
    #[error("stored secret cannot be opened: it was altered or belongs to another record")]
    Corrupt,
}

/// Which secret a ciphertext holds; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretField {
    RefreshToken,
    ClientSecret,
    PrivateKey,
    DeleteToken,
    /// A single sign-on round trip in progress (PKCE verifier and nonce).
    SsoPending,
    /// A notification channel's URL (Slack's and Teams' carry their
    /// credential); sealed under the nil org, the channel's id as record.
    ChannelTarget,
    /// A webhook channel's signing secret.
    ChannelSecret,
}

impl SecretField {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretField::RefreshToken => "refresh_token",
            SecretField::ClientSecret => "client_secret",
            SecretField::PrivateKey => "private_key",
            SecretField::DeleteToken => "delete_token",
            SecretField::SsoPending => "sso_pending",
            SecretField::ChannelTarget => "channel_target",
            SecretField::ChannelSecret => "channel_secret",
        }
    }
}

/// Where a secret belongs: the org, the field, and optionally the record
/// within the org (for per-token secrets such as DeleteTokens).
#[derive(Debug, Clone, Copy)]
pub struct SecretScope<'a> {
    pub org: Uuid,
    pub field: SecretField,
    pub record: &'a str,
}

impl<'a> SecretScope<'a> {
    pub fn org(org: Uuid, field: SecretField) -> Self {
        SecretScope {
            org,
            field,
            record: "",
        }
    }

    fn aad(&self, key_id: [u8; 4]) -> Vec<u8> {
        format!(
            "oauth-cockpit/v1|org={}|field={}|record={}|key={}",
            self.org,
            self.field.as_str(),
            self.record,
            hex::encode(key_id)
        )
        .into_bytes()
    }
}

/// One 256-bit master key.
pub struct MasterKey {
    key: SecretBox<[u8; 32]>,
    id: [u8; 4],
}

impl MasterKey {
    /// Parses base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<MasterKey, SecretError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| SecretError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(MasterKey::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> MasterKey {
        let digest = Sha256::digest(key);
        let id = [digest[0], digest[1], digest[2], digest[3]];
        MasterKey {
            key: SecretBox::new(Box::new(key)),
            id,
        }
    }

    /// A new random key, as base64 (for the demo and for `keys generate`).
    pub fn generate_base64() -> String {
        let key = Aes256Gcm::generate_key(OsRng);
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// A short public fingerprint naming this key (safe to log and store).
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.key.expose_secret()))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id())
    }
}

/// The current key, which seals, and previous keys, which still open.
#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Keyring {
        Keyring { current, previous }
    }

    pub fn current_id(&self) -> String {
        self.current.id()
    }

    pub fn seal(&self, scope: SecretScope<'_>, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = scope.aad(self.current.id);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // Encryption fails only for inputs over 64 GiB.
            .expect("AES-GCM encryption of a bounded secret");
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn seal_str(&self, scope: SecretScope<'_>, secret: &SecretString) -> Vec<u8> {
        self.seal(scope, secret.expose_secret().as_bytes())
    }

    pub fn open(
        &self,
        scope: SecretScope<'_>,
        sealed: &[u8],
    ) -> Result<SecretBox<Vec<u8>>, SecretError> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != FORMAT_V1 {
            return Err(SecretError::Corrupt);
        }
        let id: [u8; 4] = sealed[1..5].try_into().map_err(|_| SecretError::Corrupt)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SecretError::UnknownKey(hex::encode(id)))?;
        let nonce = Nonce::from_slice(&sealed[5..HEADER_LEN]);
        let aad = scope.aad(id);
        key.cipher()
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map(|p| SecretBox::new(Box::new(p)))
            .map_err(|_| SecretError::Corrupt)
    }

    pub fn open_str(
        &self,
        scope: SecretScope<'_>,
        sealed: &[u8],
    ) -> Result<SecretString, SecretError> {
        let bytes = self.open(scope, sealed)?;
        let text = std::str::from_utf8(bytes.expose_secret()).map_err(|_| SecretError::Corrupt)?;
        Ok(SecretString::from(text.to_owned()))
    }

    /// Whether a sealed value was sealed by another key than the current one.
    pub fn needs_rotation(&self, sealed: &[u8]) -> bool {
        sealed.get(1..5).is_none_or(|id| id != self.current.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(MasterKey::from_bytes([7; 32]), vec![])
    }

    #[test]
    fn round_trip_and_fresh_nonce_each_time() {
        let ring = ring();
        let org = Uuid::new_v4();
        let scope = SecretScope::org(org, SecretField::RefreshToken);
        let a = ring.seal(scope, b"5Aep861-refresh");
        let b = ring.seal(scope, b"5Aep861-refresh");
        assert_ne!(a, b, "nonce must differ");
        assert_eq!(
            ring.open(scope, &a).unwrap().expose_secret().as_slice(),
            b"5Aep861-refresh"
        );
        assert!(
            !a.windows(7).any(|w| w == b"5Aep861"),
            "plaintext visible in ciphertext"
        );
    }

    #[test]
    fn ciphertext_moved_to_another_org_field_or_record_fails() {
        let ring = ring();
        let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = ring.seal(
            SecretScope {
                org,
                field: SecretField::DeleteToken,
                record: "0CQ1",
            },
            b"dt",
        );
        let err = |s| ring.open(s, &sealed).unwrap_err();
        assert_eq!(
            err(SecretScope {
                org: other,
                field: SecretField::DeleteToken,
                record: "0CQ1"
            }),
            SecretError::Corrupt
        );
        assert_eq!(
            err(SecretScope {
                org,
                field: SecretField::ClientSecret,
                record: "0CQ1"
            }),
            SecretError::Corrupt
        );
        assert_eq!(
            err(SecretScope {
                org,
                field: SecretField::DeleteToken,
                record: "0CQ2"
            }),
            SecretError::Corrupt
        );
    }

    #[test]
    fn tampering_is_detected() {
        let ring = ring();
        let scope = SecretScope::org(Uuid::new_v4(), SecretField::ClientSecret);
        let mut sealed = ring.seal(scope, b"secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(ring.open(scope, &sealed).unwrap_err(), SecretError::Corrupt);
        assert_eq!(
            ring.open(scope, &sealed[..10]).unwrap_err(),
            SecretError::Corrupt
        );
    }

    #[test]
    fn rotation_opens_with_previous_key_and_reseals_with_current() {
        let old = Keyring::new(MasterKey::from_bytes([1; 32]), vec![]);
        let scope = SecretScope::org(Uuid::new_v4(), SecretField::PrivateKey);
        let sealed = old.seal(scope, b"-----BEGIN PRIVATE KEY-----");
        let rotated = Keyring::new(
            MasterKey::from_bytes([2; 32]),
            vec![MasterKey::from_bytes([1; 32])],
        );
        assert!(rotated.needs_rotation(&sealed));
        let plain = rotated.open(scope, &sealed).unwrap();
        let resealed = rotated.seal(scope, plain.expose_secret());
        assert!(!rotated.needs_rotation(&resealed));
        let only_new = Keyring::new(MasterKey::from_bytes([2; 32]), vec![]);
        assert!(matches!(
            only_new.open(scope, &sealed),
            Err(SecretError::UnknownKey(_))
        ));
        assert_eq!(
            only_new
                .open(scope, &resealed)
                .unwrap()
                .expose_secret()
                .as_slice(),
            b"-----BEGIN PRIVATE KEY-----"
        );
    }

    #[test]
    fn master_key_parsing() {
        assert!(MasterKey::from_base64(&MasterKey::generate_base64()).is_ok());
        assert_eq!(
            MasterKey::from_base64("c2hvcnQ=").unwrap_err(),
            SecretError::BadKey
        );
        assert_eq!(
            MasterKey::from_base64("not base64!").unwrap_err(),
            SecretError::BadKey
        );
        let dbg = format!("{:?}", MasterKey::from_bytes([9; 32]));
        assert!(!dbg.contains("9, 9"), "{dbg}");
    }
}
