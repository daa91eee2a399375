"""`HostRuntimeExecutor`: one LocalStack execution environment = one host `bootstrap` process.

Each environment serves its own Lambda Runtime API on 127.0.0.1 (a free port) and
runs `<unzipped code>/bootstrap` with `AWS_LAMBDA_RUNTIME_API` pointing at it, the
way AWS runs a `provided.al2023` function. What AWS's sandbox would enforce is done
here: the function timeout, re-init after a crash or timeout, error reporting for
`/init/error`, `/invocation/{id}/error` and a runtime that exits.

Limits (deliberate): no isolation (the process runs as LocalStack's user, sees the
host's filesystem and network), no memory limit, no extensions or telemetry API,
no response streaming, and only `provided*` runtimes with zip packages.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

from localstack import config
from localstack.aws.api.lambda_ import Architecture, PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    NAMESPACE,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import (
    FunctionVersion,
    InvocationResult,
)
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

RUNTIME_API_PREFIX = "/2018-06-01/runtime"
# Keeps get_logs() bounded for long-lived environments; the log file keeps everything.
MAX_BUFFERED_LOG_LINES = 10_000
# Output written just before the runtime posts its response may still sit in the
# pipe; this is how long an invocation waits for the reader threads to catch up.
LOG_SETTLE_SECONDS = 0.02
# Lets the exit watcher collect a crashing runtime's last stderr lines (a Rust panic
# message) before it reports the exit.
PIPE_DRAIN_SECONDS = 1.0


def _loopback_or(host: str) -> str:
    """The address a host process uses to reach a server bound to `host`."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host.strip("[]")


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _exit_description(returncode: int) -> str:
    # Same wording as AWS's Runtime.ExitError messages.
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"signal: {signal.Signals(-returncode).name.removeprefix('SIG').lower()}"
    except ValueError:  # real-time signals have no name
        return f"signal: {-returncode}"


@dataclass
class _Invocation:
    """One invoke as handed to the runtime through `/invocation/next`."""

    request_id: str
    body: bytes
    headers: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    result: Future[InvocationResult] = field(default_factory=Future)
    log_lines: list[str] = field(default_factory=list)


