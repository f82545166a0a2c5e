//! The `tiejun` binary's library: its command line, the whole suite in one
//! process, the subcommands, and the operator tools (`leads import`). Tests start the suite through [`suite`]
//! exactly as `tiejun up` does.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod import;
pub mod secret;
pub mod suite;
