"""Keys and tokens for the JWT tests: made once per test session, never written to disk."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

SECRET = "a-test-secret-of-at-least-thirty-two-bytes"
ISSUER = "https://issuer.example"
AUDIENCE = "fraiseql-tests"


@functools.cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwks() -> dict[str, Any]:
    """A JWKS holding the RSA key (kid ``rsa-1``) and the EC key (kid ``ec-1``)."""
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key().public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key().public_key()))
    return {
        "keys": [
            {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
            {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
        ]
    }


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims of a valid token for user ann of tenant acme (override or drop with ``None``)."""
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": "ann",
        "tenant_id": "acme",
        "scope": "chat:read chat:write",
        "roles": ["member"],
        "iat": now,
        "exp": now + 600,
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def hs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


def rs256(kid: str | None = "rsa-1", **overrides: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**overrides), rsa_key(), algorithm="RS256", headers=headers)


def es256(kid: str | None = "ec-1", **overrides: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**overrides), ec_key(), algorithm="ES256", headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], key: bytes | None, **overrides: Any) -> str:
    """A token made by hand, as an attacker would: ``alg: none`` (no key) or HS256 signed with
    ``key`` (e.g. the server's RSA public key: the algorithm confusion attack)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims(**overrides)).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
