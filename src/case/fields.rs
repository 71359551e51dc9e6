//! Structured case fields counselors fill in while they hold a case (`DATA umur 13-17`), with
//! the values SIMFONI PPA reports use.

use crate::text::fold;

/// Kinds of violence as SIMFONI PPA reports them.
pub const SIMFONI_KINDS: &[&str] =
    &["fisik", "psikis", "seksual", "eksploitasi", "trafficking", "penelantaran", "lainnya"];

/// Victim age groups as the national reports group them.
pub const AGE_GROUPS: &[&str] = &["0-5", "6-12", "13-17", "18-24", "25-44", "45-59", "60+"];

/// Longest free-text field value a counselor may set.
pub const MAX_FREE_TEXT: usize = 60;

/// A field counselors may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Kind of violence (`violence_kind`).
    Kind,
    /// Victim age group (`age_group`).
    AgeGroup,
    /// Relationship of the perpetrator to the victim (`relationship`).
    Relationship,
    /// Where it happened: household, school, workplace... (`place`).
    Place,
}

impl Field {
    /// Reads a field name as counselors type it, in Indonesian or English.
    pub fn parse(word: &str) -> Option<Self> {
        match fold(word).as_str() {
            "jenis" | "kind" | "violence kind" => Some(Self::Kind),
            "umur" | "usia" | "age" | "age group" => Some(Self::AgeGroup),
            "hubungan" | "relationship" => Some(Self::Relationship),
            "tempat" | "place" => Some(Self::Place),
            _ => None,
        }
    }

    /// The key it is stored under in the case's fields.
    pub fn key(self) -> &'static str {
        match self {
            Self::Kind => "violence_kind",
            Self::AgeGroup => "age_group",
            Self::Relationship => "relationship",
            Self::Place => "place",
        }
    }

    /// The value to store, or `None` when `value` is not one this field takes.
    pub fn normalise(self, value: &str) -> Option<String> {
        let value = value.trim();
        match self {
            Self::Kind => simfoni_kind(&fold(value)).map(str::to_string),
            Self::AgeGroup => {
                AGE_GROUPS.iter().find(|g| **g == value.replace(' ', "")).map(|g| g.to_string())
            }
            Self::Relationship | Self::Place => {
                (!value.is_empty() && value.chars().count() <= MAX_FREE_TEXT).then(|| value.to_string())
            }
        }
    }
}

/// The SIMFONI kind a flow category or a typed kind stands for (`tppo` is trafficking).
pub fn simfoni_kind(kind: &str) -> Option<&'static str> {
    let kind = match kind {
        "tppo" | "perdagangan" | "perdagangan orang" => "trafficking",
        other => other,
    };
    SIMFONI_KINDS.iter().copied().find(|k| *k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_take_their_own_values_only() {
        assert_eq!(Field::parse("UMUR"), Some(Field::AgeGroup));
        assert_eq!(Field::parse("nama"), None);
        assert_eq!(Field::AgeGroup.normalise("13 - 17").as_deref(), Some("13-17"));
        assert_eq!(Field::AgeGroup.normalise("anak"), None);
        assert_eq!(Field::Kind.normalise("TPPO").as_deref(), Some("trafficking"));
        assert_eq!(Field::Kind.normalise("verbal"), None);
        assert_eq!(Field::Relationship.normalise(" suami ").as_deref(), Some("suami"));
        assert_eq!(Field::Place.normalise(&"x".repeat(MAX_FREE_TEXT + 1)), None);
    }
}
