//! Encryption at rest: the keyring that seals survivors' words and free text before they reach
//! the database (XChaCha20-Poly1305, a random 24-byte nonce per value), and the keyed hash used
//! to look up a value without storing it.
//!
//! A sealed value reads `enc:v1:<key id>:<base64 of nonce and ciphertext>`, so each records the
//! key that sealed it and keys can be rotated (`teduh keys rotate`). Values written before
//! encryption existed have no prefix and are read as they are.
//!
//! The key file (or `TEDUH_KEYS`) holds one key per line, `<id> <base64 of 32 bytes>`; the first
//! is current, the others only open older values. A line `index <base64>` holds the lookup-hash
//! key, which is never rotated. `#` starts a comment.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use thiserror::Error;

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// A problem with keys or sealed values.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VaultError {
    /// The key text is malformed.
    #[error("line {line}: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// What is wrong (never the key itself).
        message: String,
    },
    /// No sealing key.
    #[error("no encryption key: the key text has no `<id> <base64>` line")]
    NoKey,
    /// A value was sealed with a key that is not in the keyring.
    #[error("value sealed with key `{0}`, which is not in the keyring")]
    UnknownKey(String),
    /// A sealed value is damaged or was altered.
    #[error("sealed value is damaged or was altered")]
    Damaged,
    /// The key file could not be read or written.
    #[error("key file {path}: {message}")]
    File {
        /// Its path.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// The keys: the current one seals, all of them open.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, XChaCha20Poly1305)>,
    index: Vec<u8>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches a log.
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("keys", &ids).finish_non_exhaustive()
    }
}

fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut key);
    key
}

/// Key text's lines: a file has one key per line; `TEDUH_KEYS` in one line separates them with `;`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let separator = if text.contains('\n') { '\n' } else { ';' };
    text.split(separator)
}

