"""Users, roles, topic ACLs and the authorization rules of spec §12.1.

Passwords are stored as salted PBKDF2-SHA256 hashes (the server uses bcrypt; the hash never
leaves the broker, so the algorithm is not observable). The decision functions return the
server's error texts (``authentication required``, ``unauthorized``, ``user account is
disabled``) or ``None`` when access is granted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

__all__ = ["ROLES", "Acl", "Role", "SecurityStore", "User"]

READ, WRITE, ADMIN = "read", "write", "admin"
AUTH_REQUIRED = "authentication required"
UNAUTHORIZED = "unauthorized"
DISABLED = "user account is disabled"
INVALID_CREDENTIALS = "invalid username or password"

_PBKDF2_ROUNDS = 10_000  # a test broker: enough to not store plain text, cheap to create


@dataclass(frozen=True)
class Role:
    """A built-in role: which of read/write/admin it grants (the server's roles are fixed)."""

    name: str
    permissions: tuple[str, ...]
    description: str


#: The built-in roles with the server's permission order and descriptions.
ROLES: dict[str, Role] = {
    "admin": Role("admin", (READ, WRITE, ADMIN), "Full access to all operations"),
    "producer": Role("producer", (WRITE,), "Write-only access (produce messages)"),
    "consumer": Role("consumer", (READ,), "Read-only access (consume messages)"),
    "guest": Role("guest", (), "Access to public topics only"),
}


@dataclass
class User:
    """A user record; the password is only kept as a salted PBKDF2 hash."""

    username: str
    password_hash: str = field(repr=False)  # a salted hash, but still nothing to print
    roles: list[str]
    enabled: bool
    created_at: float
    updated_at: float


@dataclass
class Acl:
    """A topic's access list; a public topic is readable and writable by every user (and by anonymous
    connections when the config allows them), the lists grant the rest."""

    topic: str
    public: bool
    allowed_users: list[str] = field(default_factory=list)
    allowed_roles: list[str] = field(default_factory=list)


#: The server hashes with bcrypt (Go's x/crypto), which refuses passwords over 72 bytes; the text
#: is the one its user store answers (wrapped once more by the cluster-mode handlers).
BCRYPT_MAX_BYTES = 72
PASSWORD_TOO_LONG = "failed to hash password: bcrypt: password length exceeds 72 bytes"


def password_too_long(password: str) -> bool:
    return len(password.encode("utf-8", "surrogateescape")) > BCRYPT_MAX_BYTES


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "surrogateescape"), salt, _PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${_PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, rounds, salt_hex, digest_hex = stored.split("$")
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8", "surrogateescape"), bytes.fromhex(salt_hex), int(rounds)
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


class SecurityStore:
    """The user store, the ACL store and the authorizer's rules (only used with auth enabled)."""

    def __init__(self, *, allow_anonymous: bool, default_public: bool) -> None:
        self.allow_anonymous = allow_anonymous
        self.default_public = default_public
        self.users: dict[str, User] = {}
        self.acls: dict[str, Acl] = {}

    # --- users --------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, roles: list[str], now: float) -> None:
        """Add an enabled user; an existing name raises ``KeyError`` with the server's text."""
        if username in self.users:
            raise KeyError(f'user "{username}" already exists')
        if password_too_long(password):
            raise KeyError(PASSWORD_TOO_LONG)
        self.users[username] = User(username, hash_password(password), list(roles), True, now, now)

    def _user(self, username: str) -> User:
        user = self.users.get(username)
        if user is None:
            raise KeyError(f'user "{username}" not found')
        return user

    def delete_user(self, username: str) -> None:
        """Remove a user; an unknown name raises ``KeyError`` with the server's text."""
        self._user(username)
        del self.users[username]

    def touch(self, username: str, now: float) -> None:
        """Move the user's update time (a cluster USER_UPDATE does, even when it changes nothing)."""
        self._user(username).updated_at = now

    def set_roles(self, username: str, roles: list[str], now: float) -> None:
        """Replace the user's roles (unknown role names are kept but grant nothing)."""
        user = self._user(username)
        user.roles = list(roles)
        user.updated_at = now

    def set_enabled(self, username: str, enabled: bool, now: float) -> None:
        """Enable or disable a user (a disabled user cannot authenticate)."""
        user = self._user(username)
        user.enabled = enabled
        user.updated_at = now

    def set_password(self, username: str, password: str, now: float) -> None:
        """Store a new salted hash for the user's password."""
        user = self._user(username)
        if password_too_long(password):
            raise KeyError(PASSWORD_TOO_LONG)
        user.password_hash = hash_password(password)
        user.updated_at = now

    def authenticate(self, username: str, password: str) -> User:
        """The user, or ValueError with the server's text (disabled is checked before the password)."""
        user = self.users.get(username)
        if user is None:
            raise ValueError(INVALID_CREDENTIALS)
        if not user.enabled:
            raise ValueError(DISABLED)
        if not check_password(password, user.password_hash):
            raise ValueError(INVALID_CREDENTIALS)
        return user

    def permissions(self, username: str) -> list[str]:
        """Union of the permissions of the user's known roles (unknown role names grant nothing)."""
        user = self.users.get(username)
        if user is None:
            return []
        granted = {p for name in user.roles if name in ROLES for p in ROLES[name].permissions}
        return [p for p in (READ, WRITE, ADMIN) if p in granted]

    # --- ACLs ---------------------------------------------------------------------------------

    def set_acl(self, acl: Acl) -> None:
        """Replace the ACL of ``acl.topic``."""
        self.acls[acl.topic] = acl

    def delete_acl(self, topic: str) -> None:
        """Drop a topic's ACL; a missing one is fine (the server answers success)."""
        self.acls.pop(topic, None)

    # --- decisions ----------------------------------------------------------------------------

    def topic_access(self, username: str, topic: str, permission: str) -> str | None:
        """CanProduce / CanConsume: the error text, or None when allowed."""
        acl = self.acls.get(topic)
        public = acl.public if acl is not None else self.default_public
        if public and permission != ADMIN:
            if username == "" and not self.allow_anonymous:
                return AUTH_REQUIRED
            return None
        if username == "":
            return AUTH_REQUIRED
        user = self.users.get(username)
        if user is None:
            return UNAUTHORIZED
        if not user.enabled:
            return DISABLED
        if permission in self.permissions(username):
            return None
        if acl is not None:
            if username in acl.allowed_users:
                return None
            if any(role in user.roles for role in acl.allowed_roles):
                return None
        return UNAUTHORIZED

    def topic_admin(self, username: str) -> str | None:
        """CanAdmin (create/delete topic, reset offset): public status never helps."""
        if username == "":
            return AUTH_REQUIRED
        user = self.users.get(username)
        if user is None:
            return UNAUTHORIZED
        if not user.enabled:
            return DISABLED
        return None if ADMIN in self.permissions(username) else UNAUTHORIZED

    def manage_users(self, username: str) -> str | None:
        """CanManageUsers (users, ACLs, group admin, audit): the enabled flag is not re-checked."""
        if username == "":
            return AUTH_REQUIRED
        return None if ADMIN in self.permissions(username) else UNAUTHORIZED
