"""Warden's Python client: ask Warden before signing.

    from warden import Client

    with Client("127.0.0.1:7400", token=os.environ["WARDEN_TOKEN"]) as warden:
        d = warden.authorize(agent_id="agent_a", wallet_id="wallet_1",
                             asset="USDC", amount=25_000_000,
                             destination="0x...")
        if d.pending:
            d = warden.wait_for_decision(d.authorization_id, timeout=600)
        if d.allowed:
            ...sign and send, then warden.settle(d.authorization_id, ...)

See clients/python/README.md.
"""

from warden.client import Client
from warden.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    WardenError,
)
from warden.types import Decision, LimitStatus, Operation, Violation, WhoAmI

__all__ = [
    "AlreadyExists",
    "Client",
    "DeadlineExceeded",
    "Decision",
    "FailedPrecondition",
    "InvalidArgument",
    "LimitStatus",
    "NotFound",
    "Operation",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Violation",
    "WardenError",
    "WhoAmI",
]
