"""The user-facing object: subscription fields, the engine, the limits and the live connections."""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures
import functools
import inspect
import json
import logging
import typing
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from fraiseql._fraiseql_rs.subscriptions import PyEventBusConfig, PySubscriptionExecutor
from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.errors import ConfigurationError, GraphQLDocumentError
from fraiseql.subscriptions.fields import (
    Access,
    ChannelSpec,
    FilterSpec,
    Resolver,
    ResolverT,
    SubscriptionField,
    declaration_of,
    require_access,
    run_filtered,
)
from fraiseql.subscriptions.limits import PerKeyCount
from fraiseql.subscriptions.schema import build_schema_sdl
from fraiseql.subscriptions.stats import ServerStats


class ServedConnection(typing.Protocol):
    """What the manager knows of a connection a transport serves: how to close it at shutdown.
    (The manager does not know protocol handlers; they call it.)"""

    async def shutdown(self) -> None: ...


class ServedEndpoint(typing.Protocol):
    """What the manager knows of a server it runs itself (:meth:`SubscriptionManager.serve`):
    how to stop it at shutdown, and how to bring its own counters into :attr:`stats`."""

    async def shutdown(self) -> None: ...

    def update_stats(self, stats: ServerStats) -> None: ...


logger = logging.getLogger("fraiseql.subscriptions")


@dataclass(frozen=True)
class ConnectionContext:
    """Who is on a connection, as ``on_connect`` decided.

    ``user_id`` and ``tenant_id`` drive event visibility (the tenant comes from here only, never
    from a client's variables or arguments); ``scopes`` and ``roles`` are checked against a
    field's ``requires_scopes``/``requires_roles``; filters read all of it; ``data`` is yours.
    ``expires_at`` (Unix time, e.g. a token's ``exp``): the connection is closed with 4403 then.
    ``ack_payload``, when set, is sent with ``connection_ack``.
    """

    user_id: str | int | None = None
    tenant_id: str | int | None = None
    scopes: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    ack_payload: dict[str, Any] | None = None
    roles: tuple[str, ...] = ()
    expires_at: float | None = None

    def filter_view(self) -> dict[str, Any]:
        """What a row-level filter sees as ``context``: the JSON values of the context (``data``
        entries that are not JSON are left out)."""
        data: dict[str, Any] = {}
        for key, value in self.data.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                continue
            if isinstance(key, str):
                data[key] = value
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "scopes": list(self.scopes),
            "roles": list(self.roles),
            "data": data,
        }

    @classmethod
    def from_hook_result(cls, result: object) -> ConnectionContext:
        """Accepts what an ``on_connect`` hook may return: a context, a dict, ``None``/``True``."""
        if isinstance(result, ConnectionContext):
            return result
        if result is None or result is True:
            return cls()
        if isinstance(result, Mapping):
            known = {"user_id", "tenant_id", "scopes", "roles", "expires_at", "ack_payload"}
            return cls(
                user_id=result.get("user_id"),
                tenant_id=result.get("tenant_id"),
                scopes=tuple(result.get("scopes", ())),
                roles=tuple(result.get("roles", ())),
                expires_at=result.get("expires_at"),
                data={key: value for key, value in result.items() if key not in known},
                ack_payload=result.get("ack_payload"),
            )
        raise TypeError(
            "on_connect must return a ConnectionContext, a dict, True/None to accept, or False to refuse; "
            f"got {type(result).__name__}"
        )


class ConnectionRejected(Exception):
    """Raise from ``on_connect`` to refuse a connection (closed with 4403)."""


OnConnect = Callable[[dict[str, Any] | None, RequestInfo], Awaitable[object] | object]


