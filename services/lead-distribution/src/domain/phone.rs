//! Phone numbers as duplicate detection sees them: full-width digits made
//! ASCII, separators dropped, the +86 / 0086 country prefix removed. Two
//! leads with the same normalised phone are the same contact.

/// A validated, normalised phone number (digits only, national form).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Parses a phone as people type it: `+86 138-1234-5678`, `１３８１２３４５６７８`,
    /// `(0571) 8888 1234`, `0086 13812345678`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut digits = String::with_capacity(raw.len());
        let mut plus = false;
        for (i, c) in raw.trim().chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                // Full-width digits ０-９ (U+FF10–U+FF19).
                '\u{FF10}'..='\u{FF19}' => digits.push(char::from(b'0' + (c as u32 - 0xFF10) as u8)),
                '+' | '\u{FF0B}' if i == 0 => plus = true,
                ' ' | '\u{3000}' | '-' | '\u{FF0D}' | '\u{2014}' | '.' | '(' | ')' | '\u{FF08}' | '\u{FF09}' => {}
                _ => return Err("only digits, spaces, dashes, dots, brackets and a leading + are allowed"),
            }
        }
        let national = national_form(&digits, plus);
        if !(7..=12).contains(&national.len()) {
            return Err("must have 7 to 12 digits after the country code");
        }
        if national.len() == 11 && national.starts_with('1') {
            let second = national.as_bytes()[1];
            if !(b'3'..=b'9').contains(&second) {
                return Err("not a mainland mobile number (1[3-9]xxxxxxxxx)");
            }
        }
        Ok(Self(national))
    }

    /// The normalised digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The national form: the +86 / 0086 country code removed, and the trunk
/// `0` put back on a landline written internationally (`+86 571…` is
/// `0571…` at home). A bare leading `86` is taken as the country code only
/// before a full mobile number.
fn national_form(digits: &str, plus: bool) -> String {
    let international = if plus {
        digits.strip_prefix("86")
    } else {
        digits.strip_prefix("0086").or_else(|| {
            digits
                .strip_prefix("86")
                .filter(|r| r.len() == 11 && r.starts_with('1'))
        })
    };
    match international {
        Some(rest) if rest.starts_with('1') || rest.starts_with('0') => rest.to_owned(),
        Some(rest) => format!("0{rest}"),
        None => digits.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Phone::parse(s).map(|p| p.0).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn spellings_of_one_mobile_number_normalise_alike() {
        for spelling in [
            "13812345678",
            "+86 138 1234 5678",
            "+8613812345678",
            "0086-138-1234-5678",
            "86 13812345678",
            "１３８１２３４５６７８",
            "＋８６ １３８－１２３４－５６７８",
            "138.1234.5678",
        ] {
            assert_eq!(norm(spelling), "13812345678", "{spelling}");
        }
    }

    #[test]
    fn landlines_keep_their_area_code() {
        assert_eq!(norm("(0571) 8888-1234"), "057188881234");
        assert_eq!(norm("+86 571 8888 1234"), "057188881234");
        assert_eq!(norm("0086 571 8888 1234"), "057188881234");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "12345", "138-1234-567a", "1234567890123", "12012345678", "call me"] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
