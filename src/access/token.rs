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
