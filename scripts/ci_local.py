"""Runs the jobs of .github/workflows/*.yml on this machine, as GitHub would run them.

Run it through `scripts/ci-local`, which provides PyYAML. For every job, in file order:

- `run:` steps run in order with `bash --noprofile --norc -eo pipefail`, as on GitHub, with
  the workflow's, the job's and the step's `env:`, `CI=true`, the runner variables the
  workflows use (`RUNNER_TEMP`, `RUNNER_ARCH`, `GITHUB_WORKSPACE`, ...), and `GITHUB_ENV`,
  `GITHUB_PATH`, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files that are read back after each
  step. `if:` conditions and `${{ }}` expressions are evaluated for the contexts the workflows
  use; anything else is an error here, so a workflow cannot drift past this script unseen.
- `uses:` steps cannot run here. Each known action has a local equivalent that checks its
  effect is present (the pinned toolchain, Python, Node) or says why it is not needed
  (checkout, caches); an unknown action is an error.
- A job's LocalStack service container (no Docker engine here) is replaced by the project's
  host-mode LocalStack on another port, passed to the steps as `LOCALSTACK_PORT`. Steps that
  need Docker itself are listed in DOCKER_ONLY with the reason, and skipped.

usage: scripts/ci-local [--list | --dry-run] [JOB...]     JOB: `<workflow>/<job>` or `<job>`, e.g. ci/lint
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
LOCAL_PORT = os.environ.get("KSTREAM_CI_LOCAL_PORT", "4599")
# `--dry-run`: evaluate conditions, expressions and `uses:` steps, print the `run:` steps.
DRY_RUN = False

# Steps that only make sense with a Docker engine, by (workflow, job, step name): skipped,
# with the reason. A name that no longer exists is an error, so this list cannot rot.
DOCKER_ONLY = {
    ("smoke", "smoke", "Pull the provided.al2023 runtime image"): (
        "no Docker engine here; the host-mode LocalStack runs `bootstrap` as a process"
    ),
}


class Failure(Exception):
    pass


def log(message: str) -> None:
    print(f"ci-local: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Expressions: the small part of GitHub's expression language the workflows use.

TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*))"
)


class Expr:
    """Evaluates one expression against `contexts` (a dict of nested dicts)."""

    def __init__(self, text: str, contexts: dict, status: str):
        self.tokens = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise Failure(f"cannot parse expression `{text}` at `{text[pos:]}`")
            kind = match.lastgroup
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0
        self.text = text
        self.contexts = contexts
        self.status = status  # "success" or "failure" so far in the job

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def evaluate(self):
        value = self.or_()
        if self.pos != len(self.tokens):
            raise Failure(f"unexpected `{self.peek()[1]}` in `{self.text}`")
        return value

    def or_(self):
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value or right
        return value

    def and_(self):
        value = self.comparison()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.comparison()
            value = value and right
        return value

    def comparison(self):
        value = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.unary()
            equal = str(value).lower() == str(right).lower()
            value = equal if op == "==" else not equal
        return value

    def unary(self):
        if self.peek() == ("op", "!"):
            self.take()
            return not self.unary()
        return self.primary()

    def primary(self):
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if kind == "op" and text == "(":
            value = self.or_()
            if self.take() != ("op", ")"):
                raise Failure(f"missing `)` in `{self.text}`")
            return value
        if kind == "name":
            if self.peek() == ("op", "("):
                return self.call(text)
            if text in ("true", "false"):
                return text == "true"
            return self.lookup(text)
        raise Failure(f"unexpected `{text}` in `{self.text}`")

    def call(self, function: str):
        self.take()  # (
        args = []
        while self.peek() != ("op", ")"):
            args.append(self.or_())
            if self.peek() == ("op", ","):
                self.take()
        self.take()  # )
        if function == "success":
            return self.status == "success"
        if function == "failure":
            return self.status == "failure"
        if function == "always":
            return True
        if function == "cancelled":
            return False
        raise Failure(f"function `{function}()` in `{self.text}` has no local equivalent")

    def lookup(self, path: str):
        parts = path.split(".")
        if parts[0] not in self.contexts:
            raise Failure(f"context `{parts[0]}` in `{self.text}` has no local equivalent")
        value = self.contexts
        for part in parts:
            if not isinstance(value, dict):
                return ""
            value = value.get(part, "")
        return value


def interpolate(text: str, contexts: dict, status: str = "success") -> str:
    def replace(match):
        value = Expr(match.group(1), contexts, status).evaluate()
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return re.sub(r"\$\{\{(.*?)\}\}", replace, str(text))


class LazyInputs:
    """An action's `with:` inputs, each interpolated when it is read."""

    def __init__(self, raw: dict, contexts: dict):
        self.raw = raw
        self.contexts = contexts

    def get(self, key: str, default=""):
        if key not in self.raw:
            return default
        return interpolate(self.raw[key], self.contexts)


