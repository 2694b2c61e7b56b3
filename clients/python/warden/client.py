"""A synchronous client of Warden's AuthorizationService."""

from __future__ import annotations

import re
import time
import uuid
from typing import Callable, List, Optional, TypeVar, Union

import grpc

from warden.errors import DeadlineExceeded, WardenError, from_rpc_error
from warden.types import Decision, LimitStatus, Operation, WhoAmI
from warden.v1 import authorization_pb2, authorization_pb2_grpc

T = TypeVar("T")

# Codes after which the same request, with the same idempotency key, may be
# sent again: Warden decided nothing (UNAVAILABLE: it fails closed), or the
# answer was lost (DEADLINE_EXCEEDED: the key makes the retry a replay).
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class Client:
    """Warden's AuthorizationService for an agent.

    target: "host:port" of wardend's gRPC port.
    token: an API token (``Authorization: Bearer``); None for a server run
        without authentication (development only).
    root_certificates: PEM bytes of the CA that signed wardend's
        certificate, for TLS; None for plaintext (loopback only).
    org_id: the org, when the server serves several.
    timeout: seconds per call.
    retries: how many times authorize/submit retry UNAVAILABLE or a lost
        answer, with the same idempotency key (so at most one spend).
    """

    def __init__(
        self,
        target: str,
        token: Optional[str] = None,
        *,
        root_certificates: Optional[bytes] = None,
        org_id: str = "",
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
    ):
        if timeout <= 0:
            raise ValueError("timeout: must be positive")
        if retries < 0:
            raise ValueError("retries: must be 0 or more")
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self._channel = grpc.secure_channel(target, credentials)
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = authorization_pb2_grpc.AuthorizationServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._org_id = org_id
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- Calls.

    def authorize(
        self,
        agent_id: str,
        wallet_id: str,
        asset: str,
        amount: Union[int, str],
        destination: str,
        *,
        memo: str = "",
        calldata: str = "",
        idempotency_key: Optional[str] = None,
    ) -> Decision:
        """Asks before signing. `amount` is in the asset's base units (an
        int, or a decimal string). Returns the Decision: ALLOW (sign, then
        settle), DENY (its violations say why), or PENDING_APPROVAL /
        DELAYED (wait_for_decision). Retries UNAVAILABLE with the same
        idempotency key: one spend, however many tries."""
        request = authorization_pb2.AuthorizeRequest(
            **self._spend(agent_id, wallet_id, asset, amount, destination, memo,
                          idempotency_key),
            calldata=calldata)
        return Decision.from_proto(self._retrying(self._stub.Authorize, request))

    def wait_for_decision(self, authorization_id: str, timeout: float = 600.0) -> Decision:
        """Waits (WatchAuthorization) until approvers or the delay decide:
        returns the record once it is ALLOW or DENY, or has left HELD.
        Raises DeadlineExceeded after `timeout` seconds."""
        request = authorization_pb2.GetAuthorizationRequest(
            org_id=self._org_id, authorization_id=authorization_id)
        deadline = time.monotonic() + timeout
        last: Optional[Decision] = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"{authorization_id}: still {last.decision if last else 'undecided'} "
                    f"after {timeout:g} s")
            try:
                for record in self._stub.WatchAuthorization(
                        request, timeout=remaining, metadata=self._metadata):
                    last = Decision.from_proto(record)
                    if not last.pending:
                        return last
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue  # Reported above, with what it last was.
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise from_rpc_error(e) from None
                time.sleep(min(self._backoff, max(0.0, deadline - time.monotonic())))

    def get(self, authorization_id: str) -> Decision:
        return Decision.from_proto(self._call(
            self._stub.GetAuthorization,
            authorization_pb2.GetAuthorizationRequest(
                org_id=self._org_id, authorization_id=authorization_id)))

    def settle(self, authorization_id: str, amount: Union[int, str], tx_hash: str = "") -> Decision:
        """Records what was spent (at most what was held) and releases the
        rest."""
        return Decision.from_proto(self._call(
            self._stub.Settle,
            authorization_pb2.SettleRequest(
                org_id=self._org_id, authorization_id=authorization_id,
                amount=_base_units(amount), tx_hash=tx_hash)))

    def void(self, authorization_id: str) -> Decision:
        """Releases a hold that will not be used."""
        return Decision.from_proto(self._call(
            self._stub.Void,
            authorization_pb2.VoidRequest(
                org_id=self._org_id, authorization_id=authorization_id)))

    def submit(
        self,
        agent_id: str,
        wallet_id: str,
        asset: str,
        amount: Union[int, str],
        destination: str,
        *,
        memo: str = "",
        data: str = "",
        idempotency_key: Optional[str] = None,
    ) -> tuple[Decision, Optional[Operation]]:
        """Authorizes and has Warden send the transaction through the
        wallet's vendor. Returns the decision and the operation (None for
        a DENY). Retries like authorize: never sent twice."""
        request = authorization_pb2.SubmitTransactionRequest(
            **self._spend(agent_id, wallet_id, asset, amount, destination, memo,
                          idempotency_key),
            data=data)
        r = self._retrying(self._stub.SubmitTransaction, request)
        operation = Operation.from_proto(r.operation) if r.HasField("operation") else None
        return Decision.from_proto(r.authorization), operation

    def operation(self, operation_id: str) -> Operation:
        return Operation.from_proto(self._call(
            self._stub.GetOperation,
            authorization_pb2.GetOperationRequest(
                org_id=self._org_id, operation_id=operation_id)))

    def wait_for_operation(self, operation_id: str, timeout: float = 120.0,
                           poll: float = 0.5) -> Operation:
        """Polls until the operation is CONFIRMED or FAILED."""
        deadline = time.monotonic() + timeout
        while True:
            op = self.operation(operation_id)
            if op.final:
                return op
            if time.monotonic() + poll > deadline:
                raise DeadlineExceeded(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"{operation_id}: still {op.state} after {timeout:g} s")
            time.sleep(poll)

    def budget_status(self, scope: str = "", include_below: bool = False) -> List[LimitStatus]:
        """Each limit of `scope` ("agent/<id>", "wallet/<id>", ...; an
        agent reads its own) now: used, settled, held, pending, left."""
        r = self._call(self._stub.BudgetStatus, authorization_pb2.BudgetStatusRequest(
            org_id=self._org_id, scope=scope, include_below=include_below))
        return [LimitStatus.from_proto(l) for l in r.limits]

    def whoami(self) -> WhoAmI:
        r = self._call(self._stub.WhoAmI, authorization_pb2.WhoAmIRequest())
        return WhoAmI(org_id=r.org_id, principal=r.principal, roles=list(r.roles))

    # ---- Plumbing.

    def _spend(self, agent_id, wallet_id, asset, amount, destination, memo,
               idempotency_key) -> dict:
        """The fields Authorize and SubmitTransaction share; a new
        idempotency key unless given (the retries reuse it)."""
        return dict(org_id=self._org_id, agent_id=agent_id, wallet_id=wallet_id,
                    asset=asset, amount=_base_units(amount), destination=destination,
                    memo=memo, idempotency_key=idempotency_key or _new_key())

    def _call(self, method: Callable[..., T], request) -> T:
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _retrying(self, method: Callable[..., T], request) -> T:
        for attempt in range(self._retries + 1):
            try:
                return method(request, timeout=self._timeout, metadata=self._metadata)
            except grpc.RpcError as e:
                if e.code() not in _RETRYABLE or attempt == self._retries:
                    raise from_rpc_error(e) from None
                time.sleep(self._backoff * (2 ** attempt))
        raise WardenError(grpc.StatusCode.UNKNOWN, "unreachable")


def _new_key() -> str:
    return uuid.uuid4().hex


def _base_units(amount: Union[int, str]) -> str:
    if isinstance(amount, bool) or not isinstance(amount, (int, str)):
        raise TypeError("amount: base units as an int or a decimal string")
    text = str(amount)
    if not re.fullmatch(r"[0-9]+", text):
        raise ValueError(f"amount: {text!r} is not a non-negative integer of base units")
    return text
