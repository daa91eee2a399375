"""LocalStack plugins for kstream's integration tests.

- A Lambda runtime executor that runs a function's `bootstrap` as a host process:
  LocalStack can only execute Lambda functions in Docker; this package lets it run
  `provided.*` functions (a custom runtime `bootstrap`, e.g. a Rust binary) directly
  on the host, behind a Lambda Runtime API served on 127.0.0.1. The plugin lives in
  `plugin.py`, the executor in `executor.py`.
- `kinesis_tags.py`: Kinesis CreateStream applies its `Tags` before it returns, as on
  AWS (LocalStack's engine, kinesis-mock, ignores them).
"""
