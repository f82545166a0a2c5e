//! The rules of lead distribution, pure and synchronous: validated types made
//! from requests at the edge, and decisions the store applies atomically.
//! Every rule constant is in [`rules`].

pub mod access;
pub mod claim;
pub mod company;
pub mod deadlines;
pub mod distribution;
pub mod handover;
pub mod ids;
pub mod lead;
pub mod phone;
pub mod private_pool;
pub mod rep;
pub mod rules;
pub mod stats;
