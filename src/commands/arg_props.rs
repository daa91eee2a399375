//! Property test: arbitrary values for the flags of `put`, `logs`, `smoke` and `objects` never
//! panic the parser or the validation that runs before any AWS call; a value is either
//! accepted or refused with an error.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser as _;
use proptest::prelude::*;

use super::logs::start_ms;
use super::put::Input;
use crate::cli::{Cli, Command};

/// Flags of each command, and whether each takes a value.
const FLAGS: &[(&str, &[(&str, bool)])] = &[
    (
        "put",
        &[
            ("--partition-key", true),
            ("--data", true),
            ("--data-file", true),
            ("--lines", true),
            ("--key-template", true),
            ("--key-field", true),
            ("--count", true),
            ("--size", true),
            ("--partition-keys", true),
            ("--rate", true),
            ("--concurrency", true),
            ("--max-attempts", true),
        ],
    ),
    (
        "logs",
        &[("--since", true), ("--follow", false), ("-f", false)],
    ),
    ("smoke", &[("--count", true), ("--timeout", true)]),
    (
        "objects",
        &[("--prefix", true), ("--limit", true), ("--cat", true)],
    ),
];

/// Values that probe the edges: numbers of every size and sign, floats that overflow a
/// `Duration`, durations and times, and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u128>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| x.to_string()),
        any::<f64>().prop_map(|x| format!("{x:e}")),
        prop::sample::select(vec![
            "0",
            "-0",
            "1e-300",
            "1e300",
            "NaN",
            "inf",
            "-inf",
            "",
            "-",
            " 1",
            "1048576",
            "1048577",
            "18446744073709551615",
            "18446744073709551616",
            "0.0005",
            "1000001",
            "10m",
            "0s",
            "1000000000y",
            "584942417355y",
            "9999999999999999999d",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "{n}",
            "{",
            "}",
            "{{n}}",
            "random",
        ])
        .prop_map(str::to_string),
        ".{0,12}",
        (
            any::<u32>(),
            prop::sample::select(vec!["s", "m", "h", "d", "y", "ms", "ns"])
        )
            .prop_map(|(n, unit)| format!("{n}{unit}")),
    ]
}

/// A command line: a command and up to five of its flags with values, perhaps `-v`s.
fn command_line() -> impl Strategy<Value = Vec<String>> {
    (0..FLAGS.len()).prop_flat_map(|c| {
        let (command, flags) = FLAGS[c];
        (
            prop::collection::vec((0..flags.len(), value()), 0..5),
            0..300usize,
        )
            .prop_map(move |(picked, verbose)| {
                let mut argv = vec!["kstream".to_string(), command.to_string()];
                for (i, v) in picked {
                    let (flag, takes_value) = flags[i];
                    if !takes_value {
                        argv.push(flag.to_string());
                    } else if v.starts_with('-') {
                        argv.push(format!("{flag}={v}"));
                    } else {
                        argv.extend([flag.to_string(), v]);
                    }
                }
                if verbose > 290 {
                    argv.push(format!("-{}", "v".repeat(verbose)));
                }
                argv
            })
    })
}

/// Whether running the put's validation would read stdin or a real input.
fn reads_real_input(cli: &Cli) -> bool {
    let Command::Put(args) = &cli.command else {
        return false;
    };
    let path = args.data_file.as_ref().or(args.lines.as_ref());
    path.is_some_and(|p| p.as_os_str() == "-" || p.exists())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arguments_never_panic(argv in command_line()) {
        let Ok(cli) = Cli::try_parse_from(&argv) else {
            return Ok(());
        };
        match &cli.command {
            Command::Put(args) if !reads_real_input(&cli) => {
                let _ = Input::from_args(args);
            }
            Command::Logs(args) => {
                let _ = start_ms(args.since, SystemTime::now());
                let _ = start_ms(args.since, UNIX_EPOCH);
            }
            _ => {}
        }
    }
}

#[test]
fn the_known_panics_are_usage_errors() {
    for argv in [
        &[
            "kstream",
            "put",
            "--count",
            "1",
            "--size",
            "18446744073709551615",
        ][..],
        &["kstream", "put", "--count", "3", "--rate", "1e-300"],
        &["kstream", "put", "--count", "3", "--rate", "NaN"],
        &["kstream", "put", "--count", "0"],
        &["kstream", "put", "--count", "1", "--size", "1048577"],
        &["kstream", "smoke", "--timeout", "584942417355y"],
        &["kstream", "logs", "--since", "9999999999999999999d"],
        &["kstream", "objects", "--limit", "18446744073709551615"],
    ] {
        let err = Cli::try_parse_from(argv).expect_err(&argv.join(" "));
        assert_eq!(err.exit_code(), 2, "{}", argv.join(" "));
    }
    let cli = Cli::try_parse_from(["kstream", "put", "-k", "", "--data", "x"]).expect("parses");
    let Command::Put(args) = &cli.command else {
        unreachable!()
    };
    let err = Input::from_args(args).expect_err("empty key");
    assert_eq!(super::exit_code(&err), std::process::ExitCode::from(2));
    assert_eq!(
        err.to_string(),
        "`--partition-key` is empty; a partition key needs 1 to 256 characters"
    );
}
