//! Who may use the HTTP API and what each may see: users, roles, API tokens, the audit log.
//!
//! A counselor sees the cases of her own provider; a supervisor also manages that provider's
//! roster and exports its cases; an admin sees everything and reads the audit log.

pub mod token;
pub mod users;

use serde::{Deserialize, Serialize};

pub use token::{IssuedToken, TokenError};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and works the cases of her own provider.
    Counselor,
    /// A counselor who also manages her provider's roster and exports its cases.
    Supervisor,
    /// Everything, for every provider, and the audit log.
    Admin,
}

impl Role {
    /// Parses `counselor`, `supervisor` or `admin`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "counselor" | "konselor" => Some(Role::Counselor),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Counselor => "counselor",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person with API access.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Login name, unique.
    pub name: String,
    /// What she may do.
    pub role: Role,
    /// Her provider (required for counselors and supervisors).
    pub provider_id: Option<String>,
    /// Her entry in the provider's counselor list, when she is on the roster.
    pub counselor_id: Option<String>,
    /// When the user was created (ms since the epoch).
    pub created_at: i64,
    /// When her access was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl User {
    /// Whether she may see and work a case that belongs to `provider` (`None`: not yet routed,
    /// which only admins see).
    pub fn sees_provider(&self, provider: Option<&str>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Counselor | Role::Supervisor => {
                provider.is_some() && provider == self.provider_id.as_deref()
            }
        }
    }

    /// Whether she may change `provider`'s roster and export its cases.
    pub fn manages_provider(&self, provider: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Supervisor => self.provider_id.as_deref() == Some(provider),
            Role::Counselor => false,
        }
    }

    /// The provider her case lists are limited to (`None`: all, for admins).
    pub fn provider_scope(&self) -> Option<&str> {
        match self.role {
            Role::Admin => None,
            Role::Counselor | Role::Supervisor => Some(self.provider_id.as_deref().unwrap_or("")),
        }
    }
}

/// Why a user cannot be created as asked.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UserError {
    /// The name is empty, too long or has characters other than letters, digits, `.`, `_`, `-`.
    #[error("user name `{0}` must be 1-64 letters, digits, `.`, `_` or `-`")]
    BadName(String),
    /// A counselor or supervisor without a provider.
    #[error("a {0} belongs to a provider: give --provider")]
    NoProvider(Role),
    /// The provider is not in the directory.
    #[error("no provider `{0}` in the directory (see `teduh providers list`)")]
    UnknownProvider(String),
    /// The name is taken.
    #[error("a user named `{0}` exists already")]
    Exists(String),
}

/// Checks a user name.
pub fn valid_name(name: &str) -> Result<(), UserError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(UserError::BadName(name.to_string())) }
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When (ms since the epoch).
    pub at: i64,
    /// Who: a user name, or `cli` for the operator's commands.
    pub actor: String,
    /// Her role then.
    pub role: String,
    /// What: `case.read`, `cases.list`, `cases.export`, `case.note`, `audit.read`, ...
    pub action: String,
    /// What it was done to: a case code, a provider id.
    pub subject: Option<String>,
    /// `ok`, or `denied` when the role did not allow it.
    pub outcome: String,
    /// Parameters that explain it (filters, a period), never message text.
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, provider: Option<&str>) -> User {
        User {
            id: "u".into(),
            name: "n".into(),
            role,
            provider_id: provider.map(str::to_string),
            counselor_id: None,
            created_at: 0,
            revoked_at: None,
        }
    }

    #[test]
    fn counselors_and_supervisors_see_only_their_providers_cases() {
        let counselor = user(Role::Counselor, Some("uptd-palu"));
        assert!(counselor.sees_provider(Some("uptd-palu")));
        assert!(!counselor.sees_provider(Some("uptd-sulteng")));
        assert!(!counselor.sees_provider(None));
        assert!(!counselor.manages_provider("uptd-palu"));
        let supervisor = user(Role::Supervisor, Some("uptd-palu"));
        assert!(supervisor.manages_provider("uptd-palu"));
        assert!(!supervisor.manages_provider("uptd-sulteng"));
        let admin = user(Role::Admin, None);
        assert!(admin.sees_provider(None) && admin.manages_provider("any"));
        assert_eq!(admin.provider_scope(), None);
        // A counselor whose provider was lost still sees nothing, not everything.
        assert_eq!(user(Role::Counselor, None).provider_scope(), Some(""));
    }

    #[test]
    fn roles_and_names_parse_strictly() {
        assert_eq!(Role::parse(" Supervisor "), Some(Role::Supervisor));
        assert_eq!(Role::parse("root"), None);
        assert!(valid_name("dewi.palu-01").is_ok());
        assert!(
            valid_name("").is_err() && valid_name("a b").is_err() && valid_name(&"x".repeat(65)).is_err()
        );
    }
}
