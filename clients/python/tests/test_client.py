"""The Python client against a real wardend (conftest.py), and its retry
logic against a fake server that fails on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent import futures
from decimal import Decimal

import grpc
import pytest

import warden
from warden.v1 import authorization_pb2, authorization_pb2_grpc, common_pb2

from conftest import DESTINATION


def client(w, who: str = "agent_a", **kwargs) -> warden.Client:
    return warden.Client(w.address, token=w.tokens.get(who, who), **kwargs)


def test_allow_then_settle_releases_the_rest(wardend):
    with client(wardend) as c:
        d = c.authorize("agent_a", "w1", "USDC", 40_000_000, DESTINATION)
        assert d.allowed and d.decision == "ALLOW" and d.status == "HELD"
        assert d.amount_usd == Decimal("40.00")
        assert d.hold_expires_at is not None
        settled = c.settle(d.authorization_id, 30_000_000, "0x" + "ab" * 32)
        assert settled.status == "SETTLED"
        daily = [l for l in c.budget_status("agent/agent_a") if l.name == "daily"][0]
        assert daily.used_usd == Decimal("30.00")
        assert daily.remaining_usd == Decimal("470.00")
        assert not daily.is_count


def test_a_denial_is_a_decision_with_its_figures(wardend):
    with client(wardend) as c:
        for _ in range(5):
            assert c.authorize("agent_a", "w1", "USDC", 99_000_000, DESTINATION).allowed
        d = c.authorize("agent_a", "w1", "USDC", 99_000_000, DESTINATION)
        assert d.denied and not d.allowed and not d.pending
        v = d.violations[0]
        assert v.code == "BUDGET_EXCEEDED"
        assert v.scope == "agent/agent_a" and v.limit == "daily"
        assert v.limit_usd == Decimal("500.00")
        assert "exceeds" in d.reason


def test_the_same_key_is_one_spend(wardend):
    with client(wardend) as c:
        first = c.authorize("agent_a", "w1", "USDC", 60_000_000, DESTINATION,
                            idempotency_key="order-1187")
        again = c.authorize("agent_a", "w1", "USDC", 60_000_000, DESTINATION,
                            idempotency_key="order-1187")
        assert again.authorization_id == first.authorization_id
        assert again.replayed and not first.replayed
        daily = [l for l in c.budget_status("agent/agent_a") if l.name == "daily"][0]
        assert daily.used_usd == Decimal("60.00")


def test_waits_for_an_approval(wardend):
    with client(wardend) as c:
        d = c.authorize("agent_a", "w1", "USDC", 150_000_000, DESTINATION)
        assert d.pending and d.decision == "PENDING_APPROVAL"
        assert d.approvals_required == 1

        def approve():
            time.sleep(1)
            wardend.ctl(wardend.tokens["alice"], "approvals", "approve",
                        d.authorization_id, "--comment", "ok")

        t = threading.Thread(target=approve)
        t.start()
        final = c.wait_for_decision(d.authorization_id, timeout=30)
        t.join()
        assert final.allowed and final.decision == "ALLOW"
        assert c.get(d.authorization_id).decision == "ALLOW"


def test_waiting_ends_at_the_timeout(wardend):
    with client(wardend) as c:
        d = c.authorize("agent_a", "w1", "USDC", 150_000_000, DESTINATION)
        started = time.monotonic()
        with pytest.raises(warden.DeadlineExceeded, match="still PENDING_APPROVAL"):
            c.wait_for_decision(d.authorization_id, timeout=1.5)
        assert time.monotonic() - started < 10


def test_errors_are_typed_and_name_the_field(wardend):
    with client(wardend) as c:
        with pytest.raises(warden.InvalidArgument) as bad:
            c.authorize("agent_a", "w1", "USDC", 1, "0xnot-an-address")
        assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert bad.value.message.startswith("destination")
        with pytest.raises(warden.PermissionDenied):
            c.authorize("agent_b", "w2", "USDC", 1, DESTINATION)
        with pytest.raises(warden.PermissionDenied):
            c.budget_status("agent/agent_b")
        with pytest.raises(warden.NotFound):
            c.get("az_" + "0" * 32)
    with warden.Client(wardend.address, token=None) as anonymous:
        with pytest.raises(warden.Unauthenticated):
            anonymous.whoami()
    with warden.Client(wardend.address, token="wdn_wrong_token") as wrong:
        with pytest.raises(warden.Unauthenticated):
            wrong.authorize("agent_a", "w1", "USDC", 1, DESTINATION)


@pytest.mark.parametrize("amount", [-1, "1.5", "", "1e6", "٣", 1.0, True, None])
def test_amounts_are_base_units(wardend, amount):
    with client(wardend) as c:
        with pytest.raises((ValueError, TypeError), match="amount"):
            c.authorize("agent_a", "w1", "USDC", amount, DESTINATION)


def test_a_huge_amount_is_refused_by_the_server(wardend):
    with client(wardend) as c:
        with pytest.raises(warden.InvalidArgument, match="amount"):
            c.authorize("agent_a", "w1", "USDC", 2**200, DESTINATION)


def test_whoami(wardend):
    with client(wardend, "alice") as c:
        me = c.whoami()
        assert me.org_id == "acme" and me.principal == "user/alice"
        assert me.roles == ["approver"]


class FlakyAuthorizer(authorization_pb2_grpc.AuthorizationServiceServicer):
    """Answers UNAVAILABLE `failures` times, then ALLOW; keeps each key."""

    def __init__(self, failures: int, code=grpc.StatusCode.UNAVAILABLE):
        self.failures, self.code, self.keys = failures, code, []

    def Authorize(self, request, context):
        self.keys.append(request.idempotency_key)
        if len(self.keys) <= self.failures:
            context.abort(self.code, "redis: stopped")
        return authorization_pb2.AuthorizeResponse(
            decision=common_pb2.DECISION_ALLOW, authorization_id="az_1",
            status=common_pb2.AUTHORIZATION_STATUS_HELD, amount_usd="1.00")


@pytest.fixture
def flaky():
    servers = []

    def start(failures: int, code=grpc.StatusCode.UNAVAILABLE):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        servicer = FlakyAuthorizer(failures, code)
        authorization_pb2_grpc.add_AuthorizationServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}", servicer

    yield start
    for s in servers:
        s.stop(0)


def test_retries_unavailable_with_the_same_key(flaky):
    address, servicer = flaky(2)
    with warden.Client(address, token="t", backoff=0.01) as c:
        d = c.authorize("agent_a", "w1", "USDC", 1, DESTINATION)
    assert d.allowed
    assert len(servicer.keys) == 3
    assert len(set(servicer.keys)) == 1 and len(servicer.keys[0]) == 32


def test_gives_up_after_its_retries(flaky):
    address, servicer = flaky(10)
    with warden.Client(address, token="t", retries=2, backoff=0.01) as c:
        with pytest.raises(warden.Unavailable, match="redis: stopped"):
            c.authorize("agent_a", "w1", "USDC", 1, DESTINATION)
    assert len(servicer.keys) == 3


def test_does_not_retry_a_refusal(flaky):
    address, servicer = flaky(1, grpc.StatusCode.INVALID_ARGUMENT)
    with warden.Client(address, token="t", backoff=0.01) as c:
        with pytest.raises(warden.InvalidArgument):
            c.authorize("agent_a", "w1", "USDC", 1, DESTINATION)
    assert len(servicer.keys) == 1


def test_each_spend_gets_its_own_key(flaky):
    address, servicer = flaky(0)
    with warden.Client(address, token="t") as c:
        c.authorize("agent_a", "w1", "USDC", 1, DESTINATION)
        c.authorize("agent_a", "w1", "USDC", 1, DESTINATION)
    assert servicer.keys[0] != servicer.keys[1]


def test_the_example_pays_and_reports_what_is_left(wardend):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run(
        [sys.executable, os.path.join(here, "examples", "agent.py"), "--agent", "agent_a",
         "--wallet", "w1", "--asset", "USDC", "--amount", "25000000", "--to", DESTINATION],
        env={**os.environ, "PYTHONPATH": here, "WARDEN_SERVER": wardend.address,
             "WARDEN_TOKEN": wardend.tokens["agent_a"]},
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ALLOW az_")
    assert "SETTLED" in run.stdout
    assert "daily (rolling:24h): $475.00 left" in run.stdout


def test_a_retry_after_a_restart_is_the_same_spend(wardend):
    """The idempotency key outlives wardend: the audit trail restores it."""
    with client(wardend) as c:
        first = c.authorize("agent_a", "w1", "USDC", 70_000_000, DESTINATION,
                            idempotency_key="invoice-42")
    wardend.stop()
    wardend.restart()
    # Embedded mode keeps tokens in memory: the agent gets a new one.
    token = wardend.mint("agent/agent_a", "agent")
    with warden.Client(wardend.address, token=token) as c:
        again = c.authorize("agent_a", "w1", "USDC", 70_000_000, DESTINATION,
                            idempotency_key="invoice-42")
        assert again.replayed and again.authorization_id == first.authorization_id
        daily = [l for l in c.budget_status("agent/agent_a") if l.name == "daily"][0]
        assert daily.used_usd == Decimal("70.00")
