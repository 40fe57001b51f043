"""The Rust subscription engine's classes."""

import asyncio
from collections.abc import Callable
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
    def redis(url: str, consumer_group: str) -> PyEventBusConfig:
        """A Redis bus. ``ValueError`` unless ``url`` is ``redis://`` or ``rediss://`` with a host."""

    @staticmethod
    def postgresql(connection_string: str) -> PyEventBusConfig:
        """A PostgreSQL bus. ``ValueError`` unless ``postgresql://`` or ``postgres://`` with a host."""

    @property
    def bus_type(self) -> Literal["memory", "redis", "postgresql"]:
        """``"memory"``, ``"redis"`` or ``"postgresql"``."""

    @property
    def url(self) -> str | None:
        """The Redis URL or PostgreSQL connection string (``None`` for the memory bus)."""

    @property
    def consumer_group(self) -> str | None:
        """The Redis consumer group (``None`` for other buses)."""

    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

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
        schema_sdl: str | None = None,
        max_document_size: int = 32768,
        max_depth: int = 32,
        max_selections: int = 10000,
        max_aliases: int = 100,
        serializers: dict[type, Callable[[Any], object]] | None = None,
        resolver_errors: Literal["field_error", "end_stream"] = "field_error",
        sync_resolvers: Literal["thread", "inline"] = "thread",
        sync_resolver_threads: int = 32,
        slow_resolver_threshold: float | None = 1.0,
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
    def sync_resolvers(self) -> Literal["thread", "inline"]:
        """Where sync resolvers of events published on a running loop run: worker threads, or
        the publishing thread."""

    @property
    def sync_resolver_threads(self) -> int:
        """Worker threads for sync resolvers (one call at a time per group)."""

    @property
    def slow_resolver_threshold(self) -> float | None:
        """Resolver calls slower than this many seconds are logged (once per field and minute)."""

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
    ) -> str:
        """Register a subscription under the client's id and return that id.

        ``resolver`` (see ``register_resolver``) is attached in the same step, so no event can
        reach the subscription without it.

        Raises ``GraphQLDocumentError`` for a document that does not parse, holds no
        subscription operation or names an unknown operation, and
        ``DuplicateSubscriptionError`` when the id is already active on the connection.
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
        ``data``. Frames of subscriptions without resolver are queued before this returns.
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

    def get_metrics(self) -> dict[str, Any]:
        """Counters, gauges and latency histograms (``le_us`` bucket bounds in microseconds)."""

    def _on_frames_ready(self) -> None: ...
    def _resolution_succeeded(self, pending: PendingResolution, result: object) -> None: ...
    def _resolution_failed(
        self, pending: PendingResolution, error: BaseException | None, timed_out: bool
    ) -> None: ...

__all__ = [
    "PendingResolution",
    "PyEventBusConfig",
    "PyGraphQLMessage",
    "PySubscriptionExecutor",
    "PySubscriptionPayload",
]
