//! Company names as duplicate detection sees them: full-width forms made
//! half-width, case, spaces and punctuation dropped, and the legal-form
//! suffix removed, so `杭州某某科技有限公司` and `杭州某某科技（有限公司）` or
//! `ACME Co., Ltd.` and `acme ltd` are one company.

/// Legal-form suffixes, longest first, compared after normalisation.
const LEGAL_SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团公司",
    "公司",
    "corporation",
    "company",
    "limited",
    "coltd",
    "corp",
    "inc",
    "ltd",
    "llc",
    "co",
];

/// A validated company name and its duplicate-detection key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyName {
    display: String,
    key: String,
}

impl CompanyName {
    /// Parses a company name: 2–200 characters after trimming, with a
    /// non-empty key.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let display = raw.trim().to_owned();
        let chars = display.chars().count();
        if chars < 2 {
            return Err("must have at least 2 characters");
        }
        if chars > 200 {
            return Err("must have at most 200 characters");
        }
        if display.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        let key = normalise(&display);
        if key.is_empty() {
            return Err("must contain letters, digits or CJK characters besides its legal form");
        }
        Ok(Self { display, key })
    }

    /// As entered (trimmed).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The duplicate-detection key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

fn normalise(name: &str) -> String {
    let mut key: String = name
        .chars()
        .map(half_width)
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect();
    // Strip legal forms repeatedly ("xx股份有限公司" → "xx"), but never to nothing.
    loop {
        let stripped = LEGAL_SUFFIXES
            .iter()
            .find_map(|s| key.strip_suffix(s).filter(|rest| !rest.is_empty()));
        match stripped {
            Some(rest) => key = rest.to_owned(),
            None => break,
        }
    }
    key
}

/// Full-width ASCII forms (U+FF01–U+FF5E) to their half-width letters.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        CompanyName::parse(s)
            .map(|c| c.key)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn legal_forms_spacing_and_width_do_not_matter() {
        assert_eq!(key("杭州某某科技有限公司"), key("杭州某某科技"));
        assert_eq!(key("杭州某某科技（有限公司）"), key(" 杭州 某某 科技 "));
        assert_eq!(key("杭州某某科技股份有限公司"), key("杭州某某科技"));
        assert_eq!(key("ACME Co., Ltd."), "acme");
        assert_eq!(key("ａｃｍｅ ｌｔｄ"), "acme");
        assert_eq!(key("Acme Trading Inc."), "acmetrading");
    }

    #[test]
    fn different_companies_stay_different() {
        assert_ne!(key("杭州某某科技"), key("宁波某某科技"));
        assert_ne!(key("Acme"), key("Acme Tools"));
    }

    #[test]
    fn a_bare_legal_form_is_kept_rather_than_emptied() {
        assert_eq!(key("有限公司"), "有限");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(CompanyName::parse(" a ").is_err());
        assert!(CompanyName::parse("--").is_err());
        assert!(CompanyName::parse(&"x".repeat(201)).is_err());
        assert!(CompanyName::parse("ab\u{0007}").is_err());
    }
}
