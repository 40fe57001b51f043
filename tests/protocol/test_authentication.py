"""The JWT authenticator over real sockets, on every integration: each bad token is refused with
4403 (a reason that never holds the token), and a connection is closed with 4403 when its token
expires, even if the client stays silent."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fraiseql.subscriptions.jwt_auth import JWTAuthenticator
from tests.jwt_keys import (
    AUDIENCE,
    ISSUER,
    SECRET,
    es256,
    forged,
    hs256,
    jwks,
    public_pem,
    rs256,
    rsa_key,
)
from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import COUNTER, engine_is_empty, wait_for_subscriptions, wait_until

RIGHT = {"aud": AUDIENCE, "iss": ISSUER}


def hs_authenticator(**options: Any) -> JWTAuthenticator:
    return JWTAuthenticator(key=SECRET, audience=AUDIENCE, issuer=ISSUER, **options)


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: hs256(**RIGHT)[:-6] + "AAAAAA", "bad signature"),
        (lambda: hs256(**RIGHT, exp=int(time.time()) - 120), "token expired"),
        (lambda: hs256(**RIGHT, nbf=int(time.time()) + 3600), "token not valid yet"),
        (lambda: hs256(**{**RIGHT, "aud": "another-service"}), "wrong audience"),
        (lambda: hs256(**{**RIGHT, "iss": "https://evil.example"}), "wrong issuer"),
        (lambda: forged({"alg": "none", "typ": "JWT"}, None, **RIGHT), "algorithm not allowed"),
        (lambda: "eyJhbGciOiJIUzI1NiJ9.not-base64!.x", "malformed token"),
    ],
)
async def test_a_bad_token_is_refused_with_4403(
    make_server: ServerFactory, make_token: Any, reason: str
) -> None:
    server = await make_server(on_connect=hs_authenticator())
    token: str = make_token()
    client = await server.connect()
    await client.send_json({"type": "connection_init", "payload": {"token": token}})
    said = await client.expect_close(4403, f"Forbidden: invalid token: {reason}")
    assert token not in said
    await wait_until(engine_is_empty(server), what="cleanup")
    assert server.manager.stats.authentication_failures["refused"] == 1


async def test_no_token_is_refused(make_server: ServerFactory) -> None:
    server = await make_server(on_connect=hs_authenticator())
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    await client.expect_close(4403, "Forbidden: no token")


async def test_hs_rs_confusion_is_refused(make_server: ServerFactory) -> None:
    """The server verifies RS256 with its public key; an attacker signs HS256 with that public key."""
    server = await make_server(
        on_connect=JWTAuthenticator(key=public_pem(rsa_key()).decode(), algorithms=["RS256"])
    )
    good = await server.connect()
    await good.init({"token": rs256()})
    confused = forged({"alg": "HS256", "typ": "JWT"}, public_pem(rsa_key()))
    client = await server.connect()
    await client.send_json({"type": "connection_init", "payload": {"token": confused}})
    await client.expect_close(4403, "Forbidden: invalid token: algorithm not allowed")


@pytest.mark.parametrize("token", [rs256, es256])
async def test_rs256_and_es256_through_a_jwks(make_server: ServerFactory, token: Any) -> None:
    server = await make_server(on_connect=JWTAuthenticator(jwks=jwks(), algorithms=["RS256", "ES256"]))
    client = await server.connect()
    await client.init({"token": token()})
    await client.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 1}, tenant_id="acme")
    assert await client.receive_json() == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"counter": {"n": 1}}},
    }


async def test_the_token_may_come_from_the_upgrade_request(make_server: ServerFactory) -> None:
    server = await make_server(on_connect=hs_authenticator())
    by_header = await server.connect(additional_headers={"Authorization": f"Bearer {hs256(**RIGHT)}"})
    await by_header.init()
    by_query = await server.connect(path=f"/graphql?token={hs256(**RIGHT, sub='bob')}")
    await by_query.init()
    for client in (by_header, by_query):
        await client.expect_open()


async def test_the_claims_decide_what_the_connection_sees(make_server: ServerFactory) -> None:
    server = await make_server(on_connect=hs_authenticator())
    acme = await server.connect()
    await acme.init({"token": hs256(**RIGHT)})
    globex = await server.connect()
    await globex.init({"token": hs256(**RIGHT, sub="bob", tenant_id="globex")})
    for client in (acme, globex):
        await client.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 2)
    await server.publish("counter", {"n": 1}, tenant_id="globex")
    await server.publish("counter", {"n": 2}, tenant_id="acme")
    assert (await acme.receive_json())["payload"] == {"data": {"counter": {"n": 2}}}
    assert (await globex.receive_json())["payload"] == {"data": {"counter": {"n": 1}}}


async def test_a_connection_is_closed_when_its_token_expires(make_server: ServerFactory) -> None:
    server = await make_server(on_connect=hs_authenticator(leeway=0), keepalive_interval=None)
    client = await server.connect()
    await client.init({"token": hs256(**RIGHT, exp=int(time.time()) + 2)})
    await client.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 1)
    # The client says nothing more: the server closes on its own when the token expires.
    await client.expect_close(4403, "Forbidden: credentials expired", timeout=10)
    await wait_until(engine_is_empty(server), what="cleanup")
    assert server.manager.stats.authentication_failures["expired"] == 1


async def test_a_context_already_expired_is_closed_at_once(make_server: ServerFactory) -> None:
    server = await make_server(
        on_connect=lambda payload, request: {"user_id": "ann", "expires_at": time.time() - 1}
    )
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    await client.expect_close(4403, "Forbidden: credentials expired")
    await wait_until(engine_is_empty(server), what="cleanup")
