"""The Rust subscription engine's classes."""

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, final

@final
class PySubscriptionPayload:
    """The payload of a graphql-transport-ws ``subscribe`` message."""

    query: str
    operation_name: str | None
    variables: dict[str, Any]
    extensions: dict[str, Any] | None
    def __new__(
        cls,
        query: str,
        operation_name: str | None = None,
        variables: dict[str, Any] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> PySubscriptionPayload: ...

@final
class PyGraphQLMessage:
    """One graphql-transport-ws message: ``type``, optional ``id``, optional ``payload``."""

    type_: str
    id: str | None
    payload: dict[str, Any] | list[Any] | None
    def __new__(
        cls, type_: str = "", id: str | None = None, payload: dict[str, Any] | list[Any] | None = None
    ) -> PyGraphQLMessage:
        """A message; ``PyGraphQLMessage()`` is an empty one to fill in (``msg.type_ = ...``)."""

    @staticmethod
    def from_dict(data: object) -> PyGraphQLMessage:
        """Build a message from a decoded JSON object.

        Raises ``TypeError`` when ``data`` is not a dict or ``type``/``id`` are not strings,
        ``ValueError`` when ``type`` is missing.
        """

    def to_dict(self) -> dict[str, Any]:
        """The message as a dict, leaving out an absent ``id`` or ``payload``.

        ``ValueError`` while ``type_`` is still empty.
        """

@final
class PyEventBusConfig:
    """Which event bus an executor uses."""

    @staticmethod
    def memory() -> PyEventBusConfig:
        """The embedded in-memory bus (one process)."""

    @staticmethod
    def redis(
        url: str,
        consumer_group: str,
        *,
        max_len: int = 100_000,
        tls_ca_file: str | os.PathLike[str] | None = None,
        connect_timeout: float = 5.0,
        publish_timeout: float = 5.0,
    ) -> PyEventBusConfig:
        """A Redis bus (Redis Streams). ``ValueError`` unless ``url`` is ``redis://`` or
        ``rediss://`` with a host.

        Processes with the same URL and ``consumer_group`` share events, through the stream
        ``fraiseql:<consumer_group>:events``; each reads all of it (this is not a Redis consumer
        group). The stream keeps about ``max_len`` events. ``tls_ca_file``: the PEM certificate
        authority of a ``rediss://`` server signed by a private CA.
        """

    @staticmethod
    def postgresql(
        connection_string: str,
        *,
        table: str = "fraiseql_events",
        retention: float = 3600.0,
        connect_timeout: float = 5.0,
        publish_timeout: float = 5.0,
    ) -> PyEventBusConfig:
        """A PostgreSQL bus (an events table and LISTEN/NOTIFY). ``ValueError`` unless
        ``postgresql://`` or ``postgres://`` with a host.

        Events go through ``table`` (created on first use; ``name`` or ``schema.name``) and are
        kept ``retention`` seconds.
        """

    @property
    def bus_type(self) -> Literal["memory", "redis", "postgresql"]:
        """``"memory"``, ``"redis"`` or ``"postgresql"``."""

    @property
    def url(self) -> str | None:
        """The Redis URL or PostgreSQL connection string (``None`` for the memory bus)."""

    @property
    def consumer_group(self) -> str | None:
        """The Redis consumer group (``None`` for other buses)."""

    @property
    def max_len(self) -> int | None:
        """The Redis stream's approximate bound (``None`` for other buses)."""

    @property
    def table(self) -> str | None:
        """The PostgreSQL events table (``None`` for other buses)."""

    @property
    def retention(self) -> float | None:
        """Seconds PostgreSQL keeps events (``None`` for other buses)."""

    @property
    def connect_timeout(self) -> float | None:
        """Seconds start-up may take to connect (``None`` for the memory bus)."""

    @property
    def publish_timeout(self) -> float | None:
        """Seconds a publish may wait for the bus to store its event (``None`` for the memory bus)."""

    def events_table_sql(self) -> str:
        """The SQL that creates the PostgreSQL events table (what the bus runs on first use).

        ``ValueError`` for other buses.
        """

    def change_trigger_sql(
        self, table: str, channel: str, operations: Sequence[str] = ("INSERT", "UPDATE", "DELETE")
    ) -> str:
        """The SQL that publishes ``table``'s writes as events on ``channel`` (``{column}``
        stands for that column of the row). ``ValueError`` for other buses."""

    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class CompiledFilter:
    """A row-level filter compiled from its spec (``fraiseql.subscriptions.filters``)."""

    def __new__(cls, spec: dict[str, Any]) -> CompiledFilter:
        """Compile ``spec``; ``ValueError`` saying what is wrong with it."""

    @property
    def spec(self) -> dict[str, Any]:
        """The spec it was compiled from."""

@final
class PendingResolution:
    """A resolver's job while its Python call runs, as a task or in a worker thread (internal)."""

@final
class PySubscriptionExecutor:
    """The subscription engine: registry, event dispatch, result shaping and frame queues.

    Safe to use from several threads. Frames are the bytes of graphql-transport-ws messages,
    serialized once per group of identical subscriptions.
    """

    def __new__(
        cls,
        bus_config: PyEventBusConfig | None = None,
        *,
        max_queued_frames: int = 1000,
        overflow: Literal["drop_oldest", "drop_newest"] = "drop_oldest",
        resolver_timeout: float | None = 5.0,
        tenant_field: str | None = "tenant_id",
        user_field: str | None = "user_id",
        document_cache_size: int = 1000,
        document_cache_bytes: int = 67108864,
        schema_sdl: str | None = None,
        max_document_size: int = 32768,
        max_depth: int = 32,
        max_selections: int = 10000,
        max_aliases: int = 100,
        serializers: dict[type, Callable[[Any], object]] | None = None,
        resolver_errors: Literal["field_error", "end_stream"] = "field_error",
        expose_resolver_errors: bool = False,
        sync_resolvers: Literal["thread", "inline"] = "thread",
        sync_resolver_threads: int = 32,
        slow_resolver_threshold: float | None = 1.0,
        max_frames_per_second: float | None = None,
    ) -> PySubscriptionExecutor: ...
    @property
    def bus_config(self) -> PyEventBusConfig:
        """The bus configuration this executor was built with."""

    @property
    def schema_sdl(self) -> str | None:
        """The schema (SDL) documents are validated against; ``None``: validation without a schema.

        With a schema every validation rule of the specification applies at subscribe time and
        variables are coerced to their declared types. An invalid schema, or one without a
        ``Subscription`` type, raises ``ConfigurationError``.
        """

    def subscription_field_arguments(self, field: str) -> list[str] | None:
        """The argument names of a ``Subscription`` field of the schema; ``None`` without a
        schema or when the schema has no such field."""

    def set_schema(self, schema_sdl: str | None) -> None:
        """Replace the schema documents are validated against (``None``: no schema).

        Subscriptions already registered keep the schema they were validated with.
        ``ConfigurationError`` for an invalid schema.
        """

    @property
    def resolver_timeout(self) -> float | None:
        """Seconds a resolver may take (from the publish) before it counts as timed out."""

    @property
    def resolver_errors(self) -> Literal["field_error", "end_stream"]:
        """What a failed resolver does: a field error of that event (``next`` with ``errors``,
        the stream goes on), or ``end_stream`` (an ``error`` message ends the subscriptions)."""

    @property
    def expose_resolver_errors(self) -> bool:
        """Whether clients see the text of the exceptions resolvers raise. By default they get
        ``Resolver for "field" failed.`` and the exception goes to the log; exceptions carrying
        GraphQL ``extensions`` are always sent with their own message."""

    @property
    def sync_resolvers(self) -> Literal["thread", "inline"]:
        """Where sync resolvers of events published on a running loop run: worker threads, or
        the publishing thread."""

    @property
    def sync_resolver_threads(self) -> int:
        """Worker threads for sync resolvers (one call at a time per group)."""

    @property
    def max_frames_per_second(self) -> float | None:
        """Frames per second each subscription may get (the excess is dropped, counted in
        ``frames_dropped_rate``); ``None``: no limit."""

    @property
    def slow_resolver_threshold(self) -> float | None:
        """Resolver calls slower than this many seconds are logged (once per field and minute)."""

    @property
    def document_cache_bytes(self) -> int:
        """Estimated bytes the cached compiled documents may hold (64 MiB by default).

        Least recently used documents are evicted beyond it, and a document whose entry alone
        is larger is compiled but not cached. ``get_metrics()["cached_document_bytes"]`` is the
        current total.
        """

    @property
    def max_queued_frames(self) -> int:
        """Frames kept per connection before the overflow policy applies."""

    @property
    def overflow(self) -> Literal["drop_oldest", "drop_newest"]:
        """What a full connection queue does with a new frame."""

    def register_subscription(
        self,
        connection_id: str,
        subscription_id: str,
        query: str,
        operation_name: str | None = None,
        variables: dict[str, Any] | None = None,
        user_id: str | int | None = None,
        tenant_id: str | int | None = None,
        *,
        channel: str | None = None,
        resolver: Callable[..., Any] | None = None,
        filter: CompiledFilter | None = None,
        filter_inputs: dict[str, Any] | None = None,
    ) -> str:
        """Register a subscription under the client's id and return that id.

        ``resolver`` (see ``register_resolver``) is attached in the same step, so no event can
        reach the subscription without it. ``filter`` (with ``filter_inputs``, ``{"context":
        {...}, "args": {...}}``: what the filter sees of this subscriber) decides, in Rust, which
        events it receives.

        Raises ``GraphQLDocumentError`` for a document that does not parse, holds no
        subscription operation or names an unknown operation,
        ``DuplicateSubscriptionError`` when the id is already active on the connection, and
        ``ConfigurationError`` for ``filter_inputs`` without a filter or with other keys.
        The channel is the root field's name unless ``channel`` is given.
        """

    def inspect_subscription(
        self, query: str, operation_name: str | None = None, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Validate a subscription document (cached) and say what it subscribes to.

        Returns ``root_field``, ``response_key``, ``operation_name``, ``arguments`` (the root
        field's arguments, variables substituted) and ``variables`` (defaults applied). Raises
        ``GraphQLDocumentError`` like ``register_subscription``.
        """

    def is_document_cached(self, query: str, operation_name: str | None = None) -> bool:
        """Whether the document is compiled and cached, so that ``inspect_subscription`` and
        ``register_subscription`` will not compile it.

        Compiles nothing and leaves the cache's eviction order as it is. A server uses it to
        compile new documents (milliseconds for a large one) in a worker thread rather than on
        its event loop.
        """

    def register_resolver(
        self, subscription_id: str, resolver: Callable[..., Any], connection_id: str | None = None
    ) -> None:
        """Run ``resolver(event)`` or ``resolver(event, variables)`` (sync or ``async def``) for
        this subscription's events.

        The second form is used when the resolver takes two positional parameters. ``TypeError``
        unless ``resolver`` can be called one of those ways (the message says why). Subscriptions
        given the same callable
        object, document and variables share one call per event. Events published between
        ``register_subscription`` and this call are sent without the resolver: pass
        ``resolver=`` to ``register_subscription`` when that matters.
        """

    def publish_event(
        self,
        event_type: str,
        channel: str,
        data: object,
        *,
        tenant_id: str | int | None = None,
        user_id: str | int | None = None,
        global_event: bool = False,
    ) -> None:
        """Publish an event on a channel.

        The tenant and target user default to the ``tenant_id``/``user_id`` fields of
        ``data``. Frames of subscriptions without resolver are queued before this returns. With a
        Redis or PostgreSQL bus the event goes through the bus (every process gets it, this one
        included): this blocks (with the GIL released) until it is stored and dispatched here, or
        raises ``PublishTimeoutError``.
        """

    def next_event(self, subscription_id: str, connection_id: str | None = None) -> bytes | None:
        """Pop the next frame of a subscription (non-blocking), or ``None``."""

    def complete_subscription(self, subscription_id: str, connection_id: str | None = None) -> None:
        """Remove a subscription completely; ``SubscriptionNotFoundError`` if it is not active."""

    def open_connection(self, connection_id: str) -> None:
        """Open a connection explicitly (it lives until closed, even without subscriptions)."""

    def close_connection(self, connection_id: str) -> int:
        """Close a connection, free its subscriptions and wake its writer; returns how many were freed."""

    def drain_frames(self, connection_id: str, max_frames: int | None = None) -> list[bytes]:
        """Take the queued frames of a connection, oldest first."""

    def wait_for_frames(self, connection_id: str) -> asyncio.Future[list[bytes]]:
        """Await the connection's next frames (a batch of at least one), without polling.

        Fails with ``ConnectionClosedError`` when the connection is closed.
        """

    def attach_event_loop(self, event_loop: asyncio.AbstractEventLoop) -> None:
        """Run async resolvers of events published from other threads on ``event_loop``."""

    def publish_event_async(
        self,
        event_type: str,
        channel: str,
        data: object,
        *,
        tenant_id: str | int | None = None,
        user_id: str | int | None = None,
        global_event: bool = False,
    ) -> asyncio.Future[None]:
        """``publish_event`` as an awaitable (call it on the running loop).

        With a Redis or PostgreSQL bus it completes once the bus stored the event and this
        process dispatched it, or fails with ``PublishTimeoutError``; the loop is free meanwhile.
        """

    def shutdown(self) -> None:
        """Stop a Redis or PostgreSQL bus (later publishes raise ``BusClosedError``)."""

    @property
    def bus_id(self) -> str | None:
        """This process's id on the bus, as its connections name themselves
        (``fraiseql-read-<id>``); ``None`` with the in-memory bus."""

    def install_change_trigger(
        self, table: str, channel: str, operations: Sequence[str] = ("INSERT", "UPDATE", "DELETE")
    ) -> None:
        """Publish ``table``'s inserts, updates and deletes as events on ``channel``
        (PostgreSQL bus only; ``{column}`` in the channel stands for that column of the row)."""

    def get_metrics(self) -> dict[str, Any]:
        """Counters, gauges and latency histograms (``le_us`` bucket bounds in microseconds)."""

    def _on_frames_ready(self) -> None: ...
    def _resolution_succeeded(self, pending: PendingResolution, result: object) -> None: ...
    def _resolution_failed(
        self, pending: PendingResolution, error: BaseException | None, timed_out: bool
    ) -> None: ...

@final
class ConnectCall:
    """A connection's ``connection_init``, waiting for the host's decision (native server).
    Each answer returns whether the connection was still waiting (only the first counts)."""

    @property
    def connection_id(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any] | None: ...
    @property
    def request(
        self,
    ) -> tuple[str, str | None, list[tuple[str, str]], tuple[str, int] | None, list[str]]:
        """``(path, query string, [(header, value)], (host, port), [offered subprotocol])``."""

    def accept(self, ack_payload: object = None, expires_in: float | None = None) -> bool: ...
    def refuse(self, reason: str | None = None) -> bool: ...
    def close(self, code: int, reason: str) -> bool: ...
    def fail(self) -> bool: ...

@final
class SubscribeCall:
    """A ``subscribe`` waiting for the host to register it under ``connection_id`` and ``id``."""

    @property
    def connection_id(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def operation_name(self) -> str | None: ...
    @property
    def variables(self) -> dict[str, Any] | None: ...
    def accept(self) -> bool: ...
    def reject(self, errors: object) -> bool: ...

@final
class NativeEndpoint:
    """A native graphql-transport-ws server for one executor (``SubscriptionManager.serve``)."""

    @staticmethod
    def bind(
        executor: PySubscriptionExecutor,
        host: str,
        port: int,
        *,
        path: str,
        max_message_size: int,
        handshake_timeout: float,
        write_timeout: float,
        max_connections: int | None,
        max_connections_per_address: int | None,
        max_pending_connections: int,
        connection_init_timeout: float,
        keepalive_interval: float | None,
        keepalive_timeout: float,
        max_subscriptions_per_connection: int,
        max_messages_per_second: float | None,
        max_subscribes_per_second: float | None,
        read_while_connecting: bool,
    ) -> NativeEndpoint: ...
    @property
    def address(self) -> tuple[str, int]: ...
    @property
    def wakeup_fd(self) -> int: ...
    @property
    def open_connections(self) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def take(
        self,
    ) -> tuple[
        list[str],
        list[ConnectCall | SubscribeCall],
        list[tuple[str, str, str | None]],
        list[tuple[str, int]],
        list[tuple[str, tuple[int, str] | None]],
        bool,
    ]:
        """What happened since the last call: ``(opened, calls, reports, unlisted_reports, closed,
        stopped)``: connection ids opened; calls waiting for an answer; ``(connection_id, cause,
        subscription_id)`` of the protocol core's reports (as ``SessionReport``), each before its
        close or ``error``; ``(cause, count)`` of reports the list had no room for;
        ``(connection_id, (code, reason) or None)`` of connections gone; whether the server
        stopped."""

    def stop(self) -> None: ...

@final
class SessionSend:
    """Send this text message."""

    @property
    def text(self) -> str: ...

@final
class SessionClose:
    """Close the socket with this code and reason (at most 123 bytes of UTF-8): the session's
    last action."""

    @property
    def code(self) -> int: ...
    @property
    def reason(self) -> str: ...

@final
class SessionAuthenticate:
    """``connection_init`` arrived: ask ``on_connect``, answer with a ``connect_*`` method."""

    @property
    def payload(self) -> dict[str, Any] | None:
        """The init payload, read as ``json.loads`` reads the client's JSON."""

@final
class SessionSubscribe:
    """A ``subscribe`` to register; answer with ``subscribe_accept`` or ``subscribe_reject``
    (until then the session reads nothing: read no more messages)."""

    @property
    def id(self) -> str:
        """The subscription id (a ``str`` with lone surrogates if the client's JSON had them)."""

    @property
    def query(self) -> str: ...
    @property
    def operation_name(self) -> str | None: ...
    @property
    def variables(self) -> dict[str, Any] | None:
        """Read as ``json.loads`` reads the client's JSON (integers of any size, ``1e400`` as
        infinity, lone surrogates)."""

@final
class SessionComplete:
    """The client completed subscription ``id``: free it in the engine (nothing is sent)."""

    @property
    def id(self) -> str: ...

@final
class SessionReport:
    """Why the next action (a close, or a subscribe's ``error``) happens: ``cause`` is the limit
    reached (``"messages_per_second"``, ``"subscribes_per_second"``, ``"message_size"``,
    ``"subscriptions_per_connection"``, as ``ServerStats.limits_reached`` names them) or
    ``"credentials_expired"``; ``subscription_id`` the subscribe refused over the limit."""

    @property
    def cause(self) -> str: ...
    @property
    def subscription_id(self) -> str | None: ...

@final
class SessionTimer:
    """The session's next deadline moved: call ``handle_timeout`` in ``delay`` seconds
    (``None``: no deadline; a timer armed before is void)."""

    @property
    def delay(self) -> float | None: ...

@final
class ProtocolSession:
    """One connection's graphql-transport-ws state machine: the Rust core the native server
    runs, for a driver in Python (the adapters' handler). Each input returns the actions to
    carry out, in order: one call per client message. Frames from the engine never pass through
    it."""

    def __new__(
        cls,
        *,
        connection_init_timeout: float,
        keepalive_interval: float | None,
        keepalive_timeout: float,
        max_subscriptions_per_connection: int,
        max_message_size: int,
        max_messages_per_second: float | None,
        max_subscribes_per_second: float | None,
        read_while_connecting: bool = True,
    ) -> ProtocolSession:
        """A connection just accepted (its ``connection_init`` timer starts). Limits as in
        ``SubscriptionConfig`` (``ConfigurationError`` for a value it cannot take).
        ``read_while_connecting=False``: ``wants_input`` is false while ``on_connect`` runs."""

    def receive(self, text: str) -> list[_SessionAction]:
        """A text message from the client."""

    def receive_binary(self) -> list[_SessionAction]:
        """A binary message (close 4400)."""

    def receive_oversized(self) -> list[_SessionAction]:
        """A message the WebSocket layer refused as over ``max_message_size`` (close 1009)."""

    def connect_accept(
        self, ack_payload: object = None, expires_in: float | None = None
    ) -> list[_SessionAction]:
        """``on_connect`` accepted: ``connection_ack`` (with ``ack_payload``, a JSON value:
        ``TypeError``/``ValueError`` otherwise); the credentials expire in ``expires_in``
        seconds (none left: close 4403 at once)."""

    def connect_refuse(self, reason: str | None = None) -> list[_SessionAction]:
        """``on_connect`` refused: close 4403 "Forbidden" or "Forbidden: <reason>"."""

    def connect_close(self, code: int, reason: str) -> list[_SessionAction]:
        """The host closes with its own code (4000..=4999, ``ValueError`` otherwise)."""

    def connect_fail(self) -> list[_SessionAction]:
        """The host failed on ``connection_init``: close 4500."""

    def subscribe_accept(self, id: str) -> list[_SessionAction]:
        """Subscription ``id`` (as ``SessionSubscribe`` gave it, lone surrogates too) is
        registered."""

    def subscribe_reject(self, id: str, errors: object) -> list[_SessionAction]:
        """Subscription ``id`` is refused: an ``error`` message with ``errors`` (a list of GraphQL
        formatted errors); the id is free again."""

    def subscription_ended(self, id: str) -> None:
        """The engine ended subscription ``id`` with an ``error`` frame: its id is free again."""

    def has_subscription(self, id: str) -> bool:
        """Whether ``id`` is one of the client's subscriptions (registered, or waiting for the
        host)."""

    def handle_timeout(self) -> list[_SessionAction]:
        """The deadline of the last ``SessionTimer`` came (an early or late call is harmless)."""

    def shutdown(self) -> list[_SessionAction]:
        """Server shutdown: close 1001 "Going away"."""

    def internal_error(self) -> list[_SessionAction]:
        """An unexpected failure of the driver or the host: close 4500."""

    @property
    def next_deadline(self) -> float | None:
        """Seconds until the next deadline (``None``: none)."""

    @property
    def wants_input(self) -> bool:
        """False while a subscribe waits for the host, and once closed."""

    @property
    def is_closed(self) -> bool: ...

#: What a ``ProtocolSession`` asks its driver to do.
_SessionAction = (
    SessionSend
    | SessionClose
    | SessionAuthenticate
    | SessionSubscribe
    | SessionComplete
    | SessionReport
    | SessionTimer
)

__all__ = [
    "CompiledFilter",
    "ConnectCall",
    "NativeEndpoint",
    "PendingResolution",
    "ProtocolSession",
    "PyEventBusConfig",
    "PyGraphQLMessage",
    "PySubscriptionExecutor",
    "PySubscriptionPayload",
    "SessionAuthenticate",
    "SessionClose",
    "SessionComplete",
    "SessionReport",
    "SessionSend",
    "SessionSubscribe",
    "SessionTimer",
    "SubscribeCall",
]
