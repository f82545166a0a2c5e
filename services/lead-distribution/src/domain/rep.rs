//! Reps: registration, quota and the status machine
//! ONBOARDING → ACTIVE ⇄ PAUSED / ON_LEAVE → DEPARTED.

use crate::domain::ids::PersonId;
use tiejun_platform::error::{Error, FieldViolation};
use tiejun_proto::leads::v1::{RegisterRepRequest, RepStatus};

use super::lead::text;

use super::rules::{DEFAULT_DAILY_QUOTA, QUOTA_RANGE};

/// A validated registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRep {
    /// Employee number.
    pub person_id: PersonId,
    /// Name.
    pub name: String,
    /// Team.
    pub team: String,
    /// City.
    pub city: String,
    /// Daily quota.
    pub daily_quota: i32,
}

impl NewRep {
    /// Validates a registration request.
    pub fn parse(request: &RegisterRepRequest) -> Result<Self, Error> {
        let mut violations = Vec::new();
        let mut violation = |field: &str, e: &'static str| violations.push(FieldViolation::new(field, e));
        let person_id = person_id(&request.person_id)
            .map_err(|e| violation("person_id", e))
            .ok();
        let mut check =
            |field: &str, result: Result<String, &'static str>| result.map_err(|e| violation(field, e)).ok();
        let name = check("name", text(&request.name, 1, 100));
        let team = check("team", text(&request.team, 1, 100));
        let city = check("city", text(&request.city, 1, 50));
        let daily_quota = match request.daily_quota {
            0 => Some(DEFAULT_DAILY_QUOTA),
            q => quota(q).map_err(|v| violations.push(v)).ok(),
        };
        match (person_id, name, team, city, daily_quota) {
            (Some(person_id), Some(name), Some(team), Some(city), Some(daily_quota)) if violations.is_empty() => {
                Ok(Self {
                    person_id,
                    name,
                    team,
                    city,
                    daily_quota,
                })
            }
            _ => Err(Error::InvalidArgument(violations)),
        }
    }
}

/// An employee number: 1–64 characters of letters, digits, `-`, `_` or `.`.
pub fn person_id(raw: &str) -> Result<PersonId, &'static str> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("is required");
    }
    if id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("must be 1-64 letters, digits, '-', '_' or '.'");
    }
    Ok(id.into())
}

/// A daily quota a manager may set.
pub fn quota(value: i32) -> Result<i32, FieldViolation> {
    if QUOTA_RANGE.contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new(
            "daily_quota",
            format!("must be between {} and {}", QUOTA_RANGE.start(), QUOTA_RANGE.end()),
        ))
    }
}

/// The statuses a rep may move to `to` from (the status machine).
pub fn allowed_from(to: RepStatus) -> &'static [RepStatus] {
    use RepStatus::*;
    match to {
        Active => &[Onboarding, Paused, OnLeave],
        Paused | OnLeave => &[Active, Paused, OnLeave],
        Departed => &[Onboarding, Active, Paused, OnLeave],
        Unspecified | Onboarding => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_defaults_to_40_and_must_stay_in_30_to_50() {
        let mut request = RegisterRepRequest {
            person_id: "E1001".into(),
            name: "张伟".into(),
            team: "Hangzhou-1".into(),
            city: "杭州".into(),
            daily_quota: 0,
        };
        assert_eq!(NewRep::parse(&request).expect("valid").daily_quota, 40);
        request.daily_quota = 29;
        assert!(NewRep::parse(&request).is_err());
        request.daily_quota = 50;
        assert_eq!(NewRep::parse(&request).expect("valid").daily_quota, 50);
    }

    #[test]
    fn departed_is_terminal_and_onboarding_only_leads_to_active_or_departure() {
        assert!(!allowed_from(RepStatus::Active).contains(&RepStatus::Departed));
        assert!(
            allowed_from(RepStatus::Paused)
                .iter()
                .all(|s| *s != RepStatus::Onboarding)
        );
        assert!(allowed_from(RepStatus::Active).contains(&RepStatus::Onboarding));
    }
}
