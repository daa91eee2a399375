"""LocalStack Lambda runtime executor that runs a function's `bootstrap` as a host process.

LocalStack can only execute Lambda functions in Docker; this package lets it run
`provided.*` functions (a custom runtime `bootstrap`, e.g. a Rust binary) directly
on the host, behind a Lambda Runtime API served on 127.0.0.1. The plugin lives in
`plugin.py`, the executor in `executor.py`.
"""
