//! kstream: deploy and operate a Kinesis → Lambda → S3 pipeline without a state file.
//!
//! See ARCHITECTURE.md for the code map and the invariants. The binary needs `cli`,
//! `commands` and `logging`; the producer benchmark needs `config` and `producer`. Everything
//! else is private, so the compiler reports what nothing uses.

mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod interrupt;
mod kms;
pub mod logging;
mod model;
mod package;
mod plan;
mod policy;
pub mod producer;
mod redrive;
mod ui;
