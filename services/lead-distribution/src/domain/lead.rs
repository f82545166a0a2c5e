//! A new lead, validated field by field from `LeadInput`.

use tiejun_platform::error::{Error, FieldViolation};
use tiejun_proto::leads::v1::LeadInput;

use super::{company::CompanyName, phone::Phone};

use super::rules::{DEFAULT_SCORE, SCORE_RANGE};

/// A lead ready to store: every field checked, phone and company normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead {
    /// Company (display and duplicate key).
    pub company: CompanyName,
    /// Contact person.
    pub contact_name: String,
    /// Normalised phone.
    pub phone: Phone,
    /// Lower-cased e-mail, or empty.
    pub email: String,
    /// City.
    pub city: String,
    /// Industry, or empty.
    pub industry: String,
    /// Source, or empty.
    pub source: String,
    /// Priority 0–100.
    pub score: i32,
}

impl NewLead {
    /// Validates `input`; violations name fields under `prefix` (`lead.`).
    pub fn parse(input: &LeadInput, prefix: &str) -> Result<Self, Error> {
        let mut violations = Vec::new();
        let mut field = |name: &str, description: &str| {
            violations.push(FieldViolation::new(format!("{prefix}{name}"), description))
        };

        let company = CompanyName::parse(&input.company_name)
            .map_err(|e| field("company_name", e))
            .ok();
        let contact_name = text(&input.contact_name, 1, 100)
            .map_err(|e| field("contact_name", e))
            .ok();
        let phone = Phone::parse(&input.phone).map_err(|e| field("phone", e)).ok();
        let email = parse_email(&input.email).map_err(|e| field("email", e)).ok();
        let city = text(&input.city, 1, 50).map_err(|e| field("city", e)).ok();
        let industry = optional_text(&input.industry, 100)
            .map_err(|e| field("industry", e))
            .ok();
        let source = optional_text(&input.source, 100).map_err(|e| field("source", e)).ok();
        let score = match input.score {
            0 => Some(DEFAULT_SCORE),
            s if SCORE_RANGE.contains(&s) => Some(s),
            _ => {
                let (lo, hi) = (SCORE_RANGE.start(), SCORE_RANGE.end());
                field(
                    "score",
                    &format!("must be between {lo} and {hi} ({lo} means the default, {DEFAULT_SCORE})"),
                );
                None
            }
        };
        match (company, contact_name, phone, email, city, industry, source, score) {
            (
                Some(company),
                Some(contact_name),
                Some(phone),
                Some(email),
                Some(city),
                Some(industry),
                Some(source),
                Some(score),
            ) if violations.is_empty() => Ok(Self {
                company,
                contact_name,
                phone,
                email,
                city,
                industry,
                source,
                score,
            }),
            _ => Err(Error::InvalidArgument(violations)),
        }
    }
}

/// Trimmed text of `min..=max` characters without control characters.
pub fn text(raw: &str, min: usize, max: usize) -> Result<String, &'static str> {
    let value = raw.trim();
    let n = value.chars().count();
    if n < min {
        return Err(if min == 1 { "is required" } else { "is too short" });
    }
    if n > max {
        return Err("is too long");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(value.to_owned())
}

/// Like [`text`], but empty is fine.
pub fn optional_text(raw: &str, max: usize) -> Result<String, &'static str> {
    if raw.trim().is_empty() {
        Ok(String::new())
    } else {
        text(raw, 1, max)
    }
}

/// An optional e-mail: empty, or `local@domain.tld`, lower-cased.
pub fn parse_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim();
    if email.is_empty() {
        return Ok(String::new());
    }
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email.to_lowercase())
    } else {
        Err("is not an e-mail address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> LeadInput {
        LeadInput {
            company_name: "杭州某某科技有限公司".into(),
            contact_name: "王经理".into(),
            phone: "+86 138 1234 5678".into(),
            email: "Wang@Example.com".into(),
            city: "杭州".into(),
            industry: "textiles".into(),
            source: "trade show".into(),
            score: 0,
        }
    }

    #[test]
    fn a_good_lead_is_normalised() {
        let lead = NewLead::parse(&input(), "lead.").expect("valid");
        assert_eq!(lead.phone.as_str(), "13812345678");
        assert_eq!(lead.email, "wang@example.com");
        assert_eq!(lead.score, DEFAULT_SCORE);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = LeadInput {
            company_name: "x".into(),
            contact_name: " ".into(),
            phone: "call me".into(),
            email: "nope".into(),
            city: String::new(),
            score: 101,
            ..input()
        };
        let Err(Error::InvalidArgument(violations)) = NewLead::parse(&bad, "lead.") else {
            panic!("accepted")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "lead.company_name",
                "lead.contact_name",
                "lead.phone",
                "lead.email",
                "lead.city",
                "lead.score"
            ]
        );
    }

    #[test]
    fn sql_metacharacters_are_just_text() {
        let lead = NewLead::parse(
            &LeadInput {
                company_name: "Robert'); DROP TABLE leads;--".into(),
                ..input()
            },
            "",
        )
        .expect("valid text");
        assert_eq!(lead.company.as_str(), "Robert'); DROP TABLE leads;--");
    }
}
