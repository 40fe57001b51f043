"""Root fields of the ``Subscription`` type: a resolver (optional), a channel, and who may see what.

Declare one on a manager (``@manager.subscription``) or on its own, to be included by a manager
later::

    from fraiseql.subscriptions import SubscriptionManager, subscription

    @subscription(channel="room:{room}", requires_scopes=["chat:read"])
    async def messageAdded(event: dict, *, room: str) -> Message:
        return Message(**event)

    manager = SubscriptionManager(fields=[messageAdded])
"""

from __future__ import annotations

import inspect
import logging
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from fraiseql._fraiseql_rs.subscriptions import CompiledFilter
from fraiseql.subscriptions._logging import EveryInterval, log_bounded
from fraiseql.subscriptions._resolvers import SKIP, call_shape, keyword_parameters
from fraiseql.subscriptions.errors import ConfigurationError, GraphQLDocumentError, SubscriptionForbidden
from fraiseql.subscriptions.filters import Filter

#: ``resolver(event)`` or ``resolver(event, variables)``, plus keyword-only parameters: one named
#: like an argument of the field receives its coerced value, one named ``context`` the
#: connection's ``ConnectionContext``, ``**kwargs`` every argument.
Resolver = Callable[..., Any]
ChannelSpec = str | Callable[[dict[str, Any]], str] | None
#: A ``filters.Filter`` (evaluated in Rust), or ``predicate(event, context, arguments) -> bool``.
FilterSpec = Filter | Callable[[Any, Any, dict[str, Any]], Any] | None
ResolverT = TypeVar("ResolverT", bound=Resolver)

_DECLARATION = "__fraiseql_subscription__"


def _document_error(message: str) -> GraphQLDocumentError:
    return GraphQLDocumentError(message, [{"message": message}])


@dataclass(frozen=True)
class Access:
    """Who may subscribe to a field, and which of its events each subscriber sees."""

    #: A row-level filter, compiled (the Rust path) ...
    compiled: CompiledFilter | None = None
    #: ... or a Python predicate (the slower escape hatch).
    predicate: Callable[[Any, Any, dict[str, Any]], Any] | None = None
    #: Scopes and roles the connection's context must all hold to subscribe.
    requires_scopes: frozenset[str] = field(default_factory=frozenset)
    requires_roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def declare(
        cls, filter_: FilterSpec, requires_scopes: Iterable[str], requires_roles: Iterable[str]
    ) -> Access:
        scopes, roles = _names(requires_scopes, "requires_scopes"), _names(requires_roles, "requires_roles")
        if filter_ is None:
            return cls(requires_scopes=scopes, requires_roles=roles)
        if isinstance(filter_, Filter):
            try:
                compiled = CompiledFilter(filter_.spec)
            except ValueError as error:
                raise ConfigurationError(str(error)) from None
            return cls(compiled=compiled, requires_scopes=scopes, requires_roles=roles)
        if callable(filter_):
            return cls(predicate=filter_, requires_scopes=scopes, requires_roles=roles)
        raise TypeError(
            f"filter must be a fraiseql.subscriptions.filters.Filter or a callable, not {filter_!r}"
        )

    def missing(self, scopes: Iterable[str], roles: Iterable[str]) -> tuple[list[str], list[str]]:
        """The required scopes and roles a context lacks."""
        return sorted(self.requires_scopes - set(scopes)), sorted(self.requires_roles - set(roles))


def _names(values: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(values, str):
        raise TypeError(f"{what} is a list of names, not the string {values!r}")
    names = frozenset(values)
    if not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"{what} must hold non-empty strings")
    return names


@dataclass(frozen=True)
class SubscriptionField:
    """A root field of the Subscription type: its resolver (optional), its channel, its access.

    The resolver is called ``resolver(event)`` or ``resolver(event, variables)`` (two positional
    parameters); its keyword-only parameters receive the field's arguments by name and, for one
    named ``context``, the connection's ``ConnectionContext``; ``**kwargs`` receives every
    argument.
    """

    name: str
    resolver: Resolver | None
    channel: ChannelSpec
    #: Keyword-only parameters of the resolver, those without a default, and whether it takes
    #: ``**kwargs``.
    keywords: tuple[str, ...] = ()
    required_keywords: tuple[str, ...] = ()
    takes_all_arguments: bool = False
    #: Whether the resolver takes the variables as its second positional parameter.
    takes_variables: bool = True
    access: Access = field(default_factory=Access)

    @classmethod
    def declare(
        cls, name: str, resolver: Resolver | None, channel: ChannelSpec, access: Access | None = None
    ) -> SubscriptionField:
        """A field; ``TypeError`` (saying why) when the resolver cannot be called as one."""
        access = access or Access()
        if resolver is None:
            return cls(name, None, channel, access=access)
        keywords, required, takes_all = keyword_parameters(resolver)
        takes_variables, _ = call_shape(resolver, provided_keywords=keywords)
        return cls(name, resolver, channel, keywords, required, takes_all, takes_variables, access)

    @property
    def wants_context(self) -> bool:
        """Whether what runs per event depends on the connection's context (its resolver takes
        ``context``, or a Python filter reads it)."""
        return "context" in self.keywords or self.access.predicate is not None

    def channel_for(self, arguments: dict[str, Any]) -> str:
        if self.channel is None:
            return self.name
        if callable(self.channel):
            return str(self.channel(arguments))
        names = [name for _, name, _, _ in string.Formatter().parse(self.channel) if name]
        missing = [name for name in names if name not in arguments]
        if missing:
            raise _document_error(f'Field "{self.name}" needs the argument(s) {", ".join(missing)}.')
        return self.channel.format(**arguments)

    def bound_keywords(self, arguments: dict[str, Any], context: object) -> dict[str, Any]:
        """The keyword arguments the resolver receives; ``GraphQLDocumentError`` when one it
        requires is missing from the document's arguments."""
        bound: dict[str, Any] = dict(arguments) if self.takes_all_arguments else {}
        for name in self.keywords:
            if name == "context":
                bound["context"] = context
            elif name in arguments:
                bound[name] = arguments[name]
        missing = [name for name in self.required_keywords if name not in bound]
        if missing:
            raise _document_error(f'Field "{self.name}" needs the argument(s) {", ".join(missing)}.')
        return bound


