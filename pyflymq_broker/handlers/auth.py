"""AUTH, WHOAMI, users, ACLs and roles (spec §11.1-11.5). Errors are coded frames.

On a server with authentication disabled, every request below that reaches the (missing) user or
ACL store crashes the real process. The broker answers those with the coded error
``authentication is not enabled on this server`` instead, at the point where the server would
crash: requests rejected earlier (decode errors, argument checks) get the server's own answers.

User and ACL writes go through Raft in cluster mode (any ``cluster_addr``, one node or more): a
follower answers the coded ``not leader`` text, and the leader answers success as soon as the
proposal is accepted, without looking at its store. Every node's store then applies the write;
an apply-time failure (creating an existing user, deleting or updating a missing one) is only
logged, as the server does. A cluster node with authentication disabled has no store at all: the
server then never wires a user/ACL applier, so these writes are answered (``not leader`` on a
follower, success on the leader) and applying them does nothing.

What the leader proposes differs from the standalone write in two places (the Raft command
drops empty and false fields): USER_UPDATE only replaces the roles when the list is non-empty
and can only enable a user (``enabled = false`` leaves the flag alone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyflymq_broker.errors import CODED, BrokerError
from pyflymq_broker.handlers.context import AUTH_DISABLED, Context
from pyflymq_broker.raft_apply import replicate, require_leader
from pyflymq_broker.security import PASSWORD_TOO_LONG, ROLES, Acl, SecurityStore, User, password_too_long

if TYPE_CHECKING:
    from pyflymq_broker.broker import Broker

__all__ = [
    "acl_delete",
    "acl_get",
    "acl_list",
    "acl_set",
    "auth",
    "password_change",
    "role_list",
    "user_create",
    "user_delete",
    "user_get",
    "user_list",
    "user_update",
    "whoami",
]

logger = logging.getLogger("pyflymq.broker")

_NOT_AUTHENTICATED = {"success": False, "username": "", "roles": [], "error": ""}
REQUEST_PREFIX = "invalid request: "


def _store(ctx: Context) -> SecurityStore:
    store = ctx.broker.security
    if store is None:
        raise BrokerError.coded(AUTH_DISABLED)
    return store


def _proposes(ctx: Context) -> bool:
    """Whether user/ACL writes go through Raft (cluster mode) instead of the local store."""
    return ctx.broker.topology.cluster_mode


def _store_unless_proposed(ctx: Context) -> None:
    """Standalone, a write reaches the store (which a server without auth lacks: it crashes).

    In cluster mode the handler only proposes, so a missing store is never touched.
    """
    if not _proposes(ctx):
        _store(ctx)


def _refuse_unhashable(ctx: Context, password: str) -> None:
    """Cluster mode hashes the password before proposing (so followers store the hash), and a
    password bcrypt refuses is answered there, wrapped once more; standalone, the store refuses it."""
    if _proposes(ctx) and password_too_long(password):
        raise BrokerError.coded(f"failed to hash password: {PASSWORD_TOO_LONG}")


def _write(ctx: Context, description: str, change: Callable[[SecurityStore], object]) -> None:
    """A user/ACL write: leader only, then applied to every node's store.

    Standalone, the store's ``KeyError`` (unknown or existing user) becomes the coded answer; in
    cluster mode it is an apply-time failure, logged on each node (:func:`replicate`).
    """
    require_leader(ctx.broker, CODED)

    def apply(node: Broker) -> None:
        if node.security is None:
            # The server wires no user/ACL applier when authentication is disabled.
            logger.warning("no user store on node %r: %s is not applied", node.config.node_id, description)
            return
        try:
            change(node.security)
        except KeyError as exc:
            raise BrokerError.coded(str(exc.args[0])) from None

    replicate(ctx.broker, ctx.op, description, apply)


def _go_list(items: list[str]) -> str:
    """Go's ``fmt.Sprintf("%v", []string{...})``."""
    return "[" + " ".join(items) + "]"


def _user_info(user: User, permissions: list[str], *, times: bool = True) -> dict[str, Any]:
    return {
        "username": user.username,
        "roles": list(user.roles),
        "permissions": permissions,
        "enabled": user.enabled,
        "created_at": int(user.created_at) if times else 0,
        "updated_at": int(user.updated_at) if times else 0,
    }


