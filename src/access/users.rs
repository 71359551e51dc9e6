//! Creating users and giving them tokens (the `teduh users` commands).

use super::token::{self, IssuedToken, TokenError};
use super::{Role, UserError, valid_name};
use crate::directory::Directory;
use crate::store::{NewUser, Store, StoreError};

/// Why a user could not be created or given a token.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request itself is wrong.
    #[error(transparent)]
    User(#[from] UserError),
    /// No such user.
    #[error("no user named `{0}`")]
    NoUser(String),
    /// Hashing failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a user and returns her token (shown once: only its hash is kept).
pub async fn add_user(
    store: &Store,
    directory: &Directory,
    user: &NewUser<'_>,
    now_ms: i64,
) -> Result<IssuedToken, AdminError> {
    valid_name(user.name)?;
    match (user.role, user.provider_id) {
        (Role::Counselor | Role::Supervisor, None) => return Err(UserError::NoProvider(user.role).into()),
        (_, Some(p)) if directory.provider(p).is_none() => {
            return Err(UserError::UnknownProvider(p.into()).into());
        }
        _ => {}
    }
    let issued = token::issue()?;
    if !store.add_user(user, &issued.id, &issued.hash, now_ms).await? {
        return Err(UserError::Exists(user.name.to_string()).into());
    }
    Ok(issued)
}

/// Gives an existing user a new token; the old one stops working at once.
pub async fn new_token(store: &Store, name: &str) -> Result<IssuedToken, AdminError> {
    let issued = token::issue()?;
    if !store.replace_token(name, &issued.id, &issued.hash).await? {
        return Err(AdminError::NoUser(name.to_string()));
    }
    Ok(issued)
}
