#!/usr/bin/env bash
# Checks a running `scripts/localstack up` end to end: Kinesis stream -> event
# source mapping -> Lambda (provided.al2023, a bash+curl bootstrap run by the
# `host` executor) -> S3, plus direct invokes, error reporting, timeouts, re-init
# after a crash, init errors and DeleteFunction stopping the process, and Tags on
# Kinesis CreateStream (applied before the call returns, as on AWS).
# Exits non-zero on the first failed check; prints the function logs on failure.
#
# usage: localstack/selftest.sh   (env: KSTREAM_LOCALSTACK_PORT, KSTREAM_CACHE_DIR, AWS=<aws cli>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${KSTREAM_LOCALSTACK_PORT:-4566}"
CACHE_DIR="${KSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kstream}/localstack-2026.3.0"
STATE_DIR="${KSTREAM_STATE_DIR:-$CACHE_DIR/state-$PORT}"
AWS="${AWS:-$CACHE_DIR/venv/bin/aws}"
PY="$CACHE_DIR/venv/bin/python"
eval "$("$ROOT/scripts/localstack" env)"
export AWS_DEFAULT_REGION="$AWS_REGION" AWS_PAGER=""

RUN_ID="selftest-$$-$RANDOM"
STREAM="$RUN_ID"
STREAM_TAGGED="$RUN_ID-tagged"
BUCKET="$RUN_ID"
ROLE="$RUN_ID-role"
FN="$RUN_ID-fn"
FN_INIT="$RUN_ID-init"
FN_NOBOOT="$RUN_ID-noboot"
WORK="$(mktemp -d)"
OUT="$WORK/out" # the bootstrap writes what it saw here
mkdir -p "$OUT/events" "$OUT/pids"
PASSED=0
FAILED=0

