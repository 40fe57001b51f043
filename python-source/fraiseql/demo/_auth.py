"""The demo's optional authentication: one HS256 secret for the WebSocket and the HTTP API.

With ``--auth-jwt-secret`` a WebSocket's ``connection_init`` (or its upgrade request's
``Authorization: Bearer`` header; never the URL) must carry a token, and the API wants
``Authorization: Bearer <token>``. Both are checked by the same
:class:`~fraiseql.subscriptions.jwt_auth.JWTAuthenticator`. The token's ``tenant_id`` claim is the
tenant a message is published in and whose rooms and history a caller sees; its ``name`` claim
(or else ``sub``) is the message's author, so nobody can post under another name.

A token without a ``tenant_id`` claim is refused: 403 on the API, close 4403 on the WebSocket.
Every demo event belongs to a tenant, so such a connection could never see anything anyway.

Importing this module needs PyJWT (the ``jwt`` extra); the demo imports it only when a secret is
given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fraiseql.demo._board import MAX_AUTHOR_LENGTH, Reply, is_text
from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.jwt_auth import JWTAuthenticator
from fraiseql.subscriptions.manager import ConnectionContext, ConnectionRejected

__all__ = [
    "MIN_SECRET_BYTES",
    "Caller",
    "DemoAuth",
    "TenantJWTAuthenticator",
    "bearer_token",
    "check_secret",
    "tenant_of",
]

#: RFC 7518 (section 3.2): an HS256 key has at least 256 bits. PyJWT warns about shorter ones.
MIN_SECRET_BYTES = 32
ALGORITHM = "HS256"
NO_TENANT = "the token has no tenant_id claim"
NO_USER = "the token names no user (claim sub or name)"
BAD_TENANT = "the token's tenant_id claim is not valid text"
BAD_USER = "the token's sub claim is not valid text"
_REALM = 'Bearer realm="fraiseql-demo"'


def check_secret(secret: str) -> None:
    """``ValueError`` (saying what to do) for a secret too short to sign HS256 tokens with."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes long (HS256 needs a 256-bit key); "
            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def tenant_of(context: ConnectionContext) -> str | None:
    tenant = context.tenant_id
    return None if tenant is None or tenant == "" else str(tenant)


def _identity_problem(context: ConnectionContext) -> str | None:
    """Why the token's tenant or user cannot be used, if so: none at all, or text that cannot be
    sent (a lone surrogate from a ``"\\ud800"`` escape in the claims)."""
    tenant = tenant_of(context)
    if tenant is None:
        return NO_TENANT
    if not is_text(tenant):
        return BAD_TENANT
    if isinstance(context.user_id, str) and not is_text(context.user_id):
        return BAD_USER
    return None


class TenantJWTAuthenticator(JWTAuthenticator):
    """The ``on_connect`` hook: a :class:`JWTAuthenticator` that also refuses tenantless tokens."""

    async def __call__(self, payload: dict[str, Any] | None, request: RequestInfo) -> ConnectionContext:
        context = await super().__call__(payload, request)
        problem = _identity_problem(context)
        if problem is not None:
            raise ConnectionRejected(problem)
        return context


@dataclass(frozen=True)
class Caller:
    """Who sent an HTTP request, as its token says."""

    tenant: str
    author: str


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (any other scheme: ``None``)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def _unauthorized(message: str, *, invalid: bool) -> Reply:
    # RFC 6750: no error code when no token was sent, "invalid_token" when it was refused.
    challenge = f'{_REALM}, error="invalid_token"' if invalid else _REALM
    reply = Reply.error(401, message)
    return Reply(reply.status, reply.body, reply.media_type, {"WWW-Authenticate": challenge})


def _author(claims: dict[str, Any], context: ConnectionContext) -> str | None:
    name = claims.get("name")
    if isinstance(name, str) and name.strip() and is_text(name):
        return name.strip()[:MAX_AUTHOR_LENGTH]
    if context.user_id is None or context.user_id == "":
        return None
    return str(context.user_id)[:MAX_AUTHOR_LENGTH]


class DemoAuth:
    """The WebSocket hook and the HTTP check, both verifying HS256 tokens with one secret."""

    def __init__(self, secret: str) -> None:
        check_secret(secret)
        self._secret = secret
        # Not from the query string (?token=): URLs end up in access logs and browser history.
        self.authenticator = TenantJWTAuthenticator(
            key=secret, algorithms=[ALGORITHM], sources=("payload", "header")
        )

    def authorize(self, authorization: str | None) -> Caller | Reply:
        """The caller of a request with this ``Authorization`` header, or the error to answer
        (401 for a missing or refused token, 403 for a valid token naming no tenant or user).
        The replies say why in a few words and never echo the token."""
        token = bearer_token(authorization)
        if token is None:
            return _unauthorized("authorization required: send Authorization: Bearer <token>", invalid=False)
        try:
            claims = self.authenticator.verify(token, self._secret)
        except ConnectionRejected as rejected:
            return _unauthorized(str(rejected), invalid=True)
        try:
            context = self.authenticator.context_from(claims)
        except ConnectionRejected as rejected:  # scopes or roles that are neither text nor a list
            return _unauthorized(str(rejected), invalid=True)
        tenant = tenant_of(context)
        problem = _identity_problem(context)
        if problem is not None or tenant is None:
            return Reply.error(403, problem or NO_TENANT)
        author = _author(claims, context)
        if author is None:
            return Reply.error(403, NO_USER)
        return Caller(tenant, author)
