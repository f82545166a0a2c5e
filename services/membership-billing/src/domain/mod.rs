//! The rules of billing, pure and unit-tested: validated inputs, money,
//! invoices and payments, periods, proration and renewals.

pub mod account;
pub mod catalog;
pub mod ids;
pub mod invoice;
pub mod money;
pub mod period;
pub mod proration;
pub mod renewal;
