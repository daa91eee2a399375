//! kstream's integration tests: one binary. `support` starts a real LocalStack on 127.0.0.1
//! (through `scripts/localstack up`) when a test needs one.

mod aggregate;
mod architecture;
mod cli;
mod connection;
mod deploy;
mod failures;
mod kpl;
mod ops;
mod package;
mod pipeline;
mod policy;
mod proxy;
mod scripts;
mod support;
