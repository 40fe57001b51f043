"""The JWT authenticator on its own: configuration, where tokens come from, what is refused,
and the context a good token becomes. Over real sockets: ``tests/protocol/test_authentication.py``."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fraiseql.subscriptions import ConfigurationError, ConnectionContext, ConnectionRejected
from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.jwt_auth import ClaimNames, JWTAuthenticator, issue_token
from tests.jwt_keys import (
    AUDIENCE,
    ISSUER,
    SECRET,
    claims,
    es256,
    forged,
    hs256,
    jwks,
    public_pem,
    rs256,
    rsa_key,
)

NO_REQUEST = RequestInfo()


async def authenticate(authenticator: JWTAuthenticator, token: str) -> ConnectionContext:
    return await authenticator({"token": token}, NO_REQUEST)


async def refusal(authenticator: JWTAuthenticator, token: str) -> str:
    with pytest.raises(ConnectionRejected) as raised:
        await authenticate(authenticator, token)
    reason = str(raised.value)
    assert token not in reason
    return reason


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": SECRET, "algorithms": []}, "at least one algorithm"),
        ({"key": SECRET, "algorithms": ["none"]}, '"none" is never accepted'),
        ({"key": SECRET, "algorithms": ["HS256", "RS256"]}, "do not mix HS"),
        ({"key": SECRET, "algorithms": ["XS999"]}, "unknown JWT algorithm"),
        ({"algorithms": ["HS256"]}, "either key or jwks"),
        ({"key": SECRET, "jwks": {"keys": []}, "algorithms": ["RS256"]}, "either key or jwks"),
        ({"jwks": {"keys": []}, "algorithms": ["HS256"]}, "JWKS holds public keys"),
        ({"key": "short", "algorithms": ["HS256"]}, "at least 32"),
        ({"key": SECRET, "algorithms": ["HS512"]}, "at least 64"),
        ({"key": SECRET, "sources": ["cookie"]}, "unknown token source"),
    ],
)
def test_unsafe_or_incomplete_configurations_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        JWTAuthenticator(**options)


def test_issue_token_refuses_a_short_secret() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        issue_token("short", user_id="ann")


# -- the context a token becomes ----------------------------------------------------------------


async def test_a_valid_token_becomes_the_connection_context() -> None:
    authenticator = JWTAuthenticator(key=SECRET, leeway=5)
    token = hs256(extra="x")
    context = await authenticate(authenticator, token)
    assert (context.user_id, context.tenant_id) == ("ann", "acme")
    assert (context.scopes, context.roles) == (("chat:read", "chat:write"), ("member",))
    assert context.expires_at == claims()["exp"] + 5
    assert context.data["claims"]["extra"] == "x"


async def test_claim_names_are_configurable() -> None:
    authenticator = JWTAuthenticator(
        key=SECRET, claims=ClaimNames(user_id="uid", tenant_id="org", scopes="permissions", roles="groups")
    )
    token = hs256(uid=42, org="globex", permissions=["a", "b"], groups="x y", sub=None, tenant_id=None)
    context = await authenticate(authenticator, token)
    assert (context.user_id, context.tenant_id, context.scopes, context.roles) == (
        42,
        "globex",
        ("a", "b"),
        ("x", "y"),
    )


async def test_identities_that_are_not_text_or_integers_are_dropped() -> None:
    context = await authenticate(JWTAuthenticator(key=SECRET), hs256(tenant_id={"id": 1}))
    assert (context.user_id, context.tenant_id) == ("ann", None)
    assert await refusal(JWTAuthenticator(key=SECRET), hs256(sub=7)) == "invalid token: invalid subject"


async def test_issue_token_makes_what_the_authenticator_accepts() -> None:
    token = issue_token(SECRET, user_id="bob", tenant_id="globex", roles=["admin"])
    context = await authenticate(JWTAuthenticator(key=SECRET), token)
    assert (context.user_id, context.tenant_id, context.roles) == ("bob", "globex", ("admin",))


# -- where the token comes from -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "request_info"),
    [
        ({"token": "T"}, NO_REQUEST),
        ({"authorization": "Bearer T"}, NO_REQUEST),
        ({"Authorization": "bearer T"}, NO_REQUEST),
        (None, RequestInfo(headers={"authorization": "Bearer T"})),
        ({}, RequestInfo(query_params={"token": "T"})),
        ({"token": "T"}, RequestInfo(headers={"authorization": "Bearer other"})),
    ],
)
def test_the_token_comes_from_the_payload_the_header_or_the_query(
    payload: dict[str, Any] | None, request_info: RequestInfo
) -> None:
    assert JWTAuthenticator(key=SECRET).token_from(payload, request_info) == "T"


def test_sources_can_be_narrowed() -> None:
    authenticator = JWTAuthenticator(key=SECRET, sources=["header"])
    assert authenticator.token_from({"token": "T"}, RequestInfo(query_params={"token": "T"})) is None
    assert authenticator.token_from(None, RequestInfo(headers={"authorization": "Basic T"})) is None


async def test_no_token_is_refused() -> None:
    with pytest.raises(ConnectionRejected, match="no token"):
        await JWTAuthenticator(key=SECRET)({"token": 3}, NO_REQUEST)


# -- what is refused ----------------------------------------------------------------------------


#: What every token below carries besides the flaw under test.
RIGHT = {"aud": AUDIENCE, "iss": ISSUER}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: hs256(**RIGHT, exp=1), "token expired"),
        (lambda: hs256(**RIGHT, nbf=2**40), "token not valid yet"),
        (lambda: hs256(**{**RIGHT, "aud": "someone-else"}), "wrong audience"),
        (lambda: hs256(**{**RIGHT, "iss": "https://evil.example"}), "wrong issuer"),
        (lambda: hs256(**RIGHT, exp=None), "a required claim is missing"),
        (lambda: hs256(**RIGHT)[:-4] + "AAAA", "bad signature"),
        (lambda: forged({"alg": "none", "typ": "JWT"}, None, **RIGHT), "algorithm not allowed"),
        (lambda: forged({"alg": "HS384"}, SECRET.encode(), **RIGHT), "algorithm not allowed"),
        (lambda: "not.a.token", "malformed token"),
        (lambda: "garbage", "malformed token"),
    ],
)
async def test_bad_tokens_are_refused_with_a_short_reason(token: Any, reason: str) -> None:
    authenticator = JWTAuthenticator(key=SECRET, audience=AUDIENCE, issuer=ISSUER, leeway=0)
    assert (await authenticate(authenticator, hs256(**RIGHT))).user_id == "ann"
    assert await refusal(authenticator, token()) == f"invalid token: {reason}"


async def test_tokens_with_the_right_audience_and_issuer_pass() -> None:
    authenticator = JWTAuthenticator(key=SECRET, audience=AUDIENCE, issuer=ISSUER)
    assert (await authenticate(authenticator, hs256(aud=AUDIENCE, iss=ISSUER))).user_id == "ann"
    assert await refusal(authenticator, hs256(aud=AUDIENCE)) == "invalid token: a required claim is missing"


async def test_the_leeway_forgives_a_little_clock_skew() -> None:
    assert (
        await authenticate(JWTAuthenticator(key=SECRET, leeway=30), hs256(exp=int(claims()["iat"]) - 5))
    ).user_id
    assert await refusal(JWTAuthenticator(key=SECRET, leeway=0), hs256(exp=int(claims()["iat"]) - 5))


async def test_algorithm_confusion_is_refused() -> None:
    """An attacker signs HS256 with the server's RSA *public* key as the secret."""
    authenticator = JWTAuthenticator(key=public_pem(rsa_key()).decode(), algorithms=["RS256"])
    assert (await authenticate(authenticator, rs256())).user_id == "ann"
    confused = forged({"alg": "HS256", "typ": "JWT"}, public_pem(rsa_key()))
    assert await refusal(authenticator, confused) == "invalid token: algorithm not allowed"