def run_filtered(
    event: Any,
    variables: dict[str, Any],
    *,
    predicate: Callable[[Any, Any, dict[str, Any]], Any],
    resolver: Resolver | None,
    takes_variables: bool,
    context: object,
    arguments: Mapping[str, Any],
) -> Any:
    """What the engine calls for a field with a Python filter: ``SKIP`` (no frame for these
    subscribers) unless ``predicate(event, context, arguments)`` holds, then the resolver (or the
    event itself). An ``async def`` predicate or resolver makes this return an awaitable.

    A predicate that raises fails closed: the event is skipped for these subscribers (their
    subscription goes on) and the exception is logged, once per predicate and minute.
    """
    try:
        verdict = predicate(event, context, dict(arguments))
    except Exception:
        return _predicate_failed(predicate)
    if inspect.isawaitable(verdict):
        return _run_filtered_async(predicate, verdict, event, variables, resolver, takes_variables)
    if not verdict:
        return SKIP
    return _resolve(event, variables, resolver, takes_variables)


async def _run_filtered_async(
    predicate: Callable[..., Any],
    verdict: Any,
    event: Any,
    variables: dict[str, Any],
    resolver: Resolver | None,
    takes_variables: bool,
) -> Any:
    try:
        allowed = await verdict
    except Exception:
        return _predicate_failed(predicate)
    if not allowed:
        return SKIP
    result = _resolve(event, variables, resolver, takes_variables)
    return await result if inspect.isawaitable(result) else result


_failing_predicates = EveryInterval()


def _predicate_failed(predicate: Callable[..., Any]) -> object:
    name = getattr(predicate, "__qualname__", repr(predicate))
    log_bounded(
        _failing_predicates,
        name,
        logging.ERROR,
        "filter.failed",
        "the Python filter %s raised: the event is skipped for its subscribers",
        name,
        exc_info=True,
        filter=name,
    )
    return SKIP


def _resolve(event: Any, variables: dict[str, Any], resolver: Resolver | None, takes_variables: bool) -> Any:
    if resolver is None:
        return event
    return resolver(event, variables) if takes_variables else resolver(event)


@dataclass(frozen=True)
class FieldDeclaration:
    """What ``@subscription`` records on a function, for ``SubscriptionManager.include``."""

    name: str | None
    channel: ChannelSpec
    access: Access


@overload
def subscription(resolver: ResolverT, /) -> ResolverT: ...


@overload
def subscription(
    resolver: None = None,
    /,
    *,
    name: str | None = None,
    channel: ChannelSpec = None,
    filter: FilterSpec = None,
    requires_scopes: Iterable[str] = (),
    requires_roles: Iterable[str] = (),
) -> Callable[[ResolverT], ResolverT]: ...


def subscription(
    resolver: ResolverT | None = None,
    /,
    *,
    name: str | None = None,
    channel: ChannelSpec = None,
    filter: FilterSpec = None,
    requires_scopes: Iterable[str] = (),
    requires_roles: Iterable[str] = (),
) -> ResolverT | Callable[[ResolverT], ResolverT]:
    """Declare a subscription field without a manager yet; a manager serves it once given it
    (``SubscriptionManager(fields=[...])`` or ``manager.include(...)``). The options are those of
    ``SubscriptionManager.subscription``.

    The function is returned unchanged (still callable as before). Its signature is checked
    here: one that cannot be called as a resolver raises ``TypeError`` saying why.
    """
    access = Access.declare(filter, requires_scopes, requires_roles)

    def declare(function: ResolverT) -> ResolverT:
        SubscriptionField.declare(name or function.__name__, function, channel, access)
        setattr(function, _DECLARATION, FieldDeclaration(name, channel, access))
        return function

    return declare(resolver) if resolver is not None else declare


def declaration_of(function: Resolver) -> FieldDeclaration:
    """The ``@subscription`` declaration of ``function``; ``TypeError`` if it has none."""
    declared = getattr(function, _DECLARATION, None)
    if not isinstance(declared, FieldDeclaration):
        raise TypeError(f"{function!r} is not declared with @subscription")
    return declared


def require_access(field_: SubscriptionField, scopes: Iterable[str], roles: Iterable[str]) -> None:
    """``SubscriptionForbidden`` unless the context holds the field's required scopes and roles."""
    missing_scopes, missing_roles = field_.access.missing(scopes, roles)
    if missing_scopes or missing_roles:
        raise SubscriptionForbidden(field_.name, missing_scopes, missing_roles)


__all__ = [
    "Access",
    "ChannelSpec",
    "FieldDeclaration",
    "FilterSpec",
    "Resolver",
    "SubscriptionField",
    "declaration_of",
    "require_access",
    "run_filtered",
    "subscription",
]
