//! The `bootstrap` binary: configuration, S3 client and the Lambda runtime loop.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use consumer::{Batch, S3Sink, Settings, error_chain, handle_event};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %error_chain(err.as_ref()), "consumer stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    let sink = S3Sink::new(S3Sink::client_from_env().await, &settings.bucket);
    let (sink, keys, concurrency) = (&sink, &settings.keys, settings.write_concurrency);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Batch>| async move {
        sink.expect_owner_of(&event.context.invoked_function_arn);
        handle_event(sink, keys, concurrency, event.payload)
            .await
            .map_err(|err| {
                let message = error_chain(&err);
                tracing::error!(error = %message, "batch failed: Lambda retries it whole");
                Diagnostic {
                    error_type: "KinesisEventError".to_owned(),
                    error_message: message,
                }
            })
    }))
    .await
}

/// JSON lines on Lambda (CloudWatch), plain text elsewhere; on stderr, coloured only on a
/// terminal without `NO_COLOR`.
///
/// The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's log-level setting), then `RUST_LOG`,
/// else `info`.
fn init_tracing() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .flatten_event(true)
            .with_ansi(false)
            .with_target(false)
            .init();
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        builder.with_ansi(colour).init();
    }
}
