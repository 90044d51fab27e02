"""Domain errors: raised by services, turned into HTTP 409 (or 404) with a stable code by the API."""


class DomainError(Exception):
    """A business rule refused the operation. ``code`` is stable and documented for clients."""

    code = "domain_error"
    status = 409

    def __init__(
        self, message: str, *, field: str | None = None, extra: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}  # more machine-readable facts, beside code and message


class NotFoundError(DomainError):
    code = "not_found"
    status = 404


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    status = 403
