"""Names are importable where the seeds import them, and the everyday names from the package."""

from __future__ import annotations

import importlib

import pytest

SEED_PATHS = [
    ("fraiseql._fraiseql_rs", "PyEventBusConfig"),
    ("fraiseql._fraiseql_rs.subscriptions", "PySubscriptionExecutor"),
    ("fraiseql._fraiseql_rs.subscriptions", "PySubscriptionPayload"),
    ("fraiseql._fraiseql_rs.subscriptions", "PyGraphQLMessage"),
    ("fraiseql._fraiseql_rs.subscriptions", "PyEventBusConfig"),
    ("fraiseql.subscriptions.http_adapter", "WebSocketAdapter"),
    ("fraiseql.subscriptions.http_adapter", "GraphQLTransportWSHandler"),
    ("fraiseql.integrations.fastapi_subscriptions", "SubscriptionRouterFactory"),
    ("fraiseql.integrations.starlette_subscriptions", "create_subscription_app"),
    ("fraiseql.subscriptions.custom_server_example", "start_server"),
    ("fraiseql.subscriptions", "SubscriptionManager"),
    ("fraiseql.subscriptions", "SubscriptionConfig"),
    ("fraiseql.subscriptions", "ConnectionContext"),
    ("fraiseql.subscriptions", "subscription"),
]


@pytest.mark.parametrize(("module", "name"), SEED_PATHS, ids=[f"{m}.{n}" for m, n in SEED_PATHS])
def test_importable(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


def test_the_aliases_are_the_same_objects() -> None:
    from fraiseql import _fraiseql_rs
    from fraiseql.integrations import fastapi, fastapi_subscriptions, starlette, starlette_subscriptions
    from fraiseql.subscriptions import PyEventBusConfig, http_adapter
    from fraiseql.subscriptions.adapter import WebSocketAdapter

    assert _fraiseql_rs.PyEventBusConfig is PyEventBusConfig
    assert http_adapter.WebSocketAdapter is WebSocketAdapter
    assert fastapi_subscriptions.SubscriptionRouterFactory is fastapi.SubscriptionRouterFactory
    assert starlette_subscriptions.create_subscription_app is starlette.create_subscription_app
