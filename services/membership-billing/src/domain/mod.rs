//! The rules of billing, pure: validated catalog inputs and money.

pub mod catalog;
pub mod money;