say() { printf 'selftest: %s\n' "$*" >&2; }
aws_() { "$AWS" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
ok() {
  PASSED=$((PASSED + 1))
  say "ok: $*"
}
fail() {
  FAILED=$((FAILED + 1))
  say "FAILED: $*"
  say "function logs ($STATE_DIR/lambda):"
  tail -n 60 "$STATE_DIR"/lambda/"$RUN_ID"*.log >&2 2>/dev/null || true
  exit 1
}

# Polls `$@` until it succeeds, for at most $WAIT seconds.
wait_for() {
  local what="$1" deadline=$((SECONDS + ${WAIT:-30}))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out waiting for $what"
    sleep 0.2
  done
}

cleanup() {
  local rc=$?
  set +e
  for fn in "$FN" "$FN_INIT" "$FN_NOBOOT"; do
    aws_ lambda list-event-source-mappings --function-name "$fn" --query 'EventSourceMappings[].UUID' --output text 2>/dev/null |
      tr '\t' '\n' | grep -v '^None$' | while read -r uuid; do
      [[ -n "$uuid" ]] && aws_ lambda delete-event-source-mapping --uuid "$uuid" >/dev/null 2>&1
    done
    aws_ lambda delete-function --function-name "$fn" >/dev/null 2>&1
  done
  aws_ kinesis delete-stream --stream-name "$STREAM" >/dev/null 2>&1
  aws_ kinesis delete-stream --stream-name "$STREAM_TAGGED" >/dev/null 2>&1
  aws_ s3 rb "s3://$BUCKET" --force >/dev/null 2>&1
  aws_ iam delete-role --role-name "$ROLE" >/dev/null 2>&1
  rm -rf "$WORK"
  printf '%s passed, %s failed\n' "$PASSED" "$FAILED"
  exit "$rc"
}
trap cleanup EXIT

curl -fsS "$AWS_ENDPOINT_URL/_localstack/init/ready" | grep -q '"completed": *true' ||
  fail "LocalStack is not ready at $AWS_ENDPOINT_URL (run scripts/localstack up)"

# The function under test: a custom runtime in bash. Modes come from the event
# ("mode": "error" | "exit" | "sleep"); Kinesis batches are stored in S3 and on
# disk; a sequence number in $OUT/fail-seq is reported as a batch item failure once.
cat >"$WORK/bootstrap" <<'BOOTSTRAP'
#!/usr/bin/env bash
set -euo pipefail
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
echo "$$" >"$OUT/pids/$$"
env >"$OUT/env"
if [[ "${INIT_MODE:-}" == "error" ]]; then
  curl -sS -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.InitError' \
    -d '{"errorType":"SelftestInitError","errorMessage":"init failed on purpose"}' "$api/init/error" >/dev/null
  exit 1
fi
echo "init: pid $$ AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL LAMBDA_TASK_ROOT=$LAMBDA_TASK_ROOT TMPDIR=$TMPDIR"
while true; do
  headers="$TMPDIR/headers"
  event="$TMPDIR/event"
  curl -sS -D "$headers" -o "$event" "$api/invocation/next"
  rid="$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d' ' -f2 | tr -d '\r')"
  echo "invocation $rid: $(head -c 200 "$event")"
  if grep -q '"mode": *"error"' "$event"; then
    curl -sS -X POST -d '{"errorType":"SelftestError","errorMessage":"failed on purpose"}' "$api/invocation/$rid/error" >/dev/null
    continue
  elif grep -q '"mode": *"exit"' "$event"; then
    echo "exiting on purpose" >&2
    exit 3
  elif grep -q '"mode": *"sleep"' "$event"; then
    sleep 30
  fi
  response='{"batchItemFailures":[]}'
  if grep -q '"eventSource": *"aws:kinesis"' "$event"; then
    cp "$event" "$OUT/events/$rid.json"
    # Lambda -> S3 with the credentials and endpoint LocalStack injected (path style).
    curl -sS -f -X PUT --data-binary "@$event" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
      --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-security-token: $AWS_SESSION_TOKEN" \
      "$AWS_ENDPOINT_URL/$BUCKET/batches/$rid.json" >/dev/null
    if [[ -f "$OUT/fail-seq" && ! -f "$OUT/failed-once" ]] && grep -qF "$(cat "$OUT/fail-seq")" "$event"; then
      touch "$OUT/failed-once"
      response="{\"batchItemFailures\":[{\"itemIdentifier\":\"$(cat "$OUT/fail-seq")\"}]}"
    fi
  fi
  curl -sS -X POST -d "$response" "$api/invocation/$rid/response" >/dev/null
done
BOOTSTRAP
chmod +x "$WORK/bootstrap"
echo "no bootstrap in here" >"$WORK/README"
(cd "$WORK" && "$PY" -m zipfile -c function.zip bootstrap && "$PY" -m zipfile -c no-bootstrap.zip README)

say "creating stream, bucket, role"
aws_ kinesis create-stream --stream-name "$STREAM" --shard-count 2 >/dev/null
stream_active() { [[ "$(aws_ kinesis describe-stream-summary --stream-name "$STREAM" --query StreamDescriptionSummary.StreamStatus --output text)" == ACTIVE ]]; }
wait_for "stream ACTIVE" stream_active
STREAM_ARN="$(aws_ kinesis describe-stream-summary --stream-name "$STREAM" --query StreamDescriptionSummary.StreamARN --output text)"
aws_ s3api create-bucket --bucket "$BUCKET" >/dev/null
ROLE_ARN="$(aws_ iam create-role --role-name "$ROLE" --query Role.Arn --output text \
  --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}')"
ok "stream $STREAM_ARN, bucket $BUCKET, role $ROLE_ARN"

# kinesis-mock ignores CreateStream's Tags; the executor package's kinesis_tags hook
# applies them before the response, so they must be there right away (still CREATING).
aws_ kinesis create-stream --stream-name "$STREAM_TAGGED" --shard-count 1 --tags kstream:deployment=selftest >/dev/null
tags="$(aws_ kinesis list-tags-for-stream --stream-name "$STREAM_TAGGED" --query 'Tags[].[Key,Value]' --output text)"
[[ "$tags" == $'kstream:deployment\tselftest' ]] || fail "tags right after CreateStream: '$tags'"
[[ -z "$(aws_ kinesis list-tags-for-stream --stream-name "$STREAM" --query 'Tags[]' --output text)" ]] ||
  fail "stream created without tags has tags"
if err="$(aws_ kinesis create-stream --stream-name "$STREAM_TAGGED" --shard-count 1 --tags kstream:deployment=other 2>&1)"; then
  fail "CreateStream of an existing stream succeeded"
fi
[[ "$err" == *ResourceInUseException* ]] || fail "CreateStream of an existing stream: $err"
ok "CreateStream applies Tags before it returns; an existing stream is ResourceInUseException"

create_function() { # name timeout [extra-env [zip]]
  aws_ lambda create-function --function-name "$1" --runtime provided.al2023 --handler bootstrap \
    --role "$ROLE_ARN" --zip-file "fileb://$WORK/${4:-function.zip}" --timeout "$2" \
    --environment "Variables={OUT=$OUT,BUCKET=$BUCKET${3:+,$3}}" >/dev/null
  function_active() { [[ "$(aws_ lambda get-function --function-name "$1" --query Configuration.State --output text)" == Active ]]; }
  wait_for "function $1 Active" function_active "$1"
}
create_function "$FN" 3
ok "function $FN Active"

# -- direct invokes -----------------------------------------------------------
invoke() { # name payload -> prints "<FunctionError or None> <body>"
  local err
  err="$(aws_ lambda invoke --function-name "$1" --payload "$2" --query FunctionError --output text "$WORK/response.json")"
  printf '%s %s\n' "$err" "$(cat "$WORK/response.json")"
}
result="$(invoke "$FN" '{"mode":"ok"}')"
[[ "$result" == 'None {"batchItemFailures":[]}' ]] || fail "direct invoke: $result"
ok "direct invoke returned the response"
grep -q "^AWS_ENDPOINT_URL=http://127.0.0.1:$PORT$" "$OUT/env" || fail "AWS_ENDPOINT_URL in the function: $(grep AWS_ENDPOINT_URL "$OUT/env")"
grep -q "^AWS_LAMBDA_RUNTIME_API=127.0.0.1:" "$OUT/env" || fail "AWS_LAMBDA_RUNTIME_API not on loopback"
ok "function env: $(grep -E '^(AWS_ENDPOINT_URL|AWS_LAMBDA_RUNTIME_API)=' "$OUT/env" | tr '\n' ' ')"

result="$(invoke "$FN" '{"mode":"error"}')"
[[ "$result" == Unhandled*SelftestError*"failed on purpose"* ]] || fail "error invoke: $result"
ok "/invocation/{id}/error is a function error: $result"

started=$SECONDS
result="$(invoke "$FN" '{"mode":"sleep"}')"
[[ "$result" == Unhandled*"Task timed out after 3.00 seconds"* ]] || fail "timeout invoke: $result"
ok "timeout honoured in $((SECONDS - started))s: $result"

result="$(invoke "$FN" '{"mode":"exit"}')"
[[ "$result" == Unhandled*Runtime.ExitError*"exit status 3"* ]] || fail "exit invoke: $result"
ok "bootstrap exit is a function error: $result"
result="$(invoke "$FN" '{"mode":"ok"}')"
[[ "$result" == 'None {"batchItemFailures":[]}' ]] || fail "invoke after a crash: $result"
ok "re-init after a crash"

create_function "$FN_INIT" 3 INIT_MODE=error
result="$(invoke "$FN_INIT" '{"mode":"ok"}')"
[[ "$result" == Unhandled*SelftestInitError* ]] || fail "init error invoke: $result"
ok "/init/error is a function error: $result"

create_function "$FN_NOBOOT" 3 "" no-bootstrap.zip
result="$(invoke "$FN_NOBOOT" '{"mode":"ok"}')"
[[ "$result" == Unhandled*Runtime.InvalidEntrypoint* ]] || fail "invoke without a bootstrap: $result"
ok "a zip without bootstrap is a function error: $result"

# -- Kinesis -> event source mapping -> Lambda -> S3 ----------------------------
say "putting records and creating the event source mapping"
# One partition key: all records land in one shard, in order. (AWS CLI v1 sends
# --data as given, base64-encoding it on the wire.)
FAIL_SEQ="$(aws_ kinesis put-record --stream-name "$STREAM" --partition-key pk --data record-0 --query SequenceNumber --output text)"
echo "$FAIL_SEQ" >"$OUT/fail-seq"
for i in 1 2 3 4; do
  aws_ kinesis put-record --stream-name "$STREAM" --partition-key pk --data "record-$i" >/dev/null
done
aws_ kinesis put-record --stream-name "$STREAM" --partition-key other-shard --data record-x >/dev/null
put_at=$SECONDS
UUID="$(aws_ lambda create-event-source-mapping --function-name "$FN" --event-source-arn "$STREAM_ARN" \
  --starting-position TRIM_HORIZON --batch-size 10 --maximum-batching-window-in-seconds 0 \
  --function-response-types ReportBatchItemFailures --query UUID --output text)"
mapping_enabled() { [[ "$(aws_ lambda get-event-source-mapping --uuid "$UUID" --query State --output text)" == Enabled ]]; }
wait_for "mapping Enabled" mapping_enabled
ok "event source mapping $UUID Enabled"

# record-0 is failed once: the mapping must send it (and what follows) again.
all_delivered() {
  local n
  n="$(cat "$OUT"/events/*.json 2>/dev/null | grep -o '"sequenceNumber": *"[0-9]*"' | grep -c -F "$FAIL_SEQ" || true)"
  [[ "$n" -ge 2 ]] && cat "$OUT"/events/*.json | grep -q "$(printf 'record-x' | base64)"
}
WAIT=60 wait_for "the retried batch" all_delivered
ok "batches delivered in ~$((SECONDS - put_at))s; record-0 redelivered after its batch item failure"
"$PY" - "$OUT/events" <<'PY' || fail "Kinesis event shape"
import base64, json, pathlib, sys
records = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    records += json.loads(path.read_text())["Records"]
for r in records:
    assert r["eventSource"] == "aws:kinesis" and r["eventName"] == "aws:kinesis:record", r
    assert r["eventSourceARN"].startswith("arn:aws:kinesis:"), r
    assert {"kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data", "approximateArrivalTimestamp"} <= r["kinesis"].keys(), r
data = sorted(base64.b64decode(r["kinesis"]["data"]).decode() for r in records)
assert set(data) == {f"record-{i}" for i in "01234x"}, data
print("selftest: event records (with redeliveries):", data, file=sys.stderr)
PY
ok "Kinesis event shape"
objects="$(aws_ s3api list-objects-v2 --bucket "$BUCKET" --prefix batches/ --query 'length(Contents)' --output text)"
[[ "$objects" -ge 2 ]] || fail "expected batch objects in S3, got $objects"
ok "function wrote $objects batch objects to s3://$BUCKET/batches/"

# -- DeleteFunction stops the process ---------------------------------------------
aws_ lambda delete-event-source-mapping --uuid "$UUID" >/dev/null
aws_ lambda delete-function --function-name "$FN" >/dev/null
aws_ lambda delete-function --function-name "$FN_INIT" >/dev/null
aws_ lambda delete-function --function-name "$FN_NOBOOT" >/dev/null
no_bootstrap_alive() {
  local pidfile
  for pidfile in "$OUT"/pids/*; do
    ! kill -0 "${pidfile##*/}" 2>/dev/null || return 1
  done
}
WAIT=20 wait_for "bootstrap processes to end after DeleteFunction" no_bootstrap_alive
pidfiles=("$OUT"/pids/*)
ok "DeleteFunction stopped all ${#pidfiles[@]} bootstrap processes"

# Everything LocalStack started (kinesis-local among them) must be on loopback.
descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do
    echo "$child"
    descendants "$child"
  done
}
ls_pid="$(cat "$STATE_DIR/localstack.pid")"
pids="$( (echo "$ls_pid"; descendants "$ls_pid") | paste -sd'|')"
sockets="$(ss -ltnpH | grep -E "pid=($pids)," || true)"
[[ -n "$sockets" ]] || fail "no listening sockets found for LocalStack (pids $pids)"
if awk '{print $4}' <<<"$sockets" | grep -v -q -E '^127\.0\.0\.1:'; then
  fail "LocalStack listens beyond loopback: $sockets"
fi
ok "LocalStack's $(wc -l <<<"$sockets") listening sockets are all on 127.0.0.1: $(awk '{print $4}' <<<"$sockets" | paste -sd' ')"
