"""How a resolver is called, read once from its signature when it is registered.

A resolver is called ``resolver(event)`` or ``resolver(event, variables)``: the second form when
it takes two positional parameters (or ``*args``). A signature that cannot be called either way
is refused at registration with a message saying why, never at the first event.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection
from typing import Any

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def describe(resolver: object) -> str:
    """A resolver's name for messages: ``'on_message'``, ``functools.partial(<...>)``."""
    name = getattr(resolver, "__qualname__", None) or getattr(resolver, "__name__", None)
    return repr(name) if isinstance(name, str) else repr(resolver)


def is_async(resolver: object) -> bool:
    """Whether calling ``resolver`` returns an awaitable to run on the loop (``async def``,
    a partial of one, or an object whose ``__call__`` is ``async def``)."""
    while isinstance(resolver, functools.partial):
        resolver = resolver.func
    if inspect.iscoroutinefunction(resolver):
        return True
    call = getattr(type(resolver), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return not inspect.isroutine(resolver) and inspect.iscoroutinefunction(call)


def call_shape(resolver: object, provided_keywords: Collection[str] = ()) -> tuple[bool, bool]:
    """``(takes_variables, is_async)`` for ``resolver``; ``TypeError`` when it cannot be called
    as ``resolver(event)`` or ``resolver(event, variables)``.

    ``provided_keywords`` are keyword-only parameters that will be bound before the call (the
    manager binds field arguments and ``context``). A callable whose signature Python cannot
    read (some built-ins) is called with the event only.
    """
    if not callable(resolver):
        raise TypeError(f"resolver must be callable, not {type(resolver).__name__}")
    asynchronous = is_async(resolver)
    try:
        signature = inspect.signature(resolver)
    except (TypeError, ValueError):
        return False, asynchronous
    parameters = list(signature.parameters.values())
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    takes_star_args = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    required = [p.name for p in positional if p.default is inspect.Parameter.empty]
    unbound = [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.default is inspect.Parameter.empty
        and p.name not in provided_keywords
    ]
    forms = "resolver(event) or resolver(event, variables)"
    if len(required) > 2:
        raise TypeError(
            f"resolver {describe(resolver)} cannot be called as {forms}: it requires "
            f"{len(required)} positional parameters ({', '.join(required)})"
        )
    if not positional and not takes_star_args:
        raise TypeError(
            f"resolver {describe(resolver)} cannot be called as {forms}: it takes no positional "
            "parameter for the event"
        )
    if unbound:
        raise TypeError(
            f"resolver {describe(resolver)} cannot be called as {forms}: keyword-only "
            f"parameter(s) {', '.join(unbound)} have no default"
        )
    return takes_star_args or len(positional) >= 2, asynchronous


def keyword_parameters(resolver: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """``(keyword_only, required_keyword_only, takes_kwargs)`` of a field's resolver."""
    try:
        parameters = list(inspect.signature(resolver).parameters.values())
    except (TypeError, ValueError):
        return (), (), False
    keywords = tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
    required = tuple(
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    )
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return keywords, required, takes_kwargs


class _Skip:
    """The type of :data:`SKIP`."""

    _instance: _Skip | None = None

    def __new__(cls) -> _Skip:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SKIP"


#: Return it from a resolver to send nothing for this event to its subscribers (the
#: subscription goes on). What a Python filter does.
SKIP = _Skip()
