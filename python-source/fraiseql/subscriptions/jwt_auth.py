"""A JWT authenticator for ``connection_init``, with PyJWT (the ``jwt`` extra).

Use it as the ``on_connect`` hook, or call it from a hook of your own::

    from fraiseql.subscriptions.jwt_auth import JWTAuthenticator

    config = SubscriptionConfig(on_connect=JWTAuthenticator(key=SECRET, algorithms=["HS256"]))

It takes the token from the ``connection_init`` payload (``{"token": ...}``, or an
``authorization``/``Authorization`` entry, with or without ``Bearer``), from the upgrade
request's ``Authorization: Bearer`` header, or from a query parameter (``?token=...``), in that
order. It verifies the signature with ``key`` (an HS secret, or a PEM public key for RS/ES/PS
algorithms) or with the key of a JWKS (a document, or a URL fetched in a worker thread and cached),
checks ``exp``, ``nbf``, ``aud`` and ``iss`` with a small leeway, refuses ``alg: none`` and any
algorithm not configured (so an RS256 public key is never used as an HS256 secret). The claims
become the connection's ``ConnectionContext``: user, tenant, scopes, roles (claim names
configurable), ``expires_at`` from ``exp`` (the connection is closed with 4403 then), and every
claim under ``data["claims"]``. Any failure refuses the connection (4403); the close reason says
why in a few words and never echoes the token.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.errors import ConfigurationError
from fraiseql.subscriptions.manager import ConnectionContext, ConnectionRejected

__all__ = ["ClaimNames", "JWTAuthenticator", "issue_token"]

#: HS algorithms and the shortest secret each accepts (RFC 7518, section 3.2: the hash's size).
_SYMMETRIC = {"HS256": 32, "HS384": 48, "HS512": 64}
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

#: PyJWT's exceptions, as the few words a close reason may say.
_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not valid yet"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.MissingRequiredClaimError, "a required claim is missing"),
    (jwt.exceptions.InvalidSubjectError, "invalid subject"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.DecodeError, "malformed token"),
]


@dataclass(frozen=True)
class ClaimNames:
    """Which claims hold the context's fields."""

    user_id: str = "sub"
    tenant_id: str = "tenant_id"
    #: A space-separated string (OAuth's ``scope``) or a list.
    scopes: str = "scope"
    roles: str = "roles"


def _rejected(reason: str) -> ConnectionRejected:
    return ConnectionRejected(f"invalid token: {reason}")


