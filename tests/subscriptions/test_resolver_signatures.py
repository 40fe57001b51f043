"""Resolvers as users write them: ``(event)``, ``(event, variables)``, defaults, ``*args``,
callable objects; a signature that cannot be called either way is refused at registration."""

from __future__ import annotations

import functools
import operator
import re
from typing import Any

import pytest

from fraiseql.subscriptions import PySubscriptionExecutor
from fraiseql.subscriptions._resolvers import call_shape
from tests.conftest import decode

QUERY = "subscription($n: Int = 3) { a(n: $n) { id n } }"


def deliver(resolver: Any) -> dict[str, Any]:
    """What a subscription resolved by ``resolver`` receives for one event."""
    executor = PySubscriptionExecutor()
    executor.register_subscription("c", "s", QUERY, resolver=resolver)
    executor.publish_event("e", "a", {"id": "1"})
    payload = decode(executor.next_event("s"))["payload"]
    assert "errors" not in payload, payload
    data: dict[str, Any] = payload["data"]["a"]
    return data


def event_only(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "n": 0}


def event_and_variables(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    return {**event, "n": variables["n"]}


def optional_variables(event: dict[str, Any], variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**event, "n": (variables or {}).get("n", -1)}


def star_args(*args: Any) -> dict[str, Any]:
    return {**args[0], "n": len(args)}


def with_keyword_default(event: dict[str, Any], *, scale: int = 10) -> dict[str, Any]:
    return {**event, "n": scale}


class CallableObject:
    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "n": 5}


@pytest.mark.parametrize(
    ("resolver", "n"),
    [
        (event_only, 0),
        (event_and_variables, 3),
        (optional_variables, 3),
        (star_args, 2),
        (with_keyword_default, 10),
        (CallableObject(), 5),
        (lambda event: {**event, "n": 1}, 1),
        (functools.partial(with_keyword_default, scale=4), 4),
    ],
    ids=[
        "event",
        "event+variables",
        "optional variables",
        "*args",
        "keyword default",
        "object",
        "lambda",
        "partial",
    ],
)
def test_accepted_forms(resolver: Any, n: int) -> None:
    assert deliver(resolver) == {"id": "1", "n": n}


def test_a_built_in_whose_signature_python_cannot_read_gets_the_event_only() -> None:
    executor = PySubscriptionExecutor()
    executor.register_subscription("c", "s", "subscription { a }", resolver=operator.itemgetter("id"))
    executor.publish_event("e", "a", {"id": "7"})
    assert decode(executor.next_event("s"))["payload"] == {"data": {"a": "7"}}


def three(event: Any, variables: Any, extra: Any) -> Any:
    return event


def nothing() -> Any:
    return {}


def needs_keyword(event: Any, *, user: str) -> Any:
    return event


@pytest.mark.parametrize(
    ("resolver", "reason"),
    [
        (three, "it requires 3 positional parameters (event, variables, extra)"),
        (nothing, "it takes no positional parameter for the event"),
        (needs_keyword, "keyword-only parameter(s) user have no default"),
        (5, "resolver must be callable, not int"),
    ],
)
def test_refused_at_registration_with_the_reason(resolver: Any, reason: str) -> None:
    executor = PySubscriptionExecutor()
    with pytest.raises(TypeError, match=re.escape(reason)):
        executor.register_subscription("c", "s", QUERY, resolver=resolver)
    executor.register_subscription("c", "t", QUERY)
    with pytest.raises(TypeError, match=r"cannot be called as resolver|must be callable"):
        executor.register_resolver("t", resolver)
    metrics = executor.get_metrics()
    assert (metrics["active_subscriptions"], metrics["registered_resolvers"]) == (1, 0)


def test_the_message_names_the_resolver_and_both_forms() -> None:
    with pytest.raises(TypeError) as raised:
        call_shape(three)
    assert str(raised.value) == (
        "resolver 'three' cannot be called as resolver(event) or resolver(event, variables): "
        "it requires 3 positional parameters (event, variables, extra)"
    )


def test_async_callables_are_recognised() -> None:
    async def coroutine_function(event: Any) -> Any:
        return event

    class AsyncCall:
        async def __call__(self, event: Any, variables: Any) -> Any:
            return event

    assert call_shape(coroutine_function) == (False, True)
    assert call_shape(functools.partial(coroutine_function)) == (False, True)
    assert call_shape(AsyncCall()) == (True, True)
    assert call_shape(event_only) == (False, False)


def test_keywords_bound_later_are_not_required_now() -> None:
    assert call_shape(needs_keyword, provided_keywords={"user"}) == (False, False)
