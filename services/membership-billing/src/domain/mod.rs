//! The rules of billing, pure: validated catalog inputs and money.

pub mod account;
pub mod catalog;
pub mod money;
pub mod period;
pub mod proration;
pub mod renewal;
