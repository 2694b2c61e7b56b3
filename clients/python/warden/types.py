"""The client's answers as dataclasses. Money stays exact: USD figures are
decimal.Decimal (from Warden's decimal strings), base units int."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import List, Optional

from warden.v1 import authorization_pb2, common_pb2


def _usd(text: str) -> Optional[Decimal]:
    return Decimal(text) if text else None


def _time(message, name: str) -> Optional[datetime.datetime]:
    if not message.HasField(name):
        return None
    return getattr(message, name).ToDatetime(tzinfo=datetime.timezone.utc)


def _enum(enum_type, value: int, prefix: str) -> str:
    return enum_type.Name(value).removeprefix(prefix)


@dataclass(frozen=True)
class Violation:
    """One limit or rule a spend broke, with Warden's figures."""

    code: str
    scope: str
    limit: str
    window: str
    spent: str
    requested: str
    remaining: str
    message: str
    limit_usd: Optional[Decimal] = None
    limit_count: Optional[int] = None

    @staticmethod
    def from_proto(v: common_pb2.Violation) -> "Violation":
        which = v.WhichOneof("limit_value")
        return Violation(
            code=v.code,
            scope=v.scope,
            limit=v.limit,
            window=v.window,
            spent=v.spent,
            requested=v.requested,
            remaining=v.remaining,
            message=v.message,
            limit_usd=_usd(v.limit_usd) if which == "limit_usd" else None,
            limit_count=v.limit_count if which == "limit_count" else None,
        )


@dataclass(frozen=True)
class Decision:
    """Warden's answer to a spend: `decision` is ALLOW, DENY,
    PENDING_APPROVAL or DELAYED; `status` HELD, SETTLED, VOIDED, EXPIRED
    or DENIED."""

    authorization_id: str
    decision: str
    status: str
    amount_usd: Optional[Decimal]
    reason: str
    violations: List[Violation] = field(default_factory=list)
    hold_expires_at: Optional[datetime.datetime] = None
    release_at: Optional[datetime.datetime] = None
    approvals_required: int = 0
    replayed: bool = False

    @property
    def allowed(self) -> bool:
        """Sign now: the amount is held for this spend."""
        return self.decision == "ALLOW" and self.status in ("HELD", "SETTLED")

    @property
    def denied(self) -> bool:
        return self.decision == "DENY"

    @property
    def pending(self) -> bool:
        """Do not sign yet: approvers (or a delay) decide first."""
        return self.decision in ("PENDING_APPROVAL", "DELAYED") and self.status == "HELD"

    @staticmethod
    def from_proto(m) -> "Decision":
        """From an AuthorizeResponse or an Authorization."""
        decision = _enum(common_pb2.Decision, m.decision, "DECISION_")
        status = _enum(common_pb2.AuthorizationStatus, m.status, "AUTHORIZATION_STATUS_")
        return Decision(
            authorization_id=m.authorization_id,
            decision=decision,
            status=status,
            amount_usd=_usd(m.amount_usd),
            reason=m.reason,
            violations=[Violation.from_proto(v) for v in m.violations],
            hold_expires_at=_time(m, "hold_expires_at"),
            release_at=_time(m, "release_at"),
            approvals_required=m.approvals_required,
            replayed=getattr(m, "replayed", False),
        )


@dataclass(frozen=True)
class Operation:
    """A transaction handed to the wallet's vendor. `state`: PENDING,
    SENDING, AWAITING_APPROVAL, SUBMITTED, CONFIRMED, FAILED or UNKNOWN."""

    operation_id: str
    authorization_id: str
    state: str
    tx_hash: str
    error: str
    wallet_id: str

    @property
    def final(self) -> bool:
        return self.state in ("CONFIRMED", "FAILED")

    @staticmethod
    def from_proto(m: authorization_pb2.Operation) -> "Operation":
        return Operation(
            operation_id=m.operation_id,
            authorization_id=m.authorization_id,
            state=_enum(authorization_pb2.OperationState, m.state, "OPERATION_STATE_"),
            tx_hash=m.tx_hash,
            error=m.error,
            wallet_id=m.wallet_id,
        )


@dataclass(frozen=True)
class LimitStatus:
    """One limit now. USD limits fill the *_usd fields, count limits the
    *_count fields; used = settled + held + pending."""

    scope: str
    name: str
    window: str
    on_violation: str
    limit_usd: Optional[Decimal]
    used_usd: Optional[Decimal]
    settled_usd: Optional[Decimal]
    held_usd: Optional[Decimal]
    pending_usd: Optional[Decimal]
    remaining_usd: Optional[Decimal]
    limit_count: int
    used_count: int
    remaining_count: int
    window_end: Optional[datetime.datetime]
    rolls_off_at: Optional[datetime.datetime]

    @property
    def is_count(self) -> bool:
        return self.limit_usd is None

    @staticmethod
    def from_proto(m: authorization_pb2.LimitStatus) -> "LimitStatus":
        return LimitStatus(
            scope=m.scope,
            name=m.name,
            window=m.window,
            on_violation=m.on_violation,
            limit_usd=_usd(m.limit_usd),
            used_usd=_usd(m.used_usd),
            settled_usd=_usd(m.settled_usd),
            held_usd=_usd(m.held_usd),
            pending_usd=_usd(m.pending_usd),
            remaining_usd=_usd(m.remaining_usd),
            limit_count=m.limit_count,
            used_count=m.used_count,
            remaining_count=m.remaining_count,
            window_end=_time(m, "window_end"),
            rolls_off_at=_time(m, "rolls_off_at"),
        )


@dataclass(frozen=True)
class WhoAmI:
    org_id: str
    principal: str
    roles: List[str]
