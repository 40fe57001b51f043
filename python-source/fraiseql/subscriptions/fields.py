"""Root fields of the ``Subscription`` type: a resolver (optional) and a channel.

Declare one on a manager (``@manager.subscription``) or on its own, to be included by a manager
later::

    from fraiseql.subscriptions import SubscriptionManager, subscription

    @subscription(channel="room:{room}")
    async def messageAdded(event: dict, *, room: str) -> Message:
        return Message(**event)

    manager = SubscriptionManager(fields=[messageAdded])
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from fraiseql.subscriptions._resolvers import call_shape, keyword_parameters
from fraiseql.subscriptions.errors import GraphQLDocumentError

#: ``resolver(event)`` or ``resolver(event, variables)``, plus keyword-only parameters: one named
#: like an argument of the field receives its coerced value, one named ``context`` the
#: connection's ``ConnectionContext``, ``**kwargs`` every argument.
Resolver = Callable[..., Any]
ChannelSpec = str | Callable[[dict[str, Any]], str] | None
ResolverT = TypeVar("ResolverT", bound=Resolver)

_DECLARATION = "__fraiseql_subscription__"


def _document_error(message: str) -> GraphQLDocumentError:
    return GraphQLDocumentError(message, [{"message": message}])


@dataclass(frozen=True)
class SubscriptionField:
    """A root field of the Subscription type: its resolver (optional) and its channel.

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

    @classmethod
    def declare(cls, name: str, resolver: Resolver | None, channel: ChannelSpec) -> SubscriptionField:
        """A field; ``TypeError`` (saying why) when the resolver cannot be called as one."""
        if resolver is None:
            return cls(name, None, channel)
        keywords, required, takes_all = keyword_parameters(resolver)
        call_shape(resolver, provided_keywords=keywords)
        return cls(name, resolver, channel, keywords, required, takes_all)

    @property
    def wants_context(self) -> bool:
        return "context" in self.keywords

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


@dataclass(frozen=True)
class FieldDeclaration:
    """What ``@subscription`` records on a function, for ``SubscriptionManager.include``."""

    name: str | None
    channel: ChannelSpec


@overload
def subscription(resolver: ResolverT, /) -> ResolverT: ...


@overload
def subscription(
    resolver: None = None, /, *, name: str | None = None, channel: ChannelSpec = None
) -> Callable[[ResolverT], ResolverT]: ...


def subscription(
    resolver: ResolverT | None = None, /, *, name: str | None = None, channel: ChannelSpec = None
) -> ResolverT | Callable[[ResolverT], ResolverT]:
    """Declare a subscription field without a manager yet; a manager serves it once given it
    (``SubscriptionManager(fields=[...])`` or ``manager.include(...)``).

    The function is returned unchanged (still callable as before). Its signature is checked
    here: one that cannot be called as a resolver raises ``TypeError`` saying why.
    """

    def declare(function: ResolverT) -> ResolverT:
        SubscriptionField.declare(name or function.__name__, function, channel)
        setattr(function, _DECLARATION, FieldDeclaration(name, channel))
        return function

    return declare(resolver) if resolver is not None else declare


def declaration_of(function: Resolver) -> FieldDeclaration:
    """The ``@subscription`` declaration of ``function``; ``TypeError`` if it has none."""
    declared = getattr(function, _DECLARATION, None)
    if not isinstance(declared, FieldDeclaration):
        raise TypeError(f"{function!r} is not declared with @subscription")
    return declared