@dataclass
class JWTAuthenticator:
    """An ``on_connect`` hook verifying a JWT (see the module's documentation)."""

    #: An HS secret, or a PEM public key; or give ``jwks``.
    key: str | bytes | None = None
    algorithms: Sequence[str] = ("HS256",)
    #: A JWKS document (a dict) or its URL (fetched in a worker thread, cached ``jwks_cache_seconds``).
    jwks: Mapping[str, Any] | str | None = None
    audience: str | Sequence[str] | None = None
    issuer: str | None = None
    #: Seconds of clock skew allowed on ``exp`` and ``nbf``.
    leeway: float = 30.0
    claims: ClaimNames = field(default_factory=ClaimNames)
    #: Claims every token must carry (``exp`` by default: a token without one would never expire).
    required_claims: Sequence[str] = ("exp",)
    #: Where the token may come from, in order: ``payload``, ``header``, ``query``.
    sources: Sequence[str] = ("payload", "header", "query")
    query_parameter: str = "token"
    jwks_cache_seconds: float = 300.0
    #: An unknown ``kid`` fetches the JWKS again at most this often.
    jwks_refresh_seconds: float = 60.0

    def __post_init__(self) -> None:
        algorithms = set(self.algorithms)
        if not algorithms:
            raise ConfigurationError("JWTAuthenticator needs at least one algorithm")
        if any(name.lower() == "none" for name in algorithms):
            raise ConfigurationError('the algorithm "none" is never accepted')
        unknown = algorithms - _SYMMETRIC.keys() - _ASYMMETRIC
        if unknown:
            raise ConfigurationError(f"unknown JWT algorithm(s): {', '.join(sorted(unknown))}")
        if algorithms & _SYMMETRIC.keys() and algorithms & _ASYMMETRIC:
            # One key cannot be both: mixing them is how algorithm confusion attacks start.
            raise ConfigurationError("do not mix HS* and asymmetric algorithms in one authenticator")
        if (self.key is None) == (self.jwks is None):
            raise ConfigurationError("JWTAuthenticator needs either key or jwks")
        if algorithms & _SYMMETRIC.keys() and self.jwks is not None:
            raise ConfigurationError("a JWKS holds public keys: use it with asymmetric algorithms")
        if algorithms & _SYMMETRIC.keys() and self.key is not None:
            _check_secret(self.key, max(_SYMMETRIC[name] for name in algorithms & _SYMMETRIC.keys()))
        unknown_sources = set(self.sources) - {"payload", "header", "query"}
        if unknown_sources:
            raise ConfigurationError(f"unknown token source(s): {', '.join(sorted(unknown_sources))}")
        self._jwk_client = (
            PyJWKClient(self.jwks, cache_keys=True, lifespan=int(self.jwks_cache_seconds))
            if isinstance(self.jwks, str)
            else None
        )
        self._jwk_set = PyJWKSet.from_dict(dict(self.jwks)) if isinstance(self.jwks, Mapping) else None
        self._refresh_lock = threading.Lock()
        self._refreshed_at = -math.inf

    # -- the hook -------------------------------------------------------------------------------

    async def __call__(self, payload: dict[str, Any] | None, request: RequestInfo) -> ConnectionContext:
        token = self.token_from(payload, request)
        if token is None:
            raise ConnectionRejected("no token")
        if not token.isascii():
            # A JWT is base64url and dots; anything else (a lone surrogate...) is not one.
            raise _rejected("malformed token")
        key = await self._key_for(token)
        claims = self.verify(token, key)
        return self.context_from(claims)

    def token_from(self, payload: Mapping[str, Any] | None, request: RequestInfo) -> str | None:
        """The token, from the first source that has one."""
        for source in self.sources:
            if source == "payload" and isinstance(payload, Mapping):
                for name in ("token", "authorization", "Authorization"):
                    found = _bearer(payload.get(name))
                    if found:
                        return found
            elif source == "header":
                found = _bearer(request.headers.get("authorization"))
                if found:
                    return found
            elif source == "query":
                found = request.query_params.get(self.query_parameter)
                if found:
                    return found
        return None

    async def _key_for(self, token: str) -> Any:
        if self.key is not None:
            return self.key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if self._jwk_client is not None:
                # The fetch is blocking I/O: in a worker thread, never on the loop.
                found = await asyncio.to_thread(self._key_from_url, kid)
            else:
                assert self._jwk_set is not None
                found = _matching(self._jwk_set.keys, kid)
        except jwt.PyJWKClientError:
            raise _rejected("signing key not found") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            # Fail closed: whatever else a hostile token makes the decoder raise is a refusal.
            raise _rejected("malformed token") from None
        if found is None:
            raise _rejected("signing key not found")
        return found.key

    def _key_from_url(self, kid: object) -> PyJWK | None:
        """The key for ``kid`` from the cached JWKS; an unknown ``kid`` fetches the JWKS again
        (keys rotate), at most once per ``jwks_refresh_seconds``, so that tokens with made-up
        ids cannot make us hammer the identity provider."""
        assert self._jwk_client is not None
        found = _matching(self._jwk_client.get_signing_keys(), kid)
        if found is not None:
            return found
        with self._refresh_lock:
            now = time.monotonic()
            if now - self._refreshed_at < self.jwks_refresh_seconds:
                return None
            self._refreshed_at = now
        return _matching(self._jwk_client.get_signing_keys(refresh=True), kid)

    def verify(self, token: str, key: Any) -> dict[str, Any]:
        """The token's claims; ``ConnectionRejected`` (with a short reason) when it fails."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                # A key below the algorithm's minimum (e.g. RSA under 2048 bits) is refused.
                options={"require": list(self.required_claims), "enforce_minimum_key_length": True},
            )
        except jwt.InvalidKeyError:
            raise _rejected("unusable key") from None
        except jwt.InvalidTokenError as error:
            reason = next((text for kind, text in _REASONS if isinstance(error, kind)), "rejected")
            raise _rejected(reason) from None
        except (ValueError, TypeError):
            # Fail closed: whatever else a hostile token makes the decoder raise is a refusal.
            raise _rejected("malformed token") from None
        return claims

    def context_from(self, claims: Mapping[str, Any]) -> ConnectionContext:
        """The context the claims describe; ``ConnectionRejected`` when scopes or roles are
        neither a space-separated string nor a list of strings (a token means what it says, or
        nothing)."""
        names = self.claims
        expires = claims.get("exp")
        return ConnectionContext(
            user_id=_identity(claims.get(names.user_id)),
            tenant_id=_identity(claims.get(names.tenant_id)),
            scopes=_names(claims, names.scopes),
            roles=_names(claims, names.roles),
            expires_at=float(expires) + self.leeway if isinstance(expires, (int, float)) else None,
            data={"claims": dict(claims)},
        )


def _matching(keys: Sequence[PyJWK], kid: object) -> PyJWK | None:
    """The key named ``kid``; without a ``kid``, the only key there is."""
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((key for key in keys if key.key_id == kid), None)


def _check_secret(secret: str | bytes, minimum: int) -> None:
    size = len(secret.encode() if isinstance(secret, str) else secret)
    if size < minimum:
        raise ConfigurationError(
            f"the HS secret is {size} bytes; it must be at least {minimum} (RFC 7518, section 3.2): "
            "a short secret can be found by brute force"
        )


def _bearer(value: object) -> str | None:
    """The token of ``"Bearer <token>"`` or of a bare ``"<token>"``."""
    if not isinstance(value, str):
        return None
    scheme, _, rest = value.strip().partition(" ")
    if not rest:
        return scheme or None
    return rest.strip() or None if scheme.lower() == "bearer" else None


def _names(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    value = claims.get(claim, ())
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value):
        return tuple(value)
    raise _rejected(f"the {claim} claim is neither text nor a list of text")


def _identity(value: object) -> str | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (str, int)):
        return value
    return None


def issue_token(
    secret: str, *, user_id: str, tenant_id: str | None = None, lifetime: float = 3600, **claims: Any
) -> str:
    """An HS256 token, for demos and tests (``sub``, ``tenant_id``, ``exp`` and your claims);
    ``ConfigurationError`` for a secret under 32 bytes."""
    _check_secret(secret, _SYMMETRIC["HS256"])
    payload: dict[str, Any] = {"sub": user_id, "exp": int(time.time() + lifetime), **claims}
    if tenant_id is not None:
        payload["tenant_id"] = tenant_id
    return jwt.encode(payload, secret, algorithm="HS256")
