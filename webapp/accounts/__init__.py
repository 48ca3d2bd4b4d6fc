"""Accounts and access: users, sessions, API tokens, roles, per-tree grants and the audit log.

    accounts = Accounts(session)
    admin = accounts.create_user("ada", "a long password", "admin")
    token, secret = accounts.create_token(admin, "ci", "write", "90d")
"""

from .models import ApiToken, AuditEvent, AuthSession, FailedSignIn, SetupToken, TreeGrant, User
from .service import GRANT_ROLES, ROLES, SCOPES, AccountSettings, Accounts, Principal, parse_duration

__all__ = [
    "GRANT_ROLES", "ROLES", "SCOPES", "AccountSettings", "Accounts", "ApiToken", "AuditEvent", "AuthSession",
    "FailedSignIn", "Principal", "SetupToken", "TreeGrant", "User", "parse_duration",
]
