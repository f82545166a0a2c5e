//! The rules of lead distribution, pure and synchronous: validated types made
//! from requests at the edge, and decisions the store applies atomically.

pub mod company;
pub mod deadlines;
pub mod distribution;
pub mod lead;
pub mod phone;
pub mod rep;
pub mod stats;
