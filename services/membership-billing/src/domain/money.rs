//! Money: `int64` minor units (fen for CNY) and an ISO 4217 currency; never
//! floats. Amounts are whole minor units; where a rule divides (proration),
//! it rounds down to the minor unit, so a customer is never charged a
//! fraction the rule did not earn.

use tiejun_platform::error::FieldViolation;
use tiejun_proto::billing::v1::Money;

/// The default currency.
pub const DEFAULT_CURRENCY: &str = "CNY";

/// A validated positive amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// Minor units, > 0.
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
}

impl Price {
    /// Validates a price (`field` names it in violations).
    pub fn parse(field: &str, money: Option<&Money>) -> Result<Self, FieldViolation> {
        let money = money.ok_or_else(|| FieldViolation::new(field, "is required"))?;
        if money.amount_minor <= 0 {
            return Err(FieldViolation::new(
                format!("{field}.amount_minor"),
                "must be a positive number of minor units",
            ));
        }
        let currency = if money.currency.trim().is_empty() {
            DEFAULT_CURRENCY.to_owned()
        } else {
            money.currency.trim().to_owned()
        };
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(FieldViolation::new(
                format!("{field}.currency"),
                "must be an ISO 4217 code such as CNY",
            ));
        }
        Ok(Self {
            amount_minor: money.amount_minor,
            currency,
        })
    }

    /// As a message.
    pub fn to_message(&self) -> Money {
        Money {
            amount_minor: self.amount_minor,
            currency: self.currency.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_positive_minor_units_in_an_iso_currency() {
        let p = Price::parse(
            "price",
            Some(&Money {
                amount_minor: 4_000_000,
                currency: String::new(),
            }),
        )
        .expect("valid");
        assert_eq!((p.amount_minor, p.currency.as_str()), (4_000_000, "CNY"));
        assert!(
            Price::parse(
                "price",
                Some(&Money {
                    amount_minor: 0,
                    currency: "CNY".into()
                })
            )
            .is_err()
        );
        assert!(
            Price::parse(
                "price",
                Some(&Money {
                    amount_minor: 1,
                    currency: "yuan".into()
                })
            )
            .is_err()
        );
        assert!(Price::parse("price", None).is_err());
    }
}
