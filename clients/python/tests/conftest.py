"""A real wardend for the client's tests: embedded mode (no servers), token
authentication on, on a loopback port of its choosing. WARDEND and
WARDENCTL name the binaries (clients/python/run_tests.sh sets them)."""

from __future__ import annotations

import os
import selectors
import subprocess
import tempfile
import time

import pytest

# The policy all three client suites share.
BUNDLE = os.path.join(os.path.dirname(__file__), "..", "..", "testdata", "bundle.yaml")

DESTINATION = "0x00000000000000000000000000000000000000ff"


def _binary(name: str) -> str:
    path = os.environ.get(name)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"{name} must name the built binary (clients/python/run_tests.sh)")
    return path


class Wardend:
    def __init__(self, tmp: str):
        self.tmp = tmp
        self.bundle = BUNDLE
        self.token_file = os.path.join(tmp, "admin.tok")
        self.address = self._start("127.0.0.1:0")
        with open(self.token_file) as f:
            self.admin = f.read().strip()
        self.tokens = {
            "agent_a": self.mint("agent/agent_a", "agent"),
            "agent_b": self.mint("agent/agent_b", "agent"),
            "alice": self.mint("user/alice", "approver"),
        }

    def _start(self, listen: str) -> str:
        # The audit file keeps every decision (and its idempotency key)
        # across restarts.
        self.process = subprocess.Popen(
            [_binary("WARDEND"), "--embedded", "--listen", listen,
             "--bundle", self.bundle, "--audit-file", os.path.join(self.tmp, "audit.jsonl"),
             "--bootstrap-token-file", self.token_file],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self._wait_for("wardend listening on ").rsplit(" ", 1)[1]

    def restart(self) -> None:
        """Starts it again on the same address, after stop(). Embedded mode
        keeps tokens in memory: it writes a new admin token."""
        assert self._start(self.address) == self.address
        with open(self.token_file) as f:
            self.admin = f.read().strip()

    def _wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = self.process.stdout.readline()
                if not line:
                    break
                if line.startswith(prefix):
                    return line.strip()
        raise RuntimeError(f"wardend did not print {prefix!r}")

    def ctl(self, token: str, *args: str) -> str:
        out = subprocess.run(
            [_binary("WARDENCTL"), "--server", self.address, "--token", token, *args],
            capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip()

    def mint(self, principal: str, role: str) -> str:
        return self.ctl(self.admin, "token", "create", "--principal", principal,
                        "--role", role)

    def stop(self) -> None:
        # Killed, not drained (a drain waits 2 s): each test has its own.
        self.process.kill()
        self.process.wait()


@pytest.fixture
def wardend():
    with tempfile.TemporaryDirectory(prefix="warden-py-") as tmp:
        w = Wardend(tmp)
        try:
            yield w
        finally:
            w.stop()
