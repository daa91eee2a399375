//! kstream: deploy and operate a Kinesis → Lambda → S3 pipeline without a state file.
//!
//! See ARCHITECTURE.md for the code map and the invariants.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod logging;
pub mod model;
pub mod package;
pub mod plan;
pub mod producer;
pub mod reconcile;
pub mod ui;