def condition(text, contexts: dict, status: str) -> bool:
    if text is None:
        return status == "success"
    text = str(text).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    value = Expr(text, contexts, status).evaluate()
    # As on GitHub, a condition without a status function implies success().
    if not re.search(r"\b(success|failure|always|cancelled)\(", text):
        value = value and status == "success"
    return bool(value)


# ---------------------------------------------------------------------------------------------
# Local equivalents of the actions the workflows use.


def toolchain_channel() -> str:
    text = (ROOT / "rust-toolchain.toml").read_text()
    match = re.search(r'^channel\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise Failure("rust-toolchain.toml has no `channel`")
    return match.group(1)


def action_rust_toolchain(inputs: LazyInputs, job) -> str:
    wanted = str(inputs.get("toolchain", ""))
    channel = toolchain_channel()
    if wanted != channel:
        raise Failure(
            f"the workflow installs Rust `{wanted}`, rust-toolchain.toml pins `{channel}`: make them agree"
        )
    version = subprocess.run(
        ["rustc", "--version"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    if not version.startswith(f"rustc {channel} ") and channel not in ("stable", "beta", "nightly"):
        raise Failure(f"rust-toolchain.toml pins {channel}, but `rustc --version` here is `{version}`")
    components = [c.strip() for c in str(inputs.get("components", "")).split(",") if c.strip()]
    installed = subprocess.run(
        ["rustup", "component", "list", "--installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    missing = [c for c in components if not re.search(rf"^{re.escape(c)}(-|$)", installed, re.M)]
    if missing:
        raise Failure(f"Rust components missing here: {', '.join(missing)} (rustup component add …)")
    return f"present: {version}" + (f" with {', '.join(components)}" if components else "")


def action_setup_python(inputs: LazyInputs, job) -> str:
    wanted = str(inputs.get("python-version", ""))
    candidates = [shutil.which(f"python{wanted}")]
    candidates += sorted(Path.home().glob(f".pyenv/versions/{wanted}*/bin/python{wanted}"))
    for candidate in candidates:
        if not candidate:
            continue
        result = subprocess.run(
            [str(candidate), "-c", "import sys, venv; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0:
            bin_dir = Path(candidate).parent
            # setup-python's effect: this Python first on PATH (with `python` and `python3`).
            if (bin_dir / "python3").exists():
                job.path.insert(0, str(bin_dir))
            job.outputs["python-version"] = result.stdout.strip()
            return f"present: Python {result.stdout.strip()} ({candidate})"
    raise Failure(f"Python {wanted} with venv not found on PATH nor under ~/.pyenv/versions")


def action_setup_node(inputs: LazyInputs, job) -> str:
    wanted = str(inputs.get("node-version", "")).split(".")[0]
    node = shutil.which("node")
    if not node:
        raise Failure("node not found (the workflow sets up Node.js; Kinesis in LocalStack needs it)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if version.lstrip("v").split(".")[0] != wanted:
        return f"present: Node.js {version} here; GitHub gets {wanted} (nothing here uses a feature of either)"
    return f"present: Node.js {version}"


def action_checkout(inputs: LazyInputs, job) -> str:
    return f"not needed: the working tree is {ROOT}"


def action_cache(inputs: LazyInputs, job) -> str:
    return "not needed: a cache only speeds up GitHub's fresh runners"


ACTIONS = {
    "actions/checkout": action_checkout,
    "dtolnay/rust-toolchain": action_rust_toolchain,
    "actions/setup-python": action_setup_python,
    "actions/setup-node": action_setup_node,
    "actions/cache": action_cache,
    "Swatinem/rust-cache": action_cache,
}


# ---------------------------------------------------------------------------------------------
# Jobs.


class Job:
    def __init__(self, workflow: str, job_id: str, spec: dict, workflow_env: dict):
        self.workflow = workflow
        self.id = job_id
        self.spec = spec
        self.env = {}
        self.workflow_env = workflow_env
        self.path: list[str] = []
        self.outputs: dict = {}
        self.steps: dict = {}
        self.status = "success"
        self.services_started: list[str] = []

    @property
    def name(self) -> str:
        return f"{self.workflow}/{self.id}"


def runner_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "X64", "amd64": "X64", "aarch64": "ARM64", "arm64": "ARM64"}.get(machine, machine)


def contexts_for(job: Job, env: dict) -> dict:
    return {
        "github": {
            "workflow": job.workflow,
            "ref": "refs/heads/local",
            "workspace": str(ROOT),
            "run_id": env["GITHUB_RUN_ID"],
            "run_attempt": "1",
            "event_name": "workflow_dispatch",
        },
        "runner": {"os": "Linux", "arch": runner_arch(), "temp": env["RUNNER_TEMP"]},
        "env": env,
        "steps": job.steps,
        # No containers here: their ids are empty.
        "job": {"services": {name: {"id": ""} for name in job.spec.get("services") or {}}},
    }


def read_env_file(path: Path) -> dict:
    """Parses a $GITHUB_ENV / $GITHUB_OUTPUT file (NAME=value and NAME<<DELIM blocks)."""
    values = {}
    if not path.exists():
        return values
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


def start_services(job: Job, env: dict) -> None:
    for name, service in (job.spec.get("services") or {}).items():
        image = str(service.get("image", ""))
        if not image.startswith("localstack/localstack"):
            raise Failure(f"{job.name}: service `{name}` ({image}) has no local equivalent")
        log(f"{job.name}: service `{name}` ({image}) -> host-mode LocalStack on 127.0.0.1:{LOCAL_PORT}")
        subprocess.run(
            [str(ROOT / "scripts" / "localstack"), "up"],
            cwd=ROOT,
            env={**env, "KSTREAM_LOCALSTACK_PORT": LOCAL_PORT},
            check=True,
        )
        job.services_started.append(name)
        job.env["LOCALSTACK_PORT"] = LOCAL_PORT


def stop_services(job: Job, env: dict) -> None:
    if job.services_started:
        subprocess.run(
            [str(ROOT / "scripts" / "localstack"), "down"],
            cwd=ROOT,
            env={**env, "KSTREAM_LOCALSTACK_PORT": LOCAL_PORT},
        )


def check_no_literal_port(job: Job) -> None:
    """With a service replaced, steps must take its port from LOCALSTACK_PORT."""
    if not job.spec.get("services"):
        return
    for step in job.spec.get("steps", []):
        if "4566" in str(step.get("run", "")):
            raise Failure(
                f"{job.name}: step `{step.get('name')}` names port 4566; use ${{LOCALSTACK_PORT}} so it can run here"
            )


def run_job(job: Job) -> None:
    started = time.monotonic()
    temp = Path(tempfile.mkdtemp(prefix=f"ci-local-{job.workflow}-{job.id}-"))
    files = {name: temp / name for name in ("env", "path", "output", "summary")}
    for path in files.values():
        path.touch()
    base_env = dict(os.environ)
    base_env.update(
        {
            "CI": "true",
            "GITHUB_WORKSPACE": str(ROOT),
            "GITHUB_RUN_ID": str(int(time.time())),
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_ENV": str(files["env"]),
            "GITHUB_PATH": str(files["path"]),
            "GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "RUNNER_TEMP": str(temp / "runner-temp"),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": runner_arch(),
        }
    )
    (temp / "runner-temp").mkdir()
    check_no_literal_port(job)
    timeout = float(job.spec.get("timeout-minutes", 360)) * 60

    def current_env() -> dict:
        env = dict(base_env)
        contexts = contexts_for(job, env)
        for key, value in {**job.workflow_env, **(job.spec.get("env") or {})}.items():
            env[key] = interpolate(value, contexts)
        env.update(job.env)
        env.update(read_env_file(files["env"]))
        path_entries = [line for line in files["path"].read_text().splitlines() if line.strip()]
        env["PATH"] = os.pathsep.join(list(reversed(path_entries)) + job.path + [env.get("PATH", "")])
        return env

    log(f"=== job {job.name}: {job.spec.get('name', job.id)}")
    try:
        if not DRY_RUN:
            start_services(job, current_env())
        for index, step in enumerate(job.spec.get("steps", []), 1):
            label = step.get("name") or step.get("uses") or f"step {index}"
            env = current_env()
            contexts = contexts_for(job, env)
            if not condition(step.get("if"), contexts, job.status):
                log(f"--- {job.name} [{index}] {label}: skipped (if: {step.get('if', 'success()')})")
                continue
            record = {"outputs": {}, "outcome": "success", "conclusion": "success"}
            if "uses" in step:
                action, _, ref = str(step["uses"]).partition("@")
                handler = ACTIONS.get(action)
                if handler is None:
                    raise Failure(f"{job.name}: action `{action}` has no local equivalent in scripts/ci_local.py")
                # Inputs are interpolated when a handler reads them: a cache key's hashFiles()
                # never needs evaluating here.
                inputs = LazyInputs(step.get("with") or {}, contexts)
                job.outputs = {}
                try:
                    message = handler(inputs, job)
                    record["outputs"] = dict(job.outputs)
                    log(f"--- {job.name} [{index}] uses {action}: {message}")
                except Failure as failure:
                    log(f"--- {job.name} [{index}] uses {action}: FAILED: {failure}")
                    record["outcome"] = record["conclusion"] = "failure"
                    job.status = "failure"
            elif (job.workflow, job.id, step.get("name")) in DOCKER_ONLY:
                log(f"--- {job.name} [{index}] {label}: skipped: {DOCKER_ONLY[(job.workflow, job.id, step.get('name'))]}")
                record["outcome"] = record["conclusion"] = "skipped"
            else:
                script = interpolate(step["run"], contexts, job.status)
                for key, value in (step.get("env") or {}).items():
                    env[key] = interpolate(value, contexts, job.status)
                if DRY_RUN:
                    log(f"--- {job.name} [{index}] {label}: would run:\n{script.rstrip()}")
                    if "id" in step:
                        job.steps[step["id"]] = record
                    continue
                script_path = temp / f"step-{index}.sh"
                script_path.write_text(script)
                files["output"].write_text("")
                log(f"--- {job.name} [{index}] {label}")
                remaining = max(1.0, timeout - (time.monotonic() - started))
                step_started = time.monotonic()
                try:
                    result = subprocess.run(
                        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)],
                        cwd=ROOT / step.get("working-directory", "."),
                        env=env,
                        stdin=subprocess.DEVNULL,
                        timeout=remaining,
                    )
                    code = result.returncode
                except subprocess.TimeoutExpired:
                    log(f"{job.name}: the job's timeout-minutes ran out in `{label}`")
                    code = 124
                record["outputs"] = read_env_file(files["output"])
                took = time.monotonic() - step_started
                if code != 0:
                    log(f"--- {job.name} [{index}] {label}: FAILED (exit {code}, {took:.0f} s)")
                    if not step.get("continue-on-error"):
                        record["outcome"] = record["conclusion"] = "failure"
                        job.status = "failure"
                else:
                    log(f"--- {job.name} [{index}] {label}: ok ({took:.0f} s)")
            if "id" in step:
                job.steps[step["id"]] = record
    finally:
        stop_services(job, dict(os.environ))
        summary = files["summary"].read_text()
        if summary.strip():
            log(f"{job.name}: step summary:\n{summary}")
        shutil.rmtree(temp, ignore_errors=True)
    took = time.monotonic() - started
    if job.status != "success":
        raise Failure(f"job {job.name} failed after {took:.0f} s")
    log(f"=== job {job.name}: ok ({took:.0f} s)")


def load_jobs() -> list[Job]:
    jobs = []
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        workflow = yaml.safe_load(path.read_text())
        env = workflow.get("env") or {}
        for job_id, spec in (workflow.get("jobs") or {}).items():
            jobs.append(Job(path.stem, job_id, spec, env))
    for (workflow, job_id, step_name), _ in DOCKER_ONLY.items():
        job = next((j for j in jobs if j.workflow == workflow and j.id == job_id), None)
        if job is None or not any(s.get("name") == step_name for s in job.spec.get("steps", [])):
            raise Failure(f"DOCKER_ONLY names `{workflow}/{job_id}: {step_name}`, which no longer exists")
    return jobs


def main(argv: list[str]) -> int:
    global DRY_RUN
    if argv[:1] == ["--dry-run"]:
        DRY_RUN = True
        argv = argv[1:]
    try:
        jobs = load_jobs()
        if argv[:1] == ["--list"]:
            for job in jobs:
                print(f"{job.name}\t{job.spec.get('name', '')}")
            return 0
        if argv:
            selected = []
            for wanted in argv:
                matches = [j for j in jobs if wanted in (j.name, j.id)]
                if not matches:
                    raise Failure(f"no job `{wanted}`; `scripts/ci-local --list` lists them")
                selected += [j for j in matches if j not in selected]
            jobs = selected
        started = time.monotonic()
        for job in jobs:
            run_job(job)
        log(f"all {len(jobs)} job(s) passed in {time.monotonic() - started:.0f} s")
        return 0
    except Failure as failure:
        log(f"error: {failure}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