def auth(ctx: Context, payload: bytes) -> dict[str, Any]:
    """AUTH: switch the connection's identity; a failed attempt keeps the previous one.

    Failures are an answer with ``success = false`` (and an audit record), not an error frame.
    """
    req = ctx.decode_coded(payload, "invalid auth request: ")
    store = _store(ctx)  # the real server dereferences a nil user here and exits
    username = req["username"]
    try:
        user = store.authenticate(username, req["password"])
    except ValueError as exc:
        ctx.audit(
            "auth.failure",
            user=username,
            resource="",
            action="authenticate",
            result="failure",
            details={"reason": str(exc)},
        )
        return {"success": False, "username": "", "roles": [], "error": str(exc)}
    ctx.session.username = username  # a failed AUTH above keeps the previous identity
    ctx.audit(
        "auth.success",
        user=username,
        resource="",
        action="authenticate",
        result="success",
        details={"roles": _go_list(user.roles)},
    )
    return {"success": True, "username": user.username, "roles": list(user.roles), "error": ""}


def whoami(ctx: Context, payload: bytes) -> dict[str, Any]:
    """WHOAMI: the connection's identity, or an unauthenticated answer (never an error)."""
    store = ctx.broker.security
    if store is None or not ctx.username:
        return dict(_NOT_AUTHENTICATED)
    user = store.users.get(ctx.username)
    if user is None:
        return dict(_NOT_AUTHENTICATED)
    return {"success": True, "username": user.username, "roles": list(user.roles), "error": ""}


def user_create(ctx: Context, payload: bytes) -> dict[str, Any]:
    """USER_CREATE: admins only; the reply echoes the request, with zero timestamps as the server's."""
    problem = ctx.manage_problem()
    if problem is not None:
        ctx.audit("access.denied", resource="", action="user_create", result="denied")
        raise BrokerError.coded(problem)
    req = ctx.decode_coded(payload, REQUEST_PREFIX)
    username, password, roles = req["username"], req["password"], list(req["roles"])
    if not username or not password:
        raise BrokerError.coded("username and password are required")
    _refuse_unhashable(ctx, password)
    _store_unless_proposed(ctx)
    with ctx.audit_failure("user.create", resource=username, action="user_create"):
        _write(ctx, f"USER_CREATE {username!r}", lambda s: s.create_user(username, password, roles, ctx.now))
    ctx.audit(
        "user.create",
        resource=username,
        action="user_create",
        result="success",
        details={"roles": _go_list(roles)},
    )
    # The reply echoes the request's roles, enabled = 1, no permissions and zero timestamps.
    return {
        "username": username,
        "roles": roles,
        "permissions": [],
        "enabled": True,
        "created_at": 0,
        "updated_at": 0,
    }


def user_delete(ctx: Context, payload: bytes) -> dict[str, Any]:
    """USER_DELETE: admins only; deleting your own account is refused (it would lock you out)."""
    problem = ctx.manage_problem()
    if problem is not None:
        ctx.audit("access.denied", resource="", action="user_delete", result="denied")
        raise BrokerError.coded(problem)
    username = ctx.decode_coded(payload, REQUEST_PREFIX)["username"]
    if username == ctx.username:
        raise BrokerError.coded("cannot delete your own account")
    _store_unless_proposed(ctx)
    with ctx.audit_failure("user.delete", resource=username, action="user_delete"):
        _write(ctx, f"USER_DELETE {username!r}", lambda s: s.delete_user(username))
    ctx.audit("user.delete", resource=username, action="user_delete", result="success")
    return {"success": True, "message": username}


def user_update(ctx: Context, payload: bytes) -> dict[str, Any]:
    """USER_UPDATE: replace roles and set ``enabled`` (an absent byte disables, as on the server).

    In cluster mode the proposal carries only non-empty roles and a true ``enabled``: an empty
    list keeps the roles and ``enabled = false`` is ignored (the user's update time still moves).
    """
    ctx.check_manage(coded=True)
    req = ctx.decode_coded(payload, REQUEST_PREFIX)
    _store_unless_proposed(ctx)
    username, roles, enabled = req["username"], list(req["roles"]), bool(req.get("enabled", False))

    def update(store: SecurityStore) -> None:
        # Standalone: roles are always replaced and enabled always set (absent byte = disabled).
        store.set_roles(username, roles, ctx.now)
        store.set_enabled(username, enabled, ctx.now)

    def proposed_update(store: SecurityStore) -> None:
        store.touch(username, ctx.now)
        if roles:
            store.set_roles(username, roles, ctx.now)
        if enabled:
            store.set_enabled(username, True, ctx.now)

    _write(ctx, f"USER_UPDATE {username!r}", proposed_update if _proposes(ctx) else update)
    return {"success": True, "message": username}


def user_list(ctx: Context, payload: bytes) -> dict[str, Any]:
    """USER_LIST: every user, without permissions (admins only)."""
    ctx.check_manage(coded=True)
    store = _store(ctx)
    return {"users": [_user_info(u, []) for u in store.users.values()]}


