//! The rules of training, pure and unit-tested: validated programmes,
//! courses and sessions made from requests at the edge, where AutoEnroll
//! seats a learner, and when assignments are due and customers untrained.
use crate::domain::ids::LearnerId;

pub mod assignment;
pub mod ids;
pub mod program;
pub mod session;

/// A stable id: 2–64 characters of lower-case letters, digits and `_`.
pub fn key(raw: &str) -> Result<String, &'static str> {
    let id = raw.trim();
    let valid = (2..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && id.starts_with(|c: char| c.is_ascii_lowercase());
    if valid {
        Ok(id.to_owned())
    } else {
        Err("must be 2-64 lower-case letters, digits or '_', starting with a letter")
    }
}

/// Trimmed text of `min..=max` characters without control characters.
pub fn text(raw: &str, min: usize, max: usize) -> Result<String, &'static str> {
    let value = raw.trim();
    let n = value.chars().count();
    if n < min {
        return Err("is required");
    }
    if n > max {
        return Err("is too long");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(value.to_owned())
}

/// A learner id (an employee number or a customer contact id).
pub fn learner_id(raw: &str) -> Result<LearnerId, &'static str> {
    let id = raw.trim();
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("must be 1-64 letters, digits, '-', '_' or '.'");
    }
    Ok(id.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_lower_snake() {
        assert!(super::key("employee_onboarding").is_ok());
        assert!(super::key("Employee").is_err());
        assert!(super::key("1st").is_err());
        assert!(super::key("x").is_err());
    }
}
