"""Errors of the accounts use cases: problem+json documents like the artifacts' own."""

from __future__ import annotations

from webapp.artifacts.errors import ArtifactError, ArtifactNotFoundError, ArtifactValidationError, ForbiddenError

__all__ = ["AccountError", "ForbiddenError", "NotFoundError", "SignInRefused", "TooManyAttempts", "invalid"]


class AccountError(ArtifactError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class NotFoundError(ArtifactNotFoundError):
    def __init__(self, what: str) -> None:
        ArtifactError.__init__(self, f"{what} not found.")


class SignInRefused(ArtifactError):
    status = 401
    title = "Sign-in refused"
    slug = "sign-in-refused"

    def __init__(self) -> None:
        # One message for an unknown user, a wrong password and a disabled account.
        super().__init__("The user name or the password is wrong (or the account is disabled).")


class TooManyAttempts(ArtifactError):
    status = 429
    title = "Too many failed sign-ins"
    slug = "rate-limited"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, (retry_after + 59) // 60)
        super().__init__(
            f"Too many failed sign-ins for this account or from this address: try again in {minutes} minute(s).",
            retry_after=retry_after,
        )
        self.retry_after = retry_after


def invalid(field: str, message: str) -> ArtifactValidationError:
    """A 422 naming the body field at fault."""
    return ArtifactValidationError([{"loc": ["body", field], "msg": message, "type": "value_error"}], detail=message)