impl Keyring {
    /// Reads key text (a key file's contents, or `TEDUH_KEYS` with lines separated by newlines
    /// or `;`).
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        let mut index = None;
        for (n, raw) in lines(text).enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: &str| VaultError::Parse { line: n + 1, message: message.to_string() };
            let (id, encoded) =
                line.split_once(char::is_whitespace).ok_or_else(|| err("expected `<id> <base64 key>`"))?;
            let bytes = B64.decode(encoded.trim()).map_err(|_| err("the key is not base64"))?;
            if bytes.len() != KEY_LEN {
                return Err(err("a key must be 32 bytes (44 base64 characters)"));
            }
            if id == "index" {
                index = Some(bytes);
            } else if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(err("a key id is letters, digits, `-` or `_`"));
            } else if keys.iter().any(|(k, _)| k == id) {
                return Err(err("duplicate key id"));
            } else {
                keys.push((id.to_string(), XChaCha20Poly1305::new(Key::from_slice(&bytes))));
            }
        }
        if keys.is_empty() {
            return Err(VaultError::NoKey);
        }
        // Without an explicit index key, lookups hash under a key derived from the first one.
        let index = index.unwrap_or_else(|| {
            let first = lines(text).find(|l| !l.trim().is_empty() && !l.trim().starts_with('#'));
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"teduh-index").expect("any key length");
            mac.update(first.unwrap_or_default().trim().as_bytes());
            mac.finalize().into_bytes().to_vec()
        });
        Ok(Self { keys, index })
    }

    /// Key text for a new keyring: a lookup key and one sealing key, `k1`.
    pub fn generate_text() -> String {
        format!(
            "# Teduh encryption keys: keep this file secret and backed up; without it the data cannot be read.\n\
             # The first key seals new values; older keys stay listed until `teduh keys rotate` is done.\n\
             k1 {}\nindex {}\n",
            B64.encode(random_key()),
            B64.encode(random_key())
        )
    }

    /// Key text with a new current key in front of the keys of `text`.
    pub fn add_key_text(text: &str) -> Result<(String, String), VaultError> {
        let ring = Self::parse(text)?;
        let id = (1..)
            .map(|n| format!("k{n}"))
            .find(|id| !ring.keys.iter().any(|(k, _)| k == id))
            .unwrap_or_default();
        let line = format!("{id} {}\n", B64.encode(random_key()));
        // New first line after any leading comments.
        let split =
            text.lines().take_while(|l| l.trim_start().starts_with('#')).map(|l| l.len() + 1).sum::<usize>();
        let split = split.min(text.len());
        Ok((id, format!("{}{line}{}", &text[..split], &text[split..])))
    }

    /// The id of the key that seals new values.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `plain` under the current key.
    pub fn seal(&self, plain: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for inputs of this size.
        let sealed = cipher.encrypt(XNonce::from_slice(&nonce), plain.as_bytes()).unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{id}:{}", B64.encode(bytes))
    }

    /// Opens a sealed value; a value without the prefix (written before encryption) is
    /// returned as it is.
    pub fn open(&self, stored: &str) -> Result<String, VaultError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_string()) };
        let (id, encoded) = rest.split_once(':').ok_or(VaultError::Damaged)?;
        let cipher = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, c)| c)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))?;
        let bytes = B64.decode(encoded).map_err(|_| VaultError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(VaultError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = cipher.decrypt(XNonce::from_slice(nonce), sealed).map_err(|_| VaultError::Damaged)?;
        String::from_utf8(plain).map_err(|_| VaultError::Damaged)
    }

    /// Whether a stored value is sealed under the current key (else rotation re-seals it).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(id, _)| id == self.current_id())
    }

    /// The keyed hash that stands in for a value in lookups (hex HMAC-SHA256).
    pub fn index(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index).expect("any key length");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a key file.
    pub fn read_file(path: &Path) -> Result<Self, VaultError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VaultError::File { path: path.display().to_string(), message: e.to_string() })?;
        Self::parse(&text)
    }

    /// Writes key text to a new file readable by its owner only.
    pub fn write_file(path: &Path, text: &str) -> Result<(), VaultError> {
        let fail =
            |e: std::io::Error| VaultError::File { path: path.display().to_string(), message: e.to_string() };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        let mut file = options.open(path).map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)
    }

    /// The key file beside `path`, created with a new keyring when missing (embedded mode).
    /// Returns the keyring and whether the file was created.
    pub fn beside(path: &Path) -> Result<(Self, bool), VaultError> {
        if path.exists() {
            return Self::read_file(path).map(|k| (k, false));
        }
        let text = Self::generate_text();
        Self::write_file(path, &text)?;
        Self::parse(&text).map(|k| (k, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_and_hide_their_text() {
        let ring = Keyring::parse(&Keyring::generate_text()).unwrap();
        let sealed = ring.seal("Suami saya memukul saya");
        assert!(sealed.starts_with("enc:v1:k1:") && !sealed.contains("memukul"));
        assert_ne!(sealed, ring.seal("Suami saya memukul saya"), "a fresh nonce every time");
        assert_eq!(ring.open(&sealed).unwrap(), "Suami saya memukul saya");
        assert_eq!(ring.open("written before encryption").unwrap(), "written before encryption");
    }

    #[test]
    fn altered_values_and_unknown_keys_are_refused() {
        let ring = Keyring::parse(&Keyring::generate_text()).unwrap();
        let sealed = ring.seal("rahasia");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(ring.open(&String::from_utf8(altered).unwrap()), Err(VaultError::Damaged));
        let other = Keyring::parse(&Keyring::generate_text().replace("k1 ", "k9 ")).unwrap();
        assert_eq!(ring.open(&other.seal("x")), Err(VaultError::UnknownKey("k9".into())));
    }

    #[test]
    fn a_new_key_seals_and_the_old_one_still_opens() {
        let text = Keyring::generate_text();
        let old = Keyring::parse(&text).unwrap();
        let sealed = old.seal("lama");
        let (id, text) = Keyring::add_key_text(&text).unwrap();
        let ring = Keyring::parse(&text).unwrap();
        assert_eq!((id.as_str(), ring.current_id()), ("k2", "k2"));
        assert!(!ring.is_current(&sealed) && ring.is_current(&ring.seal("baru")));
        assert_eq!(ring.open(&sealed).unwrap(), "lama");
        assert_eq!(ring.index("6281200000000"), old.index("6281200000000"), "lookups survive rotation");
    }

    #[test]
    fn bad_key_text_names_the_line_not_the_key() {
        let err = Keyring::parse("# keys\nk1 not-base64!\n").unwrap_err();
        assert_eq!(err, VaultError::Parse { line: 2, message: "the key is not base64".into() });
        assert_eq!(Keyring::parse("# nothing\n").unwrap_err(), VaultError::NoKey);
        assert!(matches!(Keyring::parse("k1 AAAA\n"), Err(VaultError::Parse { line: 1, .. })));
    }
}
