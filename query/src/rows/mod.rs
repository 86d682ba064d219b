//! Typed rows: what each command shows, built from stored records once and written by the
//! one output path ([`crate::output::write_listing`]) as JSON Lines, CSV or a table.

pub mod activity;
pub mod container;
pub mod event;
pub mod gap;
pub mod process;
pub mod segment;
