//! Proto enums as the database stores them: by their short name
//! (`LEAD_STATE_POOL` is stored `POOL`). A stored name that does not parse is
//! a corrupt row and is reported as one, never read as UNSPECIFIED.

use tiejun_proto::leads::v1::{DistributionTrigger, FollowUpKind, LeadKind, LeadState, RepStatus, TransitionRule};

/// A proto enum stored by its short name.
pub trait Stored: Copy + Sized + 'static {
    /// The prefix every value's proto name starts with.
    const PREFIX: &'static str;

    /// The proto name (`LEAD_STATE_POOL`).
    fn proto_name(self) -> &'static str;

    /// The value of a proto name.
    fn from_proto_name(name: &str) -> Option<Self>;

    /// The stored name (`POOL`).
    fn stored(self) -> &'static str {
        let name = self.proto_name();
        name.strip_prefix(Self::PREFIX).unwrap_or(name)
    }

    /// The value of a stored name.
    fn from_stored(stored: &str) -> Result<Self, Corrupt> {
        Self::from_proto_name(&format!("{}{stored}", Self::PREFIX)).ok_or_else(|| {
            Corrupt(format!(
                "{stored:?} is not a stored {}",
                Self::PREFIX.trim_end_matches('_')
            ))
        })
    }
}

macro_rules! stored {
    ($($ty:ty => $prefix:literal),* $(,)?) => {$(
        impl Stored for $ty {
            const PREFIX: &'static str = $prefix;
            fn proto_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_proto_name(name: &str) -> Option<Self> {
                Self::from_str_name(name)
            }
        }
    )*};
}

stored! {
    LeadState => "LEAD_STATE_",
    LeadKind => "LEAD_KIND_",
    RepStatus => "REP_STATUS_",
    TransitionRule => "TRANSITION_RULE_",
    FollowUpKind => "FOLLOW_UP_KIND_",
    DistributionTrigger => "DISTRIBUTION_TRIGGER_",
}

/// A stored name that names no value: the row is corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt row: {0}")]
pub struct Corrupt(pub String);

/// A column holding a [`Stored`] enum, decoded from its name
/// (`#[sqlx(try_from = "String")]` on a row field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<T>(pub T);

impl<T: Stored> TryFrom<String> for Named<T> {
    type Error = Corrupt;

    fn try_from(stored: String) -> Result<Self, Corrupt> {
        T::from_stored(&stored).map(Named)
    }
}

/// A nullable column holding a [`Stored`] enum
/// (`#[sqlx(try_from = "Option<String>")]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaybeNamed<T>(pub Option<T>);

impl<T: Stored> TryFrom<Option<String>> for MaybeNamed<T> {
    type Error = Corrupt;

    fn try_from(stored: Option<String>) -> Result<Self, Corrupt> {
        stored.map(|s| T::from_stored(&s)).transpose().map(MaybeNamed)
    }
}

impl<T: PartialEq> PartialEq<T> for Named<T> {
    fn eq(&self, other: &T) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_stored_name() {
        for state in [
            LeadState::Pool,
            LeadState::Assigned,
            LeadState::Private,
            LeadState::Converted,
            LeadState::Closed,
        ] {
            assert_eq!(LeadState::from_stored(state.stored()), Ok(state));
        }
        assert_eq!(TransitionRule::ReclaimHandover.stored(), "RECLAIM_HANDOVER");
        assert_eq!(RepStatus::from_stored("ON_LEAVE"), Ok(RepStatus::OnLeave));
    }

    #[test]
    fn a_name_that_names_nothing_is_corrupt_not_unspecified() {
        assert!(LeadState::from_stored("LOST").is_err());
        assert!(Named::<RepStatus>::try_from("active".to_owned()).is_err());
    }
}
