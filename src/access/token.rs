//! API tokens: `tdh_<id>_<secret>`. The id finds the user; the whole token is checked against
//! an argon2id hash, so a leaked database does not give working tokens.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

const PREFIX: &str = "tdh_";
/// Characters of the id part (lookup key, not secret).
const ID_LEN: usize = 12;
/// Random bytes of the secret part (256 bits).
const SECRET_BYTES: usize = 32;

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The hasher failed (it should not with its default parameters).
    #[error("cannot hash the token: {0}")]
    Hash(String),
    /// A password outside [`PASSWORD_CHARS`].
    #[error("a password is 10 to 256 characters")]
    Password,
}

/// A new token, shown once, and what is stored of it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token to give to the user: `tdh_<id>_<secret>`.
    pub token: String,
    /// Its id part, stored in the clear to find the user.
    pub id: String,
    /// Its argon2id hash in PHC form.
    pub hash: String,
}

fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

/// Makes a new random token and its hash.
pub fn issue() -> Result<IssuedToken, TokenError> {
    let id = random_alnum(ID_LEN);
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("{PREFIX}{id}_{secret}");
    let hash = hash(&token)?;
    Ok(IssuedToken { token, id, hash })
}

/// The argon2id hash (default parameters, random salt) of `secret`.
pub fn hash(secret: &str) -> Result<String, TokenError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| TokenError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| TokenError::Hash(e.to_string()))
}

/// Whether `secret` matches a stored PHC hash (a malformed hash matches nothing).
pub fn verify(secret: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

/// The id part of a well-formed token.
pub fn id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_LEN
        && secret.len() == SECRET_BYTES * 2
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(id)
}

/// What a console session token starts with.
const SESSION_PREFIX: &str = "tds_";

/// A new session token: shown once to the browser; only its SHA-256 is stored (the secret is
/// 256 random bits, so a slow hash would add nothing).
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// `tds_<id>_<secret>`.
    pub token: String,
    /// The part that finds the stored row.
    pub id: String,
    /// Hex SHA-256 of the whole token.
    pub digest: String,
}

/// Makes a new session token.
pub fn issue_session() -> IssuedSession {
    let id = random_alnum(ID_LEN);
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("{SESSION_PREFIX}{id}_{secret}");
    let digest = digest(&token);
    IssuedSession { token, id, digest }
}

/// Hex SHA-256 of a session token.
pub fn digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The id part of a well-formed session token.
pub fn session_id_of(token: &str) -> Option<&str> {
    id_of(&format!("{PREFIX}{}", token.strip_prefix(SESSION_PREFIX)?))?;
    token.strip_prefix(SESSION_PREFIX).and_then(|rest| rest.split_once('_')).map(|(id, _)| id)
}

/// Shortest and longest password accepted.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=256;

/// A password's argon2id hash, once it is long enough.
pub fn hash_password(password: &str) -> Result<String, TokenError> {
    if !PASSWORD_CHARS.contains(&password.chars().count()) {
        return Err(TokenError::Password);
    }
    hash(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_verifies_and_a_changed_one_does_not() {
        let issued = issue().unwrap();
        assert_eq!(id_of(&issued.token), Some(issued.id.as_str()));
        assert!(issued.hash.starts_with("$argon2id$"));
        assert!(!issued.hash.contains(&issued.token));
        assert!(verify(&issued.token, &issued.hash));
        let mut changed = issued.token.clone();
        let last = if changed.ends_with('0') { "1" } else { "0" };
        changed.replace_range(changed.len() - 1.., last);
        assert!(!verify(&changed, &issued.hash));
        assert!(!verify(&issued.token, "not a hash"));
        let session = issue_session();
        assert_eq!(session_id_of(&session.token), Some(session.id.as_str()));
        assert_eq!(session.digest, digest(&session.token));
        assert_eq!(session_id_of(&issued.token), None, "an API token is not a session");
        assert_eq!(id_of(&session.token), None, "a session is not an API token");
        assert!(matches!(hash_password("short"), Err(TokenError::Password)));
        assert!(verify("long enough pass", &hash_password("long enough pass").unwrap()));
    }

    #[test]
    fn malformed_tokens_have_no_id() {
        for bad in
            ["", "tdh_", "Bearer x", "tdh_short_abcd", &format!("tdh_{}_{}", "a".repeat(12), "g".repeat(64))]
        {
            assert_eq!(id_of(bad), None, "{bad}");
        }
    }
}
