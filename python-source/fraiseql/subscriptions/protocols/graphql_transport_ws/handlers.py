"""graphql-transport-ws over a :class:`WebSocketAdapter`: the driver of the protocol core.

The protocol (parsing, checks, close codes, limits, timers) is the Rust core the native server
runs too (``ProtocolSession``): the reader feeds it each client message and carries out the
actions it returns; a timer (``loop.call_later``) calls it back when its next deadline comes.
What the application decides (``on_connect``, registering a subscription, counters, logs) is
``host.py``'s, shared with the native server. The writer sleeps until the engine has frames for
the connection and sends them as they are: frames never pass through the core. Decisions where
the protocol leaves a choice are documented in ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from fraiseql._fraiseql_rs.subscriptions import (
    ProtocolSession,
    SessionAuthenticate,
    SessionClose,
    SessionComplete,
    SessionReport,
    SessionSend,
    SessionSubscribe,
    SessionTimer,
)
from fraiseql.subscriptions.adapter import WebSocketAdapter
from fraiseql.subscriptions.errors import (
    ConnectionClosedError,
    ConnectionNotFoundError,
    SubscriptionNotFoundError,
)
from fraiseql.subscriptions.protocols.graphql_transport_ws.host import (
    Accepted,
    Closed,
    ConnectAnswer,
    ConnectionHost,
    Refused,
)
from fraiseql.subscriptions.protocols.graphql_transport_ws.types import (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    CloseCode,
)

if TYPE_CHECKING:
    from fraiseql._fraiseql_rs.subscriptions import _SessionAction as SessionAction
    from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionManager

# Engine frames start with {"id":"<id>","type":"<type>"...: the first `","type":"` ends the id
# (an id cannot contain an unescaped quote).
_FRAME_ID_START = len(b'{"id":"')
_TYPE_MARK = b'","type":"'


def _frame_id(frame: bytes, id_end: int) -> str:
    """The subscription id of an engine frame whose id ends at ``id_end``."""
    raw = frame[_FRAME_ID_START:id_end]
    return str(json.loads(b'"' + raw + b'"')) if b"\\" in raw else raw.decode()


def _session(manager: SubscriptionManager) -> ProtocolSession:
    config = manager.config
    return ProtocolSession(
        connection_init_timeout=config.connection_init_timeout,
        keepalive_interval=config.keepalive_interval,
        keepalive_timeout=config.keepalive_timeout,
        max_subscriptions_per_connection=config.max_subscriptions_per_connection,
        max_message_size=config.max_message_size,
        max_messages_per_second=config.max_messages_per_second,
        max_subscribes_per_second=config.max_subscribes_per_second,
    )


class GraphQLTransportWSHandler:
    """Serves one graphql-transport-ws connection through a :class:`WebSocketAdapter`."""

    _session: ProtocolSession

    def __init__(self, manager: SubscriptionManager, websocket: WebSocketAdapter) -> None:
        self.manager = manager
        self.websocket = websocket
        self.connection_id = uuid.uuid4().hex
        self.host = ConnectionHost(manager, self.connection_id)
        client = websocket.request_info.client
        self.host.client = client[0] if client else None
        self._closed = False
        # Ids the client completed while the writer held a batch: their frames in it are dropped
        # (the id may already be subscribed again, and those frames belong to the old operation).
        self._completed_in_batch: set[str] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def context(self) -> ConnectionContext | None:
        """What ``on_connect`` decided, once the connection is accepted."""
        return self.host.context

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes; frees everything it held."""
        offered = self.websocket.request_info.subprotocols
        if offered and GRAPHQL_TRANSPORT_WS_PROTOCOL not in offered:
            await self.websocket.accept(None)
            await self._close(CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable")
            return
        await self.websocket.accept(GRAPHQL_TRANSPORT_WS_PROTOCOL if offered else None)
        limit = self.manager.config.max_connections
        if limit is not None and self.manager.connection_count >= limit:
            self.manager.stats.limits_reached["connections"] += 1
            await self._close(CloseCode.TRY_AGAIN_LATER, "Try again later: too many connections")
            return
        # The connection_init timer runs from here.
        self._session = _session(self.manager)
        executor = self.manager.executor
        executor.open_connection(self.connection_id)
        self.manager.connection_opened(self)
        self._arm_timer(self._session.next_deadline)
        self._spawn(self._write_frames())
        try:
            await self._read_messages()
        finally:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            executor.close_connection(self.connection_id)
            self.host.release()
            self.manager.connection_closed(self)

    async def shutdown(self) -> None:
        """Server shutdown: close with 1001."""
        await self._carry_out(self._session.shutdown())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.host.closed_by_server(code, reason)
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    async def _send_text(self, text: str) -> None:
        if self._closed:
            return
        try:
            await self.websocket.send_text(text)
        except Exception:
            # The peer went away: the reader sees the close and cleans up.
            self._closed = True

    # -- the protocol core --------------------------------------------------------------------

    async def _read_messages(self) -> None:
        session = self._session
        while not self._closed:
            message = await self.websocket.receive()
            if message is None or self._closed:
                return
            try:
                actions = session.receive(message) if isinstance(message, str) else session.receive_binary()
                await self._carry_out(actions)
            except Exception:
                self.host.internal_error()
                await self._carry_out(session.internal_error())
                return

    async def _carry_out(self, actions: list[SessionAction]) -> None:
        """Does what the core asked, in order; a host call (at most one, the last but a timer)
        after the rest, so the timer it moved is armed first."""
        host_call: SessionAuthenticate | SessionSubscribe | None = None
        for action in actions:
            if isinstance(action, SessionSend):
                await self._send_text(action.text)
            elif isinstance(action, SessionTimer):
                self._arm_timer(action.delay)
            elif isinstance(action, SessionComplete):
                self._complete(action.id)
            elif isinstance(action, SessionReport):
                self.host.report(action.cause, action.subscription_id)
            elif isinstance(action, SessionClose):
                await self._close(action.code, action.reason)
            else:
                host_call = action
        if isinstance(host_call, SessionSubscribe):
            await self._subscribe(host_call)
        elif host_call is not None:
            await self._authenticate(host_call)

    def _arm_timer(self, delay: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        if delay is not None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(delay, self._deadline_reached)

    def _deadline_reached(self) -> None:
        self._timer = None
        if not self._closed:
            self._spawn(self._handle_timeout())

    async def _handle_timeout(self) -> None:
        await self._carry_out(self._session.handle_timeout())
        if self._timer is None:
            # Woken before a deadline that moved later (no SessionTimer then): sleep on.
            self._arm_timer(self._session.next_deadline)

    # -- connection_init ----------------------------------------------------------------------

    async def _authenticate(self, action: SessionAuthenticate) -> None:
        answer = self.host.on_connect(action.payload, self.websocket.request_info)
        if isinstance(answer, asyncio.Future):
            # An async on_connect runs beside the reader: a second init still gets 4429, and a
            # subscribe sent before its decision gets 4401, as in the reference server.
            self._spawn(self._await_connect(answer))
        else:
            # A plain one is decided before the next message is read.
            await self._answer_connect(answer)

    async def _await_connect(self, answer: asyncio.Future[ConnectAnswer]) -> None:
        await self._answer_connect(await answer)

    async def _answer_connect(self, answer: ConnectAnswer) -> None:
        session = self._session
        if isinstance(answer, Accepted):
            try:
                actions = session.connect_accept(answer.context.ack_payload, answer.expires_in)
            except (TypeError, ValueError, RecursionError):
                self.host.unencodable_ack_payload()
                actions = session.connect_fail()
            else:
                if not session.is_closed:
                    self.host.acknowledged()
        elif isinstance(answer, Refused):
            actions = session.connect_refuse(answer.reason)
        elif isinstance(answer, Closed):
            actions = session.connect_close(answer.code, answer.reason)
        else:
            actions = session.connect_fail()
        await self._carry_out(actions)

    # -- subscribe / complete -----------------------------------------------------------------

    async def _subscribe(self, action: SessionSubscribe) -> None:
        # The reader waits for this: a connection's subscribes are registered one at a time.
        session = self._session
        try:
            errors = await self.host.subscribe(
                action.id, action.query, action.operation_name, action.variables
            )
        except Exception:
            self.host.internal_error()
            await self._carry_out(session.internal_error())
            return
        if errors is None:
            await self._carry_out(session.subscribe_accept(action.id))
        else:
            await self._carry_out(session.subscribe_reject(action.id, errors))

    def _complete(self, subscription_id: str) -> None:
        self._completed_in_batch.add(subscription_id)
        with contextlib.suppress(SubscriptionNotFoundError):
            self.manager.executor.complete_subscription(subscription_id, connection_id=self.connection_id)

    # -- writing ------------------------------------------------------------------------------

    async def _write_frames(self) -> None:
        executor = self.manager.executor
        while not self._closed:
            try:
                frames = await executor.wait_for_frames(self.connection_id)
            except ConnectionClosedError:
                return
            # Completions before this batch were taken already purged their frames in the engine.
            completed: set[str] = set()
            self._completed_in_batch = completed
            if self.websocket.sends_batches:
                # One pass of the event loop before writing: frames of events published meanwhile
                # join this write. When a burst fans out to many connections, each write then
                # carries several frames instead of one, and the system call per write is most
                # of what a frame costs (measured: 22 µs of CPU per frame without, 10 µs with, at
                # saturation). Not a poll: one yield per wake-up.
                await asyncio.sleep(0)
                if self._closed:
                    return
                with contextlib.suppress(ConnectionNotFoundError):
                    frames.extend(executor.drain_frames(self.connection_id))
                sent = await self._send_batch(frames, completed)
            else:
                sent = await self._send_one_by_one(frames, completed)
            self.manager.stats.frames_sent += sent

    def _keep(self, frame: bytes, completed: set[str]) -> bool:
        """Whether a frame taken from the engine is still to be sent."""
        id_end = frame.find(_TYPE_MARK, _FRAME_ID_START)
        is_error = frame.startswith(b"error", id_end + len(_TYPE_MARK))
        if is_error or completed:
            subscription_id = _frame_id(frame, id_end)
            if subscription_id in completed or not self._session.has_subscription(subscription_id):
                return False  # completed by the client after the engine queued it
            if is_error:
                # The engine ended this subscription; its id may be reused.
                self._session.subscription_ended(subscription_id)
        return True

    async def _send_batch(self, frames: list[bytes], completed: set[str]) -> int:
        """Sends the frames in one write: nothing runs between them, so no completion can
        arrive in the middle (``completed``: those that arrived before)."""
        if self._closed:
            return 0
        batch = [frame for frame in frames if self._keep(frame, completed)]
        try:
            await self.websocket.send_frames(batch)
        except Exception:
            self._closed = True
            return 0
        return len(batch)

    async def _send_one_by_one(self, frames: list[bytes], completed: set[str]) -> int:
        sent = 0
        for frame in frames:
            if self._closed:
                break
            if not self._keep(frame, completed):
                continue
            try:
                await self.websocket.send_frame(frame)
            except Exception:
                self._closed = True
                break
            sent += 1
        return sent
