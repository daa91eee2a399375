//! `kstream`: parse arguments, set up logging, run, report the error chain once.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = kstream::cli::Cli::parse();
    kstream::logging::init(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kstream::commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if kstream::logging::is_broken_pipe(&err) => ExitCode::SUCCESS,
        // `plan --detailed-exitcode` with changes: the plan is the output, not an error.
        Err(err) if err.is::<kstream::commands::ChangesPresent>() => ExitCode::from(3),
        Err(err) => {
            eprintln!("error: {err:#}");
            kstream::commands::exit_code(&err)
        }
    }
}
