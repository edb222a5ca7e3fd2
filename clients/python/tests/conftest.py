"""A live Patchbay server for each test: the binary the test command built
(``PATCHBAY_BIN``), on a fresh database of ``DATABASE_URL``'s server."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchbay_client import Client, connect

ROOT = Path(__file__).resolve().parents[3]
JWT_SECRET = "python-client-tests-secret-of-32-bytes-or-more"
ENCRYPTION_KEYS = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
# Where `scripts/test` gathers every log line and every secret for its log
# scan; unset, nothing is recorded.
LOG_SCAN_DIR = os.environ.get("PATCHBAY_LOG_SCAN_DIR")


def _record(kind: str, line: str) -> None:
    if LOG_SCAN_DIR:
        Path(LOG_SCAN_DIR).mkdir(parents=True, exist_ok=True)
        with open(Path(LOG_SCAN_DIR) / f"python-{os.getpid()}.{kind}", "a") as f:
            f.write(line.rstrip("\n") + "\n")


def record_secret(value: str) -> None:
    if value:
        _record("secrets", json.dumps(value))


record_secret(JWT_SECRET)
record_secret(ENCRYPTION_KEYS.split(":", 1)[1])


def binary() -> str:
    return os.environ.get("PATCHBAY_BIN", str(ROOT / "target" / "debug" / "patchbay"))


def createdb() -> str:
    found = shutil.which("createdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/createdb"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError("createdb not found: install PostgreSQL's client binaries")
    return found


def fresh_database() -> str:
    """A new, empty database on DATABASE_URL's server; its URL."""
    admin = os.environ["DATABASE_URL"]
    name = f"pyclient_{uuid.uuid4().hex[:12]}"
    subprocess.run([createdb(), f"--maintenance-db={admin}", name], check=True)
    base, _, _ = admin.rpartition("/")
    return f"{base}/{name}"


class Server:
    """``patchbay serve`` as a child process; ``stop()`` and ``start()``
    again keep its gRPC port, as a restart does."""

    def __init__(self, database: str, *args: str) -> None:
        self.database = database
        self.args = list(args)
        self.grpc_port = 0
        self.http_addr = ""
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._seen = threading.Condition()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, *extra: str) -> Server:
        env = {
            **os.environ,
            "DATABASE_URL": self.database,
            "PATCHBAY_JWT_SECRET": JWT_SECRET,
            "PATCHBAY_ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        }
        env.pop("PATCHBAY_DATA_DIR", None)
        self.lines = []
        self.process = subprocess.Popen(
            [
                binary(),
                "serve",
                "--grpc-addr",
                f"127.0.0.1:{self.grpc_port}",
                "--http-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--log",
                "info,patchbay::status::bus=debug",
                "--provider-base-url",
                "github=http://127.0.0.1:9",
                *self.args,
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        serving = json.loads(self.wait_for('"serving"'))
        self.grpc_port = int(serving["fields"]["grpc_addr"].rsplit(":", 1)[1])
        self.http_addr = serving["fields"]["http_addr"]
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            _record("log", line)
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first log line containing ``text``."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no log line with {text!r}:\n{''.join(self.lines)}")
                self._seen.wait(left)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.process = None

    def token(self, project: str = "acme", role: str = "owner") -> str:
        minted = subprocess.run(
            [binary(), "token", "--sub", "python-tests", "--project", f"{project}={role}"],
            env={**os.environ, "PATCHBAY_JWT_SECRET": JWT_SECRET},
            check=True,
            capture_output=True,
            text=True,
        )
        token = minted.stdout.strip().splitlines()[-1]
        record_secret(token)
        return token


@pytest.fixture
def database() -> str:
    return fresh_database()


@pytest.fixture
def server(database: str) -> Iterator[Server]:
    running = Server(database).start()
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with connect(server.address, server.token()) as connected:
        yield connected