def user_get(ctx: Context, payload: bytes) -> dict[str, Any]:
    """USER_GET: one user with the permissions its roles grant (admins only)."""
    ctx.check_manage(coded=True)
    username = ctx.decode_coded(payload, REQUEST_PREFIX)["username"]
    store = _store(ctx)
    user = store.users.get(username)
    if user is None:
        raise BrokerError.coded(f'user "{username}" not found')
    return _user_info(user, store.permissions(username))


def password_change(ctx: Context, payload: bytes) -> dict[str, Any]:
    """PASSWORD_CHANGE: your own with the current password, anyone's as an admin.

    With authentication disabled every current password is accepted (the server's authorizer then
    lets everything through), so only cluster mode, which never touches the store, gets past it.
    """
    req = ctx.decode_coded(payload, REQUEST_PREFIX)
    _store_unless_proposed(ctx)
    store = ctx.broker.security
    username = req["username"]
    if username == ctx.username:
        try:
            if store is not None:
                store.authenticate(ctx.username, req["old_password"])
        except ValueError:
            raise BrokerError.coded("invalid current password") from None
    else:
        ctx.check_manage(coded=True)
    _refuse_unhashable(ctx, req["password"])
    _write(ctx, f"PASSWORD_CHANGE {username!r}", lambda s: s.set_password(username, req["password"], ctx.now))
    return {"success": True, "message": username}


def acl_set(ctx: Context, payload: bytes) -> dict[str, Any]:
    """ACL_SET: replace a topic's ACL; a public ACL needs anonymous access enabled in the config."""
    ctx.check_manage(coded=True)
    req = ctx.decode_coded(payload, REQUEST_PREFIX)
    store = ctx.broker.security
    allow_anonymous = store.allow_anonymous if store is not None else False
    if req["public"] and not allow_anonymous:
        raise BrokerError.coded(
            "cannot make topic public because anonymous access is disabled in server configuration"
        )
    _store_unless_proposed(ctx)
    acl = Acl(req["topic"], bool(req["public"]), list(req["allowed_users"]), list(req["allowed_roles"]))
    _write(ctx, f"ACL_SET {acl.topic!r}", lambda s: s.set_acl(acl))
    return {"success": True, "topic": req["topic"]}


def acl_get(ctx: Context, payload: bytes) -> dict[str, Any]:
    """ACL_GET: a topic's ACL; ``default_public`` is filled only when none exists (server quirk)."""
    ctx.check_manage(coded=True)
    topic = ctx.decode_coded(payload, REQUEST_PREFIX)["topic"]
    store = _store(ctx)
    acl = store.acls.get(topic)
    if acl is None:
        return {
            "topic": topic,
            "exists": False,
            "public": False,
            "default_public": store.default_public,
            "allowed_users": [],
            "allowed_roles": [],
        }
    # default_public is only filled for a missing ACL (it reads 0 for an existing one).
    return {
        "topic": acl.topic,
        "exists": True,
        "public": acl.public,
        "default_public": False,
        "allowed_users": list(acl.allowed_users),
        "allowed_roles": list(acl.allowed_roles),
    }


def acl_delete(ctx: Context, payload: bytes) -> dict[str, Any]:
    """ACL_DELETE: remove a topic's ACL; deleting a missing one succeeds."""
    ctx.check_manage(coded=True)
    topic = ctx.decode_coded(payload, REQUEST_PREFIX)["topic"]
    _store_unless_proposed(ctx)
    _write(ctx, f"ACL_DELETE {topic!r}", lambda s: s.delete_acl(topic))
    return {"success": True, "topic": topic}


def acl_list(ctx: Context, payload: bytes) -> dict[str, Any]:
    """ACL_LIST: every ACL and the server's ``default_public`` setting (admins only)."""
    ctx.check_manage(coded=True)
    store = _store(ctx)
    return {
        "acls": [
            {
                "topic": a.topic,
                "exists": True,
                "public": a.public,
                "allowed_users": list(a.allowed_users),
                "allowed_roles": list(a.allowed_roles),
            }
            for a in store.acls.values()
        ],
        "default_public": store.default_public,
    }


def role_list(ctx: Context, payload: bytes) -> dict[str, Any]:
    """ROLE_LIST: the built-in roles; no permission check, as on the server."""
    _store(ctx)  # no permission check, but a server with auth disabled crashes here
    return {
        "roles": [
            {"name": r.name, "permissions": list(r.permissions), "description": r.description}
            for r in ROLES.values()
        ]
    }
