//! Logging setup: tracing to stderr, `-v`/`-vv` or `RUST_LOG`, no colour when `NO_COLOR` is set
//! or stderr is not a terminal.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `verbose` counts `-v` flags.
pub fn init(verbose: u8) {
    let default = match verbose {
        // The SDK's credential and region providers warn with their whole chain on every
        // miss; kstream explains the failure itself (`aws::explain`), so only `-v` shows them.
        0 => "warn,aws_config=error",
        1 => "kstream=debug,info",
        _ => "kstream=trace,aws_config=debug,debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && crate::ui::stderr_is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

/// Whether an error is a closed stdout (`kstream … | head`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            // serde_json wraps the write error of `to_writer`.
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