@dataclass
class SubscriptionConfig:
    """Settings of a :class:`SubscriptionManager`; every limit has a safe default."""

    bus: PyEventBusConfig | None = None
    #: The schema subscriptions are validated against: SDL text, or a graphql-core
    #: ``GraphQLSchema`` (what Strawberry, Ariadne and Graphene build). ``None``: generated from
    #: the resolvers' annotations when every field has an annotated resolver (see
    #: ``fraiseql.subscriptions.schema``), else documents are validated without types.
    schema: str | Any | None = None
    #: Generate the schema from annotations when ``schema`` is ``None``.
    generate_schema: bool = True
    #: What a manager that ends up without a schema does (no ``schema``, and a field whose
    #: resolver has no return annotation, or ``generate_schema=False``). Such a manager validates
    #: documents without types: a selection its events do not have (``{ nosuch }``) gets
    #: ``null`` instead of a validation error. ``"warn"`` (the default): one warning on the
    #: ``fraiseql.subscriptions`` logger (event ``schema.missing``), when the first field that
    #: leaves it schemaless is declared; ``"refuse"``: declaring that field raises
    #: ``ConfigurationError``; ``"allow"``: nothing, for applications that mean it. The fix is a
    #: ``schema`` (SDL or a graphql-core schema) or annotated resolvers.
    schemaless: Literal["warn", "allow", "refuse"] = "warn"
    #: Serializers for your own types (``{Money: str}``), applied when event data and resolver
    #: results are converted: once per value and event, never per subscriber.
    serializers: dict[type, Callable[[Any], object]] = field(default_factory=dict)
    #: Document limits: bytes of text, nesting depth, selections (fragments expanded), aliases.
    max_document_size: int = 32 * 1024
    max_document_depth: int = 32
    max_selections: int = 10_000
    max_aliases: int = 100
    #: Compiled documents kept, by count and by their estimated bytes (least recently used
    #: evicted first; a document larger than the whole budget is compiled but not cached).
    document_cache_size: int = 1000
    document_cache_bytes: int = 64 * 1024 * 1024
    #: Frames kept per connection before ``overflow`` applies.
    max_queued_frames: int = 1000
    overflow: Literal["drop_oldest", "drop_newest"] = "drop_oldest"
    #: Seconds a resolver may take, from the publish (``None``: no limit).
    resolver_timeout: float | None = 5.0
    #: A resolver that raises, times out or returns something unusable: ``"field_error"`` (as
    #: GraphQL specifies: that event's ``next`` carries ``errors`` and ``data`` after null
    #: propagation, the subscription goes on) or ``"end_stream"`` (an ``error`` message ends it).
    resolver_errors: Literal["field_error", "end_stream"] = "field_error"
    #: Send the text of a resolver's exception to clients (``Resolver for "x" raised
    #: ValueError: ...``). Off by default: exception text can hold SQL, paths or other users'
    #: data, so clients get ``Resolver for "x" failed.`` and the log gets the traceback.
    #: Exceptions carrying GraphQL ``extensions`` (graphql-core's ``GraphQLError``) are meant
    #: for clients and always keep their message.
    expose_resolver_errors: bool = False
    #: Sync resolvers of events published on the loop: ``"thread"`` (worker threads, one call at
    #: a time per group; the loop never waits) or ``"inline"`` (in the publishing thread: for
    #: resolvers that only reshape data and must not pay the thread hand-off).
    sync_resolvers: Literal["thread", "inline"] = "thread"
    #: Worker threads for sync resolvers.
    sync_resolver_threads: int = 32
    #: Resolver calls slower than this many seconds are logged, once per field and minute
    #: (``None``: never).
    slow_resolver_threshold: float | None = 1.0
    tenant_field: str | None = "tenant_id"
    user_field: str | None = "user_id"
    #: Seconds a client has to send ``connection_init`` (the reference implementation's 3 s).
    connection_init_timeout: float = 3.0
    #: Seconds between server pings (``None``: no keep-alive).
    keepalive_interval: float | None = 15.0
    #: Seconds a client has to answer a ping before it is closed (4504).
    keepalive_timeout: float = 10.0
    #: Active subscriptions per connection; one more gets an ``error`` message.
    max_subscriptions_per_connection: int = 100
    #: Largest client message in bytes; a larger one closes the connection with 1009 (with
    #: ``serve()`` and the websockets integration, before it is read: see docs/security.md).
    max_message_size: int = 64 * 1024
    #: Seconds a new TCP connection has to send its request (the WebSocket upgrade) before it is
    #: closed (``serve()`` and the websockets integration).
    handshake_timeout: float = 10.0
    #: Seconds a connection's unsent bytes may stay above the transport's high-water mark (a
    #: client that stopped reading) before it is aborted and its subscriptions freed; meanwhile
    #: it is not read from (``serve()`` and the websockets integration).
    write_timeout: float = 10.0
    #: TCP connections per client address (``serve()`` and the websockets integration); one more
    #: is answered 503 and closed.
    max_connections_per_address: int | None = 1000
    #: Connections that have not sent their request yet; when more wait, the oldest is closed.
    max_pending_connections: int = 1024
    #: Open connections of this process; one more is closed with 1013 "Try again later".
    max_connections: int | None = 10_000
    #: Open connections per user (``ConnectionContext.user_id``); one more is closed with 4429.
    max_connections_per_user: int | None = 100
    #: Client messages per second per connection (a burst of twice as many); beyond: close 4429.
    max_messages_per_second: float | None = 100.0
    #: ``subscribe`` messages per second per connection (burst twice as many); beyond: close 4429.
    max_subscribes_per_second: float | None = 20.0
    #: Frames per second each subscription may get; the excess is dropped and counted
    #: (``frames_dropped_rate``). ``None`` (the default): your own publishes are never dropped
    #: for rate; the per-connection queue bound (``max_queued_frames``) caps the memory.
    max_frames_per_second: float | None = None
    #: ``on_connect(payload, request_info)``: see :class:`ConnectionContext`.
    on_connect: OnConnect | None = None

    def __post_init__(self) -> None:
        if self.connection_init_timeout <= 0:
            raise ConfigurationError("connection_init_timeout must be positive")
        if self.keepalive_interval is not None and self.keepalive_interval <= 0:
            raise ConfigurationError("keepalive_interval must be positive or None")
        if self.keepalive_timeout <= 0:
            raise ConfigurationError("keepalive_timeout must be positive")
        if self.max_subscriptions_per_connection < 1:
            raise ConfigurationError("max_subscriptions_per_connection must be at least 1")
        if self.max_message_size < 64:
            raise ConfigurationError("max_message_size must be at least 64 bytes")
        for name in ("handshake_timeout", "write_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if self.max_pending_connections < 1:
            raise ConfigurationError("max_pending_connections must be at least 1")
        for name in ("max_connections", "max_connections_per_user", "max_connections_per_address"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise ConfigurationError(f"{name} must be at least 1 or None")
        for name in ("max_messages_per_second", "max_subscribes_per_second", "max_frames_per_second"):
            rate = getattr(self, name)
            if rate is not None and not rate > 0:
                raise ConfigurationError(f"{name} must be positive or None")
        if self.schemaless not in ("warn", "allow", "refuse"):
            raise ConfigurationError("schemaless must be 'warn', 'allow' or 'refuse'")


def _annotated(field_: SubscriptionField) -> bool:
    """Whether a field's resolver says what it returns (the schema can then be generated).

    A root field returning ``dict``/``Mapping``/``Any`` returns untyped JSON: it says nothing a
    schema could use, so it counts as not annotated.
    """
    if field_.resolver is None:
        return False
    try:
        hints = typing.get_type_hints(field_.resolver)
    except Exception:
        return False
    returned = hints.get("return", inspect.Signature.empty)
    if returned is inspect.Signature.empty:
        return False
    members = [m for m in typing.get_args(returned) if m is not type(None)] or [returned]
    untyped = {dict, collections.abc.Mapping, typing.Any}
    return not any(member in untyped or typing.get_origin(member) in untyped for member in members)


def _context_key(context: ConnectionContext, field_: SubscriptionField) -> object:
    """What distinguishes contexts for a resolver that takes one (nothing for the others)."""
    if not field_.wants_context:
        return None
    return [
        context.user_id,
        context.tenant_id,
        list(context.scopes),
        list(context.roles),
        context.expires_at,
        dict(context.data),
        context.ack_payload,
    ]


def _unusable_input(error: TypeError | ValueError) -> GraphQLDocumentError:
    """A client's text or variables the engine cannot take, as a GraphQL error."""
    if isinstance(error, UnicodeError):
        # Lone surrogates ("\ud800" in the JSON) are valid JSON but not text.
        message = "The document, operation name or variables are not valid Unicode text."
    else:
        # Variables JSON cannot carry (NaN, integers beyond 64 bits), in the converter's own
        # words: they name the variable, never server internals.
        message = f"Variables could not be used: {error}"
    return GraphQLDocumentError(message, [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}])


def _schema_sdl(schema: object) -> str | None:
    """SDL from SDL text or a graphql-core schema."""
    if schema is None or isinstance(schema, str):
        return schema
    try:
        from graphql import GraphQLSchema, print_schema
    except ImportError:  # pragma: no cover - graphql-core is optional
        raise ConfigurationError("schema must be SDL text (graphql-core is not installed)") from None
    if not isinstance(schema, GraphQLSchema):
        raise ConfigurationError(
            f"schema must be SDL text or a graphql-core GraphQLSchema, not {type(schema).__name__}"
        )
    return print_schema(schema)


class SubscriptionManager:
    """Owns the engine, the subscription fields, the limits and the live connections.

    >>> manager = SubscriptionManager()
    >>> @manager.subscription(channel="room:{room}")
    ... async def messageAdded(event, variables):
    ...     return event
    >>> # later, from application code:  await manager.publish("room:lobby", {...})
    """

    def __init__(self, config: SubscriptionConfig | None = None, *, fields: Iterable[Resolver] = ()) -> None:
        """``fields``: functions declared with ``@subscription`` (see ``include``)."""
        self.config = config or SubscriptionConfig()
        self.executor = PySubscriptionExecutor(
            self.config.bus,
            schema_sdl=_schema_sdl(self.config.schema),
            max_document_size=self.config.max_document_size,
            max_depth=self.config.max_document_depth,
            max_selections=self.config.max_selections,
            max_aliases=self.config.max_aliases,
            document_cache_size=self.config.document_cache_size,
            document_cache_bytes=self.config.document_cache_bytes,
            serializers=self.config.serializers,
            max_queued_frames=self.config.max_queued_frames,
            overflow=self.config.overflow,
            resolver_timeout=self.config.resolver_timeout,
            resolver_errors=self.config.resolver_errors,
            expose_resolver_errors=self.config.expose_resolver_errors,
            sync_resolvers=self.config.sync_resolvers,
            sync_resolver_threads=self.config.sync_resolver_threads,
            slow_resolver_threshold=self.config.slow_resolver_threshold,
            max_frames_per_second=self.config.max_frames_per_second,
            tenant_field=self.config.tenant_field,
            user_field=self.config.user_field,
        )
        self.fields: dict[str, SubscriptionField] = {}
        #: Whether the "no schema" warning was logged (``SubscriptionConfig.schemaless``).
        self._schemaless_warned = False
        #: What the protocol handlers counted (see ``fraiseql.subscriptions.metrics``).
        self.stats = ServerStats()
        #: Open connections per user (``max_connections_per_user``).
        self._connections_per_user = PerKeyCount(self.config.max_connections_per_user)
        self._connections: set[ServedConnection] = set()
        #: Servers started by :meth:`serve`, stopped by :meth:`shutdown`.
        self._endpoints: set[ServedEndpoint] = set()
        #: Where new documents are compiled (``subscribe_async``), created when first needed.
        self._compile_threads: concurrent.futures.ThreadPoolExecutor | None = None
        # Resolvers bound to arguments and context, shared while subscriptions use them.
        self._bound_resolvers: weakref.WeakValueDictionary[str, functools.partial[Any]] = (
            weakref.WeakValueDictionary()
        )
        for function in fields:
            self.include(function)

    def schema_sdl(self) -> str | None:
        """The SDL subscriptions are validated against (``None`` without a schema)."""
        return self.executor.schema_sdl

    def _install_generated_schema(self, fields: list[SubscriptionField]) -> None:
        """Generates the schema from the fields' annotations when all of them have one."""
        unannotated = [field_.name for field_ in fields if not _annotated(field_)]
        if unannotated:
            if self.executor.schema_sdl is not None:
                logger.warning(
                    "no schema generated any more: field(s) %s have no typed resolver; documents are "
                    "validated without types",
                    ", ".join(unannotated),
                )
            self.executor.set_schema(None)
            return
        resolvers = {field_.name: field_.resolver for field_ in fields if field_.resolver is not None}
        self.executor.set_schema(build_schema_sdl(resolvers))

    # -- declaring subscription fields ------------------------------------------------------

    @overload
    def subscription(self, resolver: ResolverT, /) -> ResolverT: ...

    @overload
    def subscription(
        self,
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
        self,
        resolver: ResolverT | None = None,
        /,
        *,
        name: str | None = None,
        channel: ChannelSpec = None,
        filter: FilterSpec = None,
        requires_scopes: Iterable[str] = (),
        requires_roles: Iterable[str] = (),
    ) -> ResolverT | Callable[[ResolverT], ResolverT]:
        """Declare a root subscription field resolved by ``resolver(event)`` or
        ``resolver(event, variables)`` (see :class:`SubscriptionField` for keyword parameters).

        The field is named after the function unless ``name`` is given. Its channel is the field
        name, or ``channel``: a format string over the field's arguments (``"room:{room}"``) or
        a function of them. ``async def`` and plain resolvers both work. A resolver that cannot
        be called that way raises ``TypeError`` here, saying why.

        ``filter``: which events each subscriber sees (``fraiseql.subscriptions.filters``,
        evaluated in Rust; or a Python predicate). ``requires_scopes``/``requires_roles``: a
        subscriber's context must hold all of them, else its ``subscribe`` gets an ``error``
        (``FORBIDDEN``).
        """
        access = Access.declare(filter, requires_scopes, requires_roles)

        def register(function: ResolverT) -> ResolverT:
            self._add(name or function.__name__, function, channel, access)
            return function

        return register(resolver) if resolver is not None else register

    def include(self, function: Resolver) -> None:
        """Serve a field declared with ``fraiseql.subscriptions.subscription``."""
        declared = declaration_of(function)
        self._add(declared.name or function.__name__, function, declared.channel, declared.access)

    def add_field(
        self,
        name: str,
        resolver: Resolver | None = None,
        *,
        channel: ChannelSpec = None,
        filter: FilterSpec = None,
        requires_scopes: Iterable[str] = (),
        requires_roles: Iterable[str] = (),
    ) -> None:
        """Declare a root subscription field; without resolver, subscribers get the event's data.

        ``TypeError`` when the resolver cannot be called as one; ``ConfigurationError`` when the
        field is already declared, when the application's schema has no such field or lacks an
        argument the resolver requires, or when the resolver would take the tenant from the
        client (an argument named like ``tenant_field``).
        """
        self._add(name, resolver, channel, Access.declare(filter, requires_scopes, requires_roles))

    def _add(self, name: str, resolver: Resolver | None, channel: ChannelSpec, access: Access) -> None:
        if name in self.fields:
            raise ConfigurationError(f"subscription field {name!r} is already declared")
        field_ = SubscriptionField.declare(name, resolver, channel, access)
        tenant_field = self.config.tenant_field
        if tenant_field is not None and tenant_field in field_.keywords:
            raise ConfigurationError(
                f"the resolver of {name!r} takes {tenant_field!r} as an argument, which a client would "
                "choose: read context.tenant_id instead (the tenant comes from the connection's context only)"
            )
        self._check_schemaless(field_)
        if self.config.schema is not None:
            self._check_against_schema(field_)
        elif self.config.generate_schema:
            # Built and installed here, so a schema problem surfaces where the field is declared.
            self._install_generated_schema([*self.fields.values(), field_])
        self.fields[name] = field_

    def _check_schemaless(self, field_: SubscriptionField) -> None:
        """Warn (once per manager) or refuse when declaring ``field_`` leaves the manager without
        a schema (``SubscriptionConfig.schemaless``)."""
        if self.config.schema is not None or self.config.schemaless == "allow":
            return
        if self.config.generate_schema:
            untyped = [f.name for f in (*self.fields.values(), field_) if not _annotated(f)]
            if not untyped:
                return
            cause = f"field(s) {', '.join(untyped)} have no resolver with a return annotation"
        else:
            cause = "generate_schema is False"
        fix = (
            "pass SubscriptionConfig(schema=...) (SDL text or a graphql-core schema) or annotate the "
            "resolvers' return types so the schema is generated"
        )
        if self.config.schemaless == "refuse":
            raise ConfigurationError(
                f"subscription field {field_.name!r} would leave the manager without a schema ({cause}): "
                f"{fix}, or set SubscriptionConfig(schemaless='warn' or 'allow')"
            )
        if self._schemaless_warned:
            return
        self._schemaless_warned = True
        logger.warning(
            "this SubscriptionManager has no schema (%s, and no schema= was given): documents are "
            "validated without types, so a selection its events do not have (e.g. { nosuch }) gets "
            "null instead of a validation error. To fix it, %s; SubscriptionConfig(schemaless='allow') "
            "silences this warning, schemaless='refuse' makes it an error",
            cause,
            fix,
            extra={"event": "schema.missing", "field": field_.name},
        )

    def _check_against_schema(self, field_: SubscriptionField) -> None:
        arguments = self.executor.subscription_field_arguments(field_.name)
        if arguments is None:
            raise ConfigurationError(f"the schema's Subscription type has no field {field_.name!r}")
        tenant_field = self.config.tenant_field
        if tenant_field is not None and tenant_field in arguments:
            raise ConfigurationError(
                f"the schema's field {field_.name!r} takes an argument {tenant_field!r}, which a client "
                "would choose: the tenant comes from the connection's context only"
            )
        missing = [name for name in field_.required_keywords if name != "context" and name not in arguments]
        if missing:
            raise ConfigurationError(
                f"the resolver of {field_.name!r} requires {', '.join(missing)}, which the schema's "
                f"field does not take as argument(s)"
            )

    # -- publishing ---------------------------------------------------------------------------

    async def publish(
        self,
        channel: str,
        data: object,
        *,
        event_type: str | None = None,
        tenant_id: str | int | None = None,
        user_id: str | int | None = None,
        global_event: bool = False,
    ) -> None:
        """Publish an event to every subscription listening on ``channel``.

        With a Redis or PostgreSQL bus, every process gets it (this one included): this returns
        once the bus stored it and this process dispatched it, or raises ``PublishTimeoutError``
        (the loop is free meanwhile).
        """
        # With the in-memory bus this publishes at once and returns a completed future.
        await self.executor.publish_event_async(
            event_type or channel,
            channel,
            data,
            tenant_id=tenant_id,
            user_id=user_id,
            global_event=global_event,
        )

    def install_change_trigger(
        self, table: str, *, channel: str, operations: Sequence[str] = ("INSERT", "UPDATE", "DELETE")
    ) -> None:
        """Publish ``table``'s inserts, updates and deletes (by any program) as events on
        ``channel`` (PostgreSQL bus only; ``"order:{id}"``: ``{column}`` is that column of the
        row). The event's data is the row (the old row for a delete), its type the operation."""
        self.executor.install_change_trigger(table, channel, list(operations))

    # -- what the protocol handler calls ------------------------------------------------------

    def subscribe(
        self,
        connection_id: str,
        subscription_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: ConnectionContext,
    ) -> None:
        """Validate and register one subscription; raises ``GraphQLDocumentError``, or
        ``SubscriptionForbidden`` when the context lacks a scope or role the field requires."""
        info = self._inspect(query, operation_name, variables)
        self._register(connection_id, subscription_id, query, operation_name, info, context)

    async def subscribe_async(
        self,
        connection_id: str,
        subscription_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: ConnectionContext,
    ) -> None:
        """``subscribe`` for code on the event loop: a document not compiled yet is compiled in
        a worker thread (a large one takes milliseconds), so other connections are not kept
        waiting; cached documents, the usual case, are registered at once."""
        try:
            cached = self.executor.is_document_cached(query, operation_name)
        except UnicodeError as error:
            raise _unusable_input(error) from None
        if cached:
            info = self._inspect(query, operation_name, variables)
        else:
            info = await asyncio.get_running_loop().run_in_executor(
                self._compiler(), self._inspect, query, operation_name, variables
            )
        self._register(connection_id, subscription_id, query, operation_name, info, context)

    def _inspect(
        self, query: str, operation_name: str | None, variables: dict[str, Any] | None
    ) -> dict[str, Any]:
        try:
            return self.executor.inspect_subscription(query, operation_name, variables)
        except GraphQLDocumentError:
            raise  # a ValueError too, already in GraphQL's terms
        except (TypeError, ValueError) as error:
            raise _unusable_input(error) from None

    def _compiler(self) -> concurrent.futures.ThreadPoolExecutor:
        # Two threads: compiling releases the GIL, and leaves a core to the loop on small machines.
        # Each connection reads its messages in order, so at most one compile per connection waits.
        if self._compile_threads is None:
            self._compile_threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="fraiseql-compile"
            )
        return self._compile_threads

    def _register(
        self,
        connection_id: str,
        subscription_id: str,
        query: str,
        operation_name: str | None,
        info: dict[str, Any],
        context: ConnectionContext,
    ) -> None:
        field_ = self.fields.get(info["root_field"])
        if field_ is None:
            message = f'Cannot query field "{info["root_field"]}" on type "Subscription".'
            raise GraphQLDocumentError(message, [{"message": message}])
        require_access(field_, context.scopes, context.roles)
        channel = field_.channel_for(info["arguments"])
        compiled = field_.access.compiled
        self.executor.register_subscription(
            connection_id,
            subscription_id,
            query,
            operation_name,
            info["variables"],
            user_id=context.user_id,
            tenant_id=context.tenant_id,
            channel=channel,
            resolver=self._resolver_for(field_, info["arguments"], context),
            filter=compiled,
            filter_inputs={"context": context.filter_view(), "args": info["arguments"]} if compiled else None,
        )

    def _resolver_for(
        self, field_: SubscriptionField, arguments: dict[str, Any], context: ConnectionContext
    ) -> Resolver | None:
        """The field's resolver, bound to the arguments and context it declares it wants.

        The same bound resolver serves every subscription with equal arguments and context, so
        the engine still calls it once per event for all of them.
        """
        resolver = field_.resolver
        predicate = field_.access.predicate
        if predicate is None and (resolver is None or not (field_.keywords or field_.takes_all_arguments)):
            return resolver
        bound = field_.bound_keywords(arguments, context) if resolver is not None else {}
        arguments_only = {k: v for k, v in bound.items() if k != "context"}
        if predicate is not None:
            # The Python filter sees every argument (and the context): bound per both.
            arguments_only = dict(arguments)
        try:
            # Only plain JSON content is compared: anything else could look equal and differ.
            key = json.dumps([field_.name, arguments_only, _context_key(context, field_)], sort_keys=True)
        except (TypeError, ValueError):
            key = json.dumps([field_.name, arguments_only, id(context)], sort_keys=True, default=id)
        existing = self._bound_resolvers.get(key)
        if existing is not None:
            return existing
        partial: functools.partial[Any]
        if predicate is None:
            assert resolver is not None
            partial = functools.partial(resolver, **bound)
        else:
            inner = functools.partial(resolver, **bound) if resolver is not None and bound else resolver
            partial = functools.partial(
                run_filtered,
                predicate=predicate,
                resolver=inner,
                takes_variables=field_.takes_variables,
                context=context,
                arguments=arguments,
            )
        self._bound_resolvers[key] = partial
        return partial

    # -- lifecycle ----------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 8001, path: str = "/graphql") -> None:
        """Serve graphql-transport-ws on ``ws://host:port/path`` with the native transport: the
        sockets are handled in Rust and frames go from the engine to them without Python;
        ``on_connect`` and subscribe registration run on this loop. The limits are this
        manager's (``SubscriptionConfig``). Runs until cancelled or :meth:`shutdown`; either way
        every connection is closed with 1001 "Going away" before it ends (a cancellation is then
        raised again). ``OSError`` when the address cannot be bound."""
        from fraiseql.subscriptions import native

        await native.serve(self, host, port, path)

    def server_started(self, endpoint: ServedEndpoint) -> None:
        """A server of this manager runs (stopped by :meth:`shutdown`)."""
        self._endpoints.add(endpoint)

    def server_stopped(self, endpoint: ServedEndpoint) -> None:
        self._endpoints.discard(endpoint)

    def update_stats(self) -> ServerStats:
        """:attr:`stats`, with what the servers of :meth:`serve` counted themselves added."""
        for endpoint in list(self._endpoints):
            endpoint.update_stats(self.stats)
        return self.stats

    def connection_opened(self, connection: ServedConnection) -> None:
        """A transport serves a new connection (closed by :meth:`shutdown` if still open)."""
        self._connections.add(connection)

    def connection_closed(self, connection: ServedConnection) -> None:
        self._connections.discard(connection)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def admit_user(self, user: object) -> bool:
        """Counts one more connection of ``user``; ``False`` (and nothing counted) beyond
        ``max_connections_per_user``. Each admitted connection calls :meth:`release_user` once."""
        return self._connections_per_user.acquire(user)

    def release_user(self, user: object) -> None:
        self._connections_per_user.release(user)

    async def shutdown(self) -> None:
        """Close every connection with 1001 "Going away" (call it before the server stops) and
        stop the servers of :meth:`serve`, then stop the bus."""
        closing = [connection.shutdown() for connection in (*self._connections, *self._endpoints)]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        if self._compile_threads is not None:
            self._compile_threads.shutdown(wait=False, cancel_futures=True)
            self._compile_threads = None
        self.executor.shutdown()
