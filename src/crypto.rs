//! Secrets at rest: AES-256-GCM under named keys, so keys can rotate.
//!
//! `PATCHBAY_ENCRYPTION_KEYS` lists keys as `id:base64,id:base64`. The first
//! encrypts; every listed key decrypts. Each sealed value records the id of
//! the key that sealed it, and is bound to the row and column it lives in
//! (the associated data), so a ciphertext copied elsewhere does not open.

use std::{fmt, path::Path};

use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;

use crate::secret_file;

/// The file, in the data directory, holding the embedded setup's key.
pub const LOCAL_KEY_FILE: &str = "encryption-keys";

const NONCE_LEN: usize = 12;
/// The first byte of every sealed value: the format, for future changes.
const FORMAT_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no encryption keys are configured")]
    NoKeys,
    #[error("encryption key entry {index} is not `id:base64-key`")]
    KeyEntry { index: usize },
    #[error("encryption key id {id:?} must be 1 to 32 letters, digits, `-` or `_`")]
    KeyId { id: String },
    #[error("encryption key {id:?} is listed twice")]
    DuplicateKey { id: String },
    #[error("encryption key {id:?} is not 32 bytes of base64")]
    KeyMaterial { id: String },
    #[error("a value is sealed under key {id:?}, which is not configured")]
    UnknownKey { id: String },
    #[error("a sealed value is corrupt or was moved from another row")]
    Corrupt,
    #[error("reading or creating the local key file {path}")]
    LocalKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A value sealed by [`Keyring::seal`]: the key id and `version ‖ nonce ‖ ciphertext ‖ tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

struct NamedKey {
    id: String,
    cipher: Aes256Gcm,
    /// Derived from the key; keys fingerprints so they reveal nothing even
    /// for low-entropy secrets.
    fingerprint_key: [u8; 32],
}

/// The configured keys; the first one is current.
pub struct Keyring {
    keys: Vec<NamedKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// Parses `id:base64,id:base64` (standard or URL-safe base64).
    pub fn parse(spec: &str) -> Result<Self, CryptoError> {
        let mut keys: Vec<(String, [u8; 32])> = Vec::new();
        for (index, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (id, material) = entry
                .split_once(':')
                .ok_or(CryptoError::KeyEntry { index })?;
            let id = id.trim();
            let valid_id = (1..=32).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_id {
                return Err(CryptoError::KeyId { id: id.to_owned() });
            }
            if keys.iter().any(|(existing, _)| existing == id) {
                return Err(CryptoError::DuplicateKey { id: id.to_owned() });
            }
            let material = material.trim();
            let bytes = [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(material).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| CryptoError::KeyMaterial { id: id.to_owned() })?;
            keys.push((id.to_owned(), bytes));
        }
        Self::from_keys(keys)
    }

    pub fn from_keys(keys: Vec<(String, [u8; 32])>) -> Result<Self, CryptoError> {
        if keys.is_empty() {
            return Err(CryptoError::NoKeys);
        }
        let keys = keys
            .into_iter()
            .map(|(id, bytes)| {
                let mut mac = <Hmac<Sha256>>::new_from_slice(&bytes)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                mac.update(b"patchbay fingerprint v1");
                let fingerprint_key = mac.finalize().into_bytes().into();
                NamedKey {
                    id,
                    cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(bytes)),
                    fingerprint_key,
                }
            })
            .collect();
        Ok(Self { keys })
    }

    /// The key kept in `data_dir` for the embedded setup, generated on first use.
    pub fn load_or_create_local(data_dir: &Path) -> Result<Self, CryptoError> {
        let path = data_dir.join(LOCAL_KEY_FILE);
        let spec = secret_file::load_or_create(&path, || {
            let id = format!("local-{}", chrono::Utc::now().format("%Y%m%d"));
            format!("{id}:{}", STANDARD.encode(random_bytes::<32>()))
        })
        .map_err(|source| CryptoError::LocalKey {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&spec)
    }

    /// A keyring of one fresh random key, for tests and tools.
    pub fn generate(id: &str) -> Self {
        Self::from_keys(vec![(id.to_owned(), random_bytes::<32>())])
            .unwrap_or_else(|_| unreachable!("one key is enough"))
    }

    /// The id of the key that seals new values.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Encrypts `plaintext` under the current key, bound to `context` (for
    /// example `connections/acme/gh/credentials`).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Sealed {
        let key = &self.keys[0];
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let ciphertext = key
            .cipher
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM encrypts any value under 64 GiB"));
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        bytes.push(FORMAT_V1);
        bytes.extend_from_slice(&nonce_bytes);
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: key.id.clone(),
            bytes,
        }
    }

    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey {
                id: sealed.key_id.clone(),
            })?;
        let (version, rest) = sealed.bytes.split_first().ok_or(CryptoError::Corrupt)?;
        if *version != FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Corrupt)?;
        key.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt)
    }

    /// Whether `sealed` is under a key other than the current one.
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.keys[0].id
    }

    /// A short keyed fingerprint: tells whether a secret changed without
    /// revealing anything about it.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.keys[0].fingerprint_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(secret);
        let digest = mac.finalize().into_bytes();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_under_rotation() {
        let old = Keyring::generate("k1");
        let sealed = old.seal(b"hunter2", "connections/a/b/credentials");
        assert!(!sealed.bytes.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            old.open(&sealed, "connections/a/b/credentials")
                .expect("opens"),
            b"hunter2"
        );
        // Moved to another row: refused.
        assert!(matches!(
            old.open(&sealed, "connections/a/c/credentials"),
            Err(CryptoError::Corrupt)
        ));
        let new_key = STANDARD.encode(random_bytes::<32>());
        let old_key = STANDARD.encode(old.keys[0].fingerprint_key); // any 32 bytes: not the real key
        let rotated = Keyring::parse(&format!("k2:{new_key},k9:{old_key}")).expect("parses");
        assert!(rotated.is_stale(&sealed));
        assert!(matches!(
            rotated.open(&sealed, "connections/a/b/credentials"),
            Err(CryptoError::UnknownKey { .. })
        ));
    }

    #[test]
    fn key_specs_are_validated() {
        let key = STANDARD.encode([7u8; 32]);
        assert!(Keyring::parse(&format!("a:{key}, b:{key}")).is_ok());
        assert!(matches!(Keyring::parse(""), Err(CryptoError::NoKeys)));
        assert!(matches!(
            Keyring::parse("nocolon"),
            Err(CryptoError::KeyEntry { .. })
        ));
        assert!(matches!(
            Keyring::parse(&format!("a:{key},a:{key}")),
            Err(CryptoError::DuplicateKey { .. })
        ));
        assert!(matches!(
            Keyring::parse("a:c2hvcnQ="),
            Err(CryptoError::KeyMaterial { .. })
        ));
        assert!(matches!(
            Keyring::parse(&format!("bad id:{key}")),
            Err(CryptoError::KeyId { .. })
        ));
    }

    #[test]
    fn fingerprints_are_stable_and_short() {
        let ring = Keyring::generate("k");
        assert_eq!(ring.fingerprint(b"x"), ring.fingerprint(b"x"));
        assert_ne!(ring.fingerprint(b"x"), ring.fingerprint(b"y"));
        assert_eq!(ring.fingerprint(b"x").len(), 16);
    }
}
