//! Invoices and payments: when an invoice falls due, and whether a payment
//! may be counted against it (one currency, never more than is still due).

use chrono::{DateTime, Duration, Utc};
use tiejun_platform::error::Error;
use tiejun_proto::billing::v1::{InvoiceKind, InvoiceStatus};

use super::money::Price;

/// How long an invoice may stay unpaid.
pub const PAYMENT_TERMS: Duration = Duration::days(14);

/// When an invoice issued at `issued_at` falls due.
pub fn due_at(issued_at: DateTime<Utc>) -> DateTime<Utc> {
    issued_at + PAYMENT_TERMS
}

/// An invoice as a payment meets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open<'a> {
    /// Its kind.
    pub kind: InvoiceKind,
    /// Its status.
    pub status: InvoiceStatus,
    /// Its currency.
    pub currency: &'a str,
    /// What it is for, in minor units.
    pub amount_minor: i64,
    /// What has been paid so far.
    pub paid_minor: i64,
}

/// What a payment that may be counted does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The invoice is paid in full by it.
    pub settles: bool,
    /// And it is the first invoice of a subscription: the subscription
    /// becomes ACTIVE.
    pub activates: bool,
}

/// Whether `payment` may be counted against `invoice`: only an OPEN
/// invoice, in its currency, and never more than is still due
/// (OVERPAYMENT: the surplus would have nowhere to go).
pub fn count(invoice: &Open<'_>, payment: &Price) -> Result<Counted, Error> {
    if invoice.status != InvoiceStatus::Open {
        return Err(Error::precondition(
            "INVOICE_NOT_OPEN",
            format!(
                "the invoice is {}",
                tiejun_platform::stored::Stored::stored(invoice.status)
            ),
        ));
    }
    if payment.currency != invoice.currency {
        return Err(Error::invalid(
            "amount.currency",
            format!("the invoice is in {}", invoice.currency),
        ));
    }
    let due = invoice.amount_minor - invoice.paid_minor;
    if payment.amount_minor > due {
        return Err(Error::precondition(
            "OVERPAYMENT",
            format!("only {due} minor units are still due"),
        ));
    }
    let settles = payment.amount_minor == due;
    Ok(Counted {
        settles,
        activates: settles && invoice.kind == InvoiceKind::Initial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(kind: InvoiceKind) -> Open<'static> {
        Open {
            kind,
            status: InvoiceStatus::Open,
            currency: "CNY",
            amount_minor: 10_000,
            paid_minor: 4_000,
        }
    }

    fn pay(amount_minor: i64, currency: &str) -> Price {
        Price {
            amount_minor,
            currency: currency.to_owned(),
        }
    }

    fn reason(err: Error) -> String {
        match err {
            Error::FailedPrecondition { reason, .. } => reason.to_owned(),
            Error::InvalidArgument(v) => v[0].field.clone(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn the_rest_settles_and_only_a_first_invoice_activates() {
        let paid = count(&open(InvoiceKind::Initial), &pay(6_000, "CNY")).expect("counted");
        assert_eq!(
            paid,
            Counted {
                settles: true,
                activates: true
            }
        );
        let renewal = count(&open(InvoiceKind::Renewal), &pay(6_000, "CNY")).expect("counted");
        assert_eq!(
            renewal,
            Counted {
                settles: true,
                activates: false
            }
        );
        let part = count(&open(InvoiceKind::Initial), &pay(5_999, "CNY")).expect("counted");
        assert_eq!(
            part,
            Counted {
                settles: false,
                activates: false
            }
        );
    }

    #[test]
    fn more_than_is_due_another_currency_or_a_closed_invoice_is_refused() {
        assert_eq!(
            reason(count(&open(InvoiceKind::Initial), &pay(6_001, "CNY")).expect_err("refused")),
            "OVERPAYMENT"
        );
        assert_eq!(
            reason(count(&open(InvoiceKind::Initial), &pay(100, "USD")).expect_err("refused")),
            "amount.currency"
        );
        let paid = Open {
            status: InvoiceStatus::Paid,
            ..open(InvoiceKind::Initial)
        };
        assert_eq!(
            reason(count(&paid, &pay(1, "CNY")).expect_err("refused")),
            "INVOICE_NOT_OPEN"
        );
    }

    #[test]
    fn an_invoice_falls_due_after_the_terms() {
        let issued = DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
            .expect("valid")
            .to_utc();
        assert_eq!(due_at(issued).to_rfc3339(), "2026-03-16T08:00:00+00:00");
    }
}
