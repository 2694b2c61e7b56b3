"""Typed errors: each carries the gRPC code and Warden's message (which
names the field at fault for bad input)."""

from __future__ import annotations

import grpc


class WardenError(Exception):
    """A call Warden refused or could not answer. A decision (even DENY)
    is never an error: it is a Decision."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class InvalidArgument(WardenError):
    """Bad input; the message starts with the field's name."""


class Unauthenticated(WardenError):
    """No token, or one that is wrong, expired or revoked."""


class PermissionDenied(WardenError):
    """The token's roles or scope do not allow the call."""


class NotFound(WardenError):
    pass


class AlreadyExists(WardenError):
    pass


class FailedPrecondition(WardenError):
    """The state forbids it (e.g. settling a voided authorization)."""


class ResourceExhausted(WardenError):
    """A bound was reached (too many open watches, a rate limit)."""


class DeadlineExceeded(WardenError):
    pass


class Unavailable(WardenError):
    """Warden or one of its backends could not be reached. Warden fails
    closed: nothing was allowed. Retrying with the same idempotency key
    is safe."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def from_rpc_error(e: grpc.RpcError) -> WardenError:
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    details = e.details() if hasattr(e, "details") else str(e)
    return _BY_CODE.get(code, WardenError)(code, details or "")