class _InitFailed(Exception):
    """The runtime did not reach `/invocation/next`; `payload` is the Lambda error body."""

    def __init__(self, payload: bytes) -> None:
        super().__init__(payload.decode(errors="replace"))
        self.payload = payload


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so runtime clients (hyper in Rust's lambda_runtime) can keep the connection.
    protocol_version = "HTTP/1.1"
    server: _RuntimeApiServer

    def do_GET(self) -> None:
        if self.path == f"{RUNTIME_API_PREFIX}/invocation/next":
            self.server.executor._handle_next(self)
        else:
            self._reply(HTTPStatus.NOT_FOUND, _error_payload("NotFound", self.path))

    def do_POST(self) -> None:
        body = self._read_body()
        parts = self.path.removeprefix(RUNTIME_API_PREFIX).strip("/").split("/")
        executor = self.server.executor
        if parts == ["init", "error"]:
            executor._handle_init_error(self, body)
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            executor._handle_result(self, parts[1], body, is_error=parts[2] == "error")
        else:
            self._reply(HTTPStatus.NOT_FOUND, _error_payload("NotFound", self.path))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(
        self, status: HTTPStatus, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        LOG.debug("runtime api %s: %s", self.server.executor.id, format % args)


class _RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, executor: HostRuntimeExecutor) -> None:
        self.executor = executor
        # Port 0: the kernel picks a free port, with no window for another process to take it.
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        # A killed bootstrap (timeout, stop) resets its connections; that is expected.
        LOG.debug(
            "runtime api %s: connection from %s failed",
            self.executor.id,
            client_address,
            exc_info=True,
        )


class HostRuntimeExecutor(RuntimeExecutor):
    """Runs a `provided*` function's `bootstrap` on the host behind a local Runtime API."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._cond = threading.Condition()
        self._env_vars: dict[str, str] = {}
        self._server: _RuntimeApiServer | None = None
        self._tmpdir: Path | None = None
        self._log_file: IO[str] | None = None
        self._logs: deque[str] = deque(maxlen=MAX_BUFFERED_LOG_LINES)
        self._stopped = False
        # Everything below describes the current bootstrap process; `_generation`
        # tells callbacks of an earlier (crashed or timed-out) process to stay out.
        self._process: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._exit_code: int | None = None
        self._init_error: bytes | None = None
        self._waiting_for_next = False
        self._queued: _Invocation | None = None
        self._current: _Invocation | None = None

    # -- RuntimeExecutor interface -------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f"lambda-{self.id[:8]}-"))
        self._log_file = self._open_log_file()
        self._server = _RuntimeApiServer(self)
        threading.Thread(
            target=self._server.serve_forever, name=f"lambda-runtime-api-{self.id[:8]}", daemon=True
        ).start()
        self._env_vars = self._process_env(env_vars)
        try:
            self._spawn_and_wait_for_init()
        except _InitFailed as e:
            # LocalStack turns this into a function error carrying `payload`, as
            # with a Docker environment whose init failed.
            raise StatusErrorException("Environment startup failed", payload=e.payload) from None

    def stop(self) -> None:
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            pending = [inv for inv in (self._queued, self._current) if inv is not None]
            self._queued = self._current = None
            self._cond.notify_all()
        self._kill_process()
        for invocation in pending:
            invocation.result.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        if self._log_file is not None:
            self._log_file.close()

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # The bootstrap runs beside LocalStack, so LocalStack is where it listens.
        return config.HOSTNAME_FROM_LAMBDA or _loopback_or(config.GATEWAY_LISTEN[0].host)

    def get_runtime_endpoint(self) -> str:
        # Only handed to the function as LOCALSTACK_RUNTIME_ENDPOINT; this executor
        # does not use LocalStack's executor callback routes.
        return f"http://{self.get_endpoint_from_executor()}:{config.GATEWAY_LISTEN[0].port}{NAMESPACE}/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout)
        invocation = _Invocation(
            request_id=request_id,
            body=payload["payload"].encode(),
            headers={
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(int((time.time() + timeout) * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": payload["invoked-function-arn"],
                "Lambda-Runtime-Trace-Id": payload.get("trace-id") or "",
            },
        )
        self._append_log(
            f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}",
            invocation,
        )
        with self._cond:
            needs_init = self._process is None or self._exit_code is not None
        if needs_init:
            # A crash or timeout ended the previous process; AWS re-initialises the
            # sandbox on the next invoke, so do the same instead of failing forever.
            try:
                self._spawn_and_wait_for_init()
            except _InitFailed as e:
                return self._finish(invocation, e.payload, is_error=True)
        with self._cond:
            if self._stopped:
                raise LambdaRuntimeException(f"execution environment {self.id} was stopped")
            if self._exit_code is not None:
                return self._finish(
                    invocation, self._exit_error(request_id, self._exit_code), is_error=True
                )
            self._queued = invocation
            self._cond.notify_all()
        try:
            return invocation.result.result(timeout=timeout)
        except FutureTimeoutError:
            LOG.info(
                "function %s timed out after %ss", self.function_version.qualified_arn, timeout
            )
            with self._cond:
                self._queued = self._current = None
            self._kill_process()
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            message = f"{now} {request_id} Task timed out after {timeout:.2f} seconds"
            return self._finish(
                invocation, _error_payload("Sandbox.Timedout", message), is_error=True
            )
        except CancelledError:
            raise LambdaRuntimeException(
                f"execution environment {self.id} was stopped during an invocation"
            ) from None

    def get_logs(self) -> str:
        with self._cond:
            return "\n".join(self._logs)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        fn_config = function_version.config
        if fn_config.package_type != PackageType.Zip or not fn_config.code:
            raise LambdaRuntimeException("the host executor runs zip packages only, not images")
        if not (fn_config.runtime or "").startswith("provided"):
            raise LambdaRuntimeException(
                f"the host executor runs `provided*` runtimes only, not {fn_config.runtime}"
            )
        arch = fn_config.architectures[0] if fn_config.architectures else Architecture.x86_64
        host_arch = {"x86_64": Architecture.x86_64, "aarch64": Architecture.arm64}.get(
            platform.machine()
        )
        if arch != host_arch and not config.LAMBDA_IGNORE_ARCHITECTURE:
            LOG.warning(
                "function %s is built for %s but runs natively on this %s host",
                function_version.qualified_arn,
                arch,
                platform.machine(),
            )
        fn_config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # Nothing beyond the unzipped code, which LocalStack removes itself.
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return platform.system() == "Linux"

    # -- process lifecycle -----------------------------------------------------------

    def _process_env(self, env_vars: dict[str, str]) -> dict[str, str]:
        """LocalStack's environment for the function, adjusted to the host."""
        code = self.function_version.config.code
        # prepare_version() has rejected image functions, the only ones without code.
        assert self._server is not None and self._tmpdir is not None and code is not None
        task_root = str(code.get_unzipped_code_location())
        env = {key: str(value) for key, value in env_vars.items() if value is not None}
        # Not LocalStack's own environment: the function sees what a Lambda sandbox
        # defines (PATH so a script bootstrap finds its tools, a UTF-8 locale).
        env.setdefault("PATH", os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
        env.setdefault("LANG", "C.UTF-8")
        env["LAMBDA_TASK_ROOT"] = task_root
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self._server.server_address[1]}"
        env["TMPDIR"] = str(self._tmpdir)
        return env

    def _spawn_and_wait_for_init(self) -> None:
        """Starts the bootstrap and returns once it asks for its first event."""
        task_root = Path(self._env_vars["LAMBDA_TASK_ROOT"])
        bootstrap = task_root / "bootstrap"
        with self._cond:
            if self._stopped:
                raise LambdaRuntimeException(f"execution environment {self.id} was stopped")
            self._generation += 1
            generation = self._generation
            self._exit_code = None
            self._init_error = None
            self._waiting_for_next = False
            try:
                # Own process group, so stop() also ends whatever the bootstrap spawned.
                process = subprocess.Popen(
                    [str(bootstrap)],
                    cwd=task_root,
                    env=self._env_vars,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            except OSError as e:
                self._append_log(f"failed to start {bootstrap}: {e}")
                raise _InitFailed(
                    _error_payload(
                        "Runtime.InvalidEntrypoint",
                        f"Couldn't start bootstrap {bootstrap}: {e.strerror or e}",
                    )
                ) from None
            self._process = process
        readers = [
            threading.Thread(target=self._pump, args=(stream,), daemon=True)
            for stream in (process.stdout, process.stderr)
        ]
        for reader in readers:
            reader.start()
        threading.Thread(
            target=self._watch_exit, args=(process, generation, readers), daemon=True
        ).start()

        deadline = time.monotonic() + config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        with self._cond:
            while not (
                self._waiting_for_next
                or self._stopped
                or self._exit_code is not None
                or self._init_error
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._waiting_for_next and self._exit_code is None:
                return
            if self._stopped:
                raise LambdaRuntimeException(
                    f"execution environment {self.id} was stopped during init"
                )
            init_error, exit_code = self._init_error, self._exit_code
        self._kill_process()
        if init_error is not None:
            raise _InitFailed(init_error)
        if exit_code is not None:
            raise _InitFailed(
                _error_payload(
                    "Runtime.ExitError",
                    f"Runtime exited with error: {_exit_description(exit_code)}",
                )
            )
        raise _InitFailed(
            _error_payload(
                "Runtime.Unknown",
                "bootstrap did not call /invocation/next within "
                f"{config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT}s",
            )
        )

    def _watch_exit(
        self, process: subprocess.Popen[bytes], generation: int, readers: list[threading.Thread]
    ) -> None:
        returncode = process.wait()
        for reader in readers:
            reader.join(PIPE_DRAIN_SECONDS)
        self._append_log(f"bootstrap exited: {_exit_description(returncode)}")
        with self._cond:
            if generation != self._generation:
                return
            self._exit_code = returncode
            failed = [inv for inv in (self._queued, self._current) if inv is not None]
            self._queued = self._current = None
            self._cond.notify_all()
        for invocation in failed:
            self._finish(
                invocation, self._exit_error(invocation.request_id, returncode), is_error=True
            )

    def _kill_process(self) -> None:
        with self._cond:
            process = self._process
        if process is None or (process.poll() is not None and not self._group_alive(process.pid)):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            LOG.warning("bootstrap pid %s did not die after SIGKILL", process.pid)

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    @staticmethod
    def _exit_error(request_id: str, returncode: int) -> bytes:
        return _error_payload(
            "Runtime.ExitError",
            f"RequestId: {request_id} Error: "
            f"Runtime exited with error: {_exit_description(returncode)}",
        )

    # -- Runtime API handlers (called on the HTTP server's threads) ------------------

    def _handle_next(self, handler: _RuntimeApiHandler) -> None:
        with self._cond:
            generation = self._generation
            self._waiting_for_next = True
            self._cond.notify_all()
            while self._queued is None and not self._stopped and generation == self._generation:
                self._cond.wait()
            invocation = self._queued
            if invocation is None:
                handler.close_connection = True
                handler._reply(HTTPStatus.GONE, _error_payload("ShutDown", "environment stopped"))
                return
            self._queued = None
            self._current = invocation
            self._waiting_for_next = False
        handler._reply(HTTPStatus.OK, invocation.body, invocation.headers)

    def _handle_result(
        self, handler: _RuntimeApiHandler, request_id: str, body: bytes, is_error: bool
    ) -> None:
        with self._cond:
            invocation = self._current
            if invocation is None or invocation.request_id != request_id:
                handler._reply(
                    HTTPStatus.BAD_REQUEST,
                    _error_payload("InvalidRequestID", f"no invocation {request_id} in progress"),
                )
                return
            self._current = None
        if is_error and not body:
            error_type = handler.headers.get("Lambda-Runtime-Function-Error-Type", "Unhandled")
            body = _error_payload(error_type, "")
        handler._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
        time.sleep(LOG_SETTLE_SECONDS)
        self._finish(invocation, body, is_error=is_error)

    def _handle_init_error(self, handler: _RuntimeApiHandler, body: bytes) -> None:
        with self._cond:
            self._init_error = body or _error_payload(
                "Runtime.Unknown", "init error without a body"
            )
            self._cond.notify_all()
        handler._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')

    # -- logs -----------------------------------------------------------------------

    def _finish(self, invocation: _Invocation, payload: bytes, is_error: bool) -> InvocationResult:
        """Completes `invocation` (once) and returns its result."""
        duration_ms = (time.monotonic() - invocation.started) * 1000
        request_id = invocation.request_id
        self._append_log(f"END RequestId: {request_id}", invocation)
        self._append_log(
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\t"
            f"Memory Size: {self.function_version.config.memory_size} MB",
            invocation,
        )
        with self._cond:
            logs = "\n".join(invocation.log_lines) + "\n"
            result = InvocationResult(
                request_id=request_id, payload=payload, is_error=is_error, logs=logs
            )
            # A timeout and a late response can race; the first one wins.
            if not invocation.result.done():
                invocation.result.set_result(result)
            elif not invocation.result.cancelled():
                result = invocation.result.result()
        return result

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._append_log(raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    def _append_log(self, line: str, invocation: _Invocation | None = None) -> None:
        """Records a line of the environment's output, also for the running invocation."""
        with self._cond:
            self._logs.append(line)
            for target in {
                id(inv): inv for inv in (self._current, self._queued, invocation) if inv
            }.values():
                target.log_lines.append(line)
            if self._log_file is not None and not self._log_file.closed:
                self._log_file.write(f"[{self.id[:8]}] {line}\n")
                self._log_file.flush()

    def _open_log_file(self) -> IO[str]:
        # Under the state dir that scripts/localstack hands over, so a failed test
        # can show what the function printed; else beside LocalStack's own logs.
        base = os.environ.get("KSTREAM_LOCALSTACK_STATE_DIR") or config.dirs.logs
        path = Path(base) / "lambda" / f"{self.function_version.id.function_name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a", encoding="utf-8")