async def test_an_rsa_key_too_short_is_unusable() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.warns(jwt.InsecureKeyLengthWarning):
        token = jwt.encode(claims(), small, algorithm="RS256")
    authenticator = JWTAuthenticator(key=public_pem(small).decode(), algorithms=["RS256"])
    assert await refusal(authenticator, token) == "invalid token: unusable key"


# -- JWKS -----------------------------------------------------------------------------------------


async def test_a_jwks_document_verifies_rs256_and_es256_by_kid() -> None:
    authenticator = JWTAuthenticator(jwks=jwks(), algorithms=["RS256", "ES256"])
    assert (await authenticate(authenticator, rs256())).user_id == "ann"
    assert (await authenticate(authenticator, es256())).user_id == "ann"
    assert await refusal(authenticator, rs256(kid="unknown")) == "invalid token: signing key not found"
    assert await refusal(authenticator, rs256(kid=None)) == "invalid token: signing key not found"


async def test_es256_alone_refuses_rs256() -> None:
    authenticator = JWTAuthenticator(jwks=jwks(), algorithms=["ES256"])
    assert await refusal(authenticator, rs256()) == "invalid token: algorithm not allowed"


@contextlib.contextmanager
def serving_jwks(document: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """A JWKS served over HTTP on loopback; yields its URL and the paths requested."""
    requested: list[str] = []
    body = json.dumps(document).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_jwks_url_is_fetched_once_and_cached() -> None:
    with serving_jwks(jwks()) as (url, requested):
        authenticator = JWTAuthenticator(jwks=url, algorithms=["RS256", "ES256"])
        for _ in range(3):
            assert (await authenticate(authenticator, rs256())).user_id == "ann"
        assert (await authenticate(authenticator, es256())).tenant_id == "acme"
        assert requested == ["/.well-known/jwks.json"], "fetched once, then cached"
        for kid in ("rotated-away", "made-up-1", "made-up-2"):
            assert await refusal(authenticator, rs256(kid=kid)) == "invalid token: signing key not found"
        assert len(requested) == 2, "an unknown kid fetches again (keys rotate), at most once a minute"


async def test_an_unreachable_jwks_url_refuses_without_crashing() -> None:
    with serving_jwks(jwks()) as (url, _):
        pass  # the server is gone now
    authenticator = JWTAuthenticator(jwks=url, algorithms=["RS256"])
    assert await refusal(authenticator, rs256()) == "invalid token: signing key not found"
