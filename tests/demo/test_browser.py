"""The page in headless Chromium: pick a room, post through the form, see messages arrive live
(and, when the server wants one, give a token first).

Drives Debian's /usr/bin/chromium (``scripts/setup-browser.sh`` installs it); skipped without
it. Set ``FRAISEQL_DEMO_SCREENSHOT=/path.png`` to keep a screenshot of the page.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from fraiseql.subscriptions.jwt_auth import issue_token
from fraiseql.subscriptions.manager import SubscriptionConfig
from tests.demo.conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/setup-browser.sh to install Chromium"
)


@pytest.fixture(scope="module", params=["fastapi", "starlette", "fastapi-native"])
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The page against each framework, and with graphql-transport-ws on the native transport
    (``demo --transport native``: the page is told the native port and connects there)."""
    framework, _, transport = request.param.partition("-")
    server = LiveServer(framework, native=transport == "native").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProblems:
    """Console errors and uncaught exceptions of a page (a passing test has none it did not allow)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(fragment in message.text for fragment in self.allowed):
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Browser, problems: PageProblems) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems.watch(page)
    yield page
    context.close()
    assert problems.errors == []


def open_room(page: Page, server: LiveServer, room: str) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    page.get_by_test_id("room-input").fill(room)
    page.get_by_test_id("room-join").click()
    expect(page.get_by_test_id("current-room")).to_have_text(room)
    expect(page.locator(f'[data-testid="room-button"][data-room="{room}"]')).to_have_class("active")


def wait_for_subscriptions(server: LiveServer, count: int) -> None:
    deadline = time.monotonic() + 10
    while server.manager.executor.get_metrics()["active_subscriptions"] != count:
        assert time.monotonic() < deadline, server.manager.executor.get_metrics()["active_subscriptions"]
        time.sleep(0.02)


def test_post_through_the_form_and_over_http(live_server: LiveServer, page: Page) -> None:
    room = f"browser-{uuid.uuid4().hex[:8]}"
    open_room(page, live_server, room)
    wait_for_subscriptions(live_server, 1)  # the lobby's subscription was completed
    messages = page.get_by_test_id("message")
    expect(page.get_by_test_id("empty-note")).to_be_visible()

    page.get_by_test_id("author-input").fill("Ada")
    page.get_by_test_id("text-input").fill("Hello from the form")
    page.get_by_test_id("text-input").press("Enter")
    expect(messages).to_have_count(1)
    expect(messages.first.get_by_test_id("message-text")).to_have_text("Hello from the form")
    expect(messages.first.get_by_test_id("message-author")).to_have_text("Ada")
    expect(page.get_by_test_id("text-input")).to_have_value("")
    expect(page.get_by_test_id("empty-note")).to_be_hidden()

    reply = live_server.request("POST", f"/rooms/{room}/messages", {"text": "Hi from curl", "author": "bot"})
    assert reply.status == 201
    expect(messages).to_have_count(2)
    expect(messages.nth(1)).to_have_attribute("data-id", reply.json()["id"])
    expect(messages.nth(1).get_by_test_id("message-text")).to_have_text("Hi from curl")
    # Another room's messages do not show up.
    live_server.request("POST", "/rooms/lobby/messages", {"text": "lobby only", "author": "bot"})
    reply = live_server.request("POST", f"/rooms/{room}/messages", {"text": "<b>not bold</b>", "author": "x"})
    expect(messages).to_have_count(3)
    expect(messages.nth(2).get_by_test_id("message-text")).to_have_text("<b>not bold</b>")
    expect(page.get_by_test_id("message-count")).to_have_text("3 messages")
    expect(page.get_by_test_id("send-button")).to_be_enabled()

    screenshot = os.environ.get("FRAISEQL_DEMO_SCREENSHOT")
    if screenshot and live_server.framework == "fastapi":
        page.get_by_test_id("text-input").fill("Typing a reply")
        page.screenshot(path=screenshot)


def test_two_people_chat_live_and_switch_rooms(live_server: LiveServer, browser: Browser, page: Page) -> None:
    room = f"pair-{uuid.uuid4().hex[:8]}"
    open_room(page, live_server, room)
    other = browser.new_page()
    try:
        other.set_default_timeout(10_000)
        other.goto(f"{live_server.url}/#room={room}")
        expect(other.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
        expect(other.get_by_test_id("current-room")).to_have_text(room)
        wait_for_subscriptions(live_server, 2)

        other.get_by_test_id("author-input").fill("Bob")
        other.get_by_test_id("text-input").fill("Can you see this?")
        other.get_by_test_id("send-button").click()
        expect(page.get_by_test_id("message-text")).to_have_text(["Can you see this?"])

        # The first page moves to the lobby: its old subscription is completed, a new one starts.
        page.locator('[data-testid="room-button"][data-room="lobby"]').click()
        expect(page.get_by_test_id("current-room")).to_have_text("lobby")
        wait_for_subscriptions(live_server, 2)
        live_server.request("POST", f"/rooms/{room}/messages", {"text": "only for Bob", "author": "c"})
        live_server.request("POST", "/rooms/lobby/messages", {"text": "lobby news", "author": "c"})
        expect(page.get_by_test_id("message-text").last).to_have_text("lobby news")
        expect(page.get_by_test_id("message-text")).not_to_contain_text(["only for Bob"])
        expect(other.get_by_test_id("message-text")).to_have_text(["Can you see this?", "only for Bob"])
        # History: coming back shows what was posted meanwhile.
        page.locator(f'[data-testid="room-button"][data-room="{room}"]').click()
        expect(page.get_by_test_id("message-text")).to_have_text(["Can you see this?", "only for Bob"])
    finally:
        other.close()


def test_invalid_input_is_explained(live_server: LiveServer, page: Page) -> None:
    open_room(page, live_server, f"v-{uuid.uuid4().hex[:8]}")
    page.get_by_test_id("room-input").fill("no spaces allowed")
    page.get_by_test_id("room-join").click()
    expect(page.get_by_test_id("send-error")).to_contain_text("Room names are 1-64 characters")
    page.get_by_test_id("author-input").fill("")
    page.get_by_test_id("text-input").fill("who am I?")
    page.get_by_test_id("text-input").press("Enter")
    expect(page.get_by_test_id("send-error")).to_have_text("Enter your name first.")
    expect(page.get_by_test_id("message")).to_have_count(0)


def test_the_page_reconnects_after_a_restart(page: Page, problems: PageProblems) -> None:
    problems.allow("net::ERR_CONNECTION_REFUSED")  # Chromium logs each failed attempt
    first = LiveServer("starlette").start()
    port = first.port
    try:
        room = f"re-{uuid.uuid4().hex[:8]}"
        open_room(page, first, room)
    finally:
        first.stop()  # closes the page's socket with 1001
    status = page.get_by_test_id("connection-status")
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(page.get_by_test_id("connection-status-text")).to_contain_text("1001 Going away")
    time.sleep(1.5)  # at least one attempt fails: the backoff grows
    second = LiveServer("starlette", port=port).start()
    try:
        expect(status).to_have_attribute("data-state", "connected")
        wait_for_subscriptions(second, 1)  # subscribed again to the same room
        second.request("POST", f"/rooms/{room}/messages", {"text": "after the restart", "author": "a"})
        expect(page.get_by_test_id("message-text")).to_have_text(["after the restart"])
    finally:
        second.stop()


def test_the_page_answers_server_pings(page: Page) -> None:
    config = SubscriptionConfig(keepalive_interval=0.2, keepalive_timeout=0.5)
    server = LiveServer("fastapi", config=config).start()
    try:
        room = f"ka-{uuid.uuid4().hex[:8]}"
        open_room(page, server, room)
        time.sleep(1.5)  # several pings: without pongs the server would close with 4504
        expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
        assert server.manager.connection_count == 1
        server.request("POST", f"/rooms/{room}/messages", {"text": "still here", "author": "a"})
        expect(page.get_by_test_id("message-text")).to_have_text(["still here"])
    finally:
        server.stop()


def test_the_page_asks_for_a_token_when_the_server_wants_one(page: Page, problems: PageProblems) -> None:
    problems.allow("status of 401")  # Chromium logs each refused API call
    secret = "browser-test-secret-0123456789abcdef"
    server = LiveServer("fastapi", auth_jwt_secret=secret).start()
    try:
        room = f"auth-{uuid.uuid4().hex[:8]}"
        page.goto(f"{server.url}/#room={room}")
        form = page.get_by_test_id("token-form")
        expect(form).to_be_visible()
        expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "locked")
        expect(page.get_by_test_id("message-form")).to_be_hidden()

        # A token signed with another secret is refused: the page says so and asks again.
        page.get_by_test_id("token-input").fill(issue_token("x" * 40, user_id="ann", tenant_id="acme"))
        page.get_by_test_id("token-submit").click()
        expect(page.get_by_test_id("token-error")).to_contain_text("refused the token")
        expect(page.get_by_test_id("token-error")).to_contain_text("bad signature")
        expect(form).to_be_visible()

        page.get_by_test_id("token-input").fill(
            issue_token(secret, user_id="u1", tenant_id="acme", name="Ann")
        )
        page.get_by_test_id("token-submit").click()
        expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
        expect(form).to_be_hidden()
        expect(page.get_by_test_id("identity-text")).to_have_text("Signed in as Ann \u00b7 tenant acme")
        expect(page.get_by_test_id("author-input")).to_be_hidden()
        wait_for_subscriptions(server, 1)

        page.get_by_test_id("text-input").fill("Hello, acme")
        page.get_by_test_id("text-input").press("Enter")
        messages = page.get_by_test_id("message")
        expect(messages).to_have_count(1)
        expect(messages.first.get_by_test_id("message-author")).to_have_text("Ann")
        # Another tenant's message in a room of the same name does not show; this tenant's does.
        other = issue_token(secret, user_id="bob", tenant_id="globex")
        assert (
            server.request("POST", f"/rooms/{room}/messages", {"text": "globex only"}, token=other).status
            == 201
        )
        mine = issue_token(secret, user_id="cyd", tenant_id="acme")
        assert (
            server.request("POST", f"/rooms/{room}/messages", {"text": "acme news"}, token=mine).status == 201
        )
        expect(page.get_by_test_id("message-text")).to_have_text(["Hello, acme", "acme news"])

        # The token is kept for the tab: a reload connects again without asking.
        page.reload()
        expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
        expect(page.get_by_test_id("message-text")).to_have_text(["Hello, acme", "acme news"])
        expect(form).to_be_hidden()
    finally:
        # Leave the page first: stopped under it, the page would reconnect to a closed port.
        page.goto("about:blank")
        server.stop()
