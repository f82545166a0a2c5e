//! A member's details, validated at the edge.

use crate::domain::ids::AccountId;
use chrono_tz::Tz;
use tiejun_platform::error::{Error, FieldViolation};

/// The default zone of an account.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// Validated member details: what a registration gives, and the columns of
/// an account row that hold it (`store::accounts::AccountRow` reads them
/// flattened).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberDetails {
    /// Company.
    pub company_name: String,
    /// Contact person.
    pub contact_name: String,
    /// Phone: digits, spaces, dashes, brackets and a leading +.
    pub phone: String,
    /// E-mail (lower-cased) or empty.
    pub email: String,
    /// City.
    pub city: String,
    /// IANA zone; periods are computed in it.
    pub time_zone: String,
}

impl MemberDetails {
    /// Validates the fields of a registration or a converted lead.
    pub fn parse(
        company: &str,
        contact: &str,
        phone: &str,
        email: &str,
        city: &str,
        zone: &str,
    ) -> Result<Self, Error> {
        let mut v = Vec::new();
        let mut check = |field: &str, ok: bool, why: &str| {
            if !ok {
                v.push(FieldViolation::new(field, why));
            }
        };
        let company_name = company.trim().to_owned();
        check(
            "company_name",
            (2..=200).contains(&company_name.chars().count()),
            "must be 2-200 characters",
        );
        let contact_name = contact.trim().to_owned();
        check(
            "contact_name",
            (1..=100).contains(&contact_name.chars().count()),
            "must be 1-100 characters",
        );
        let phone = phone.trim().to_owned();
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        let phone_ok = (7..=15).contains(&digits)
            && phone
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (i == 0 && c == '+'));
        check("phone", phone_ok, "must be a phone number (7-15 digits)");
        let email = email.trim().to_lowercase();
        let email_ok = email.is_empty()
            || email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !email.contains(char::is_whitespace));
        check("email", email_ok, "is not an e-mail address");
        let city = city.trim().to_owned();
        check(
            "city",
            (1..=50).contains(&city.chars().count()),
            "must be 1-50 characters",
        );
        let time_zone = if zone.trim().is_empty() {
            DEFAULT_TIME_ZONE.to_owned()
        } else {
            zone.trim().to_owned()
        };
        check("time_zone", time_zone.parse::<Tz>().is_ok(), "not an IANA time zone");
        if [&company_name, &contact_name, &city]
            .iter()
            .any(|s| s.chars().any(char::is_control))
        {
            v.push(FieldViolation::new(
                "company_name",
                "must not contain control characters",
            ));
        }
        if v.is_empty() {
            Ok(Self {
                company_name,
                contact_name,
                phone,
                email,
                city,
                time_zone,
            })
        } else {
            Err(Error::InvalidArgument(v))
        }
    }
}

/// The zone an account's dates are in. Zones are checked when an account
/// is written ([`MemberDetails::parse`]), so a stored name that is not a
/// zone is a corrupt row: an error naming the account, never a silent
/// fallback to another zone.
pub fn zone(account_id: &AccountId, stored: &str) -> Result<Tz, tiejun_platform::Error> {
    stored.parse().map_err(|_| {
        tiejun_platform::Error::internal(format!(
            "corrupt row: account {account_id} has time zone {stored:?}, not an IANA zone"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_zone_that_is_no_zone_is_an_error_not_shanghai() {
        assert_eq!(
            zone(&"a1".into(), "Europe/Berlin").ok(),
            Some(chrono_tz::Europe::Berlin)
        );
        assert!(zone(&"a1".into(), "Mars/Olympus").is_err());
    }

    #[test]
    fn details_default_to_shanghai_and_refuse_bad_fields() {
        let d = MemberDetails::parse(
            "宁波甬江纺织",
            "王",
            "+86 138 1234 5678",
            "Wang@Example.com",
            "宁波",
            "",
        )
        .expect("valid");
        assert_eq!(
            (d.time_zone.as_str(), d.email.as_str()),
            ("Asia/Shanghai", "wang@example.com")
        );
        let Err(Error::InvalidArgument(v)) = MemberDetails::parse("x", "", "call", "no", "", "Mars/Base") else {
            panic!("accepted")
        };
        assert_eq!(v.len(), 6);
    }
}
