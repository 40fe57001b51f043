// FraiseQL live chat: a small graphql-transport-ws client and the page around it.
// Plain JavaScript, no build step, no dependencies.
"use strict";

(() => {
  const PROTOCOL = "graphql-transport-ws";
  const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
  const QUERY = `subscription MessageAdded($room: String!) {
  messageAdded(room: $room) { id room text author at }
}`;

  // -- graphql-transport-ws ------------------------------------------------------------------
  //
  // connection_init -> connection_ack, then subscribe/next/error/complete per id; server pings
  // are answered with pongs. When the socket closes the client reconnects with exponential
  // backoff and subscribes again to everything still active.

  class GraphQLWSClient {
    constructor(url, { onStatus = () => {}, onAck = () => {}, ackTimeoutMs = 5000, maxBackoffMs = 10000 } = {}) {
      this.url = url;
      this.onStatus = onStatus;
      this.onAck = onAck;
      this.ackTimeoutMs = ackTimeoutMs;
      this.maxBackoffMs = maxBackoffMs;
      this.socket = null;
      this.acked = false;
      this.attempt = 0;
      this.nextId = 1;
      this.subscriptions = new Map(); // id -> { payload, sink }
      this.reconnectTimer = null;
      this.ackTimer = null;
      this.countdownTimer = null;
    }

    start() {
      this.connect();
    }

    connect() {
      clearTimeout(this.reconnectTimer);
      clearInterval(this.countdownTimer);
      this.reconnectTimer = null;
      this.acked = false;
      this.onStatus("connecting", "Connecting\u2026");
      let socket;
      try {
        socket = new WebSocket(this.url, PROTOCOL);
      } catch (error) {
        this.scheduleReconnect(`cannot open the socket (${error})`);
        return;
      }
      this.socket = socket;
      socket.onopen = () => {
        if (socket.protocol !== PROTOCOL) {
          socket.close(4406, "Subprotocol not acceptable");
          return;
        }
        this.sendOn(socket, { type: "connection_init", payload: {} });
        this.ackTimer = setTimeout(() => socket.close(4408, "No connection_ack"), this.ackTimeoutMs);
      };
      socket.onmessage = (event) => this.handle(socket, event.data);
      socket.onerror = () => {}; // a close event always follows
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.acked = false;
        clearTimeout(this.ackTimer);
        const reason = event.reason ? `${event.code} ${event.reason}` : `code ${event.code}`;
        this.scheduleReconnect(`closed (${reason})`);
      };
    }

    scheduleReconnect(why) {
      const base = Math.min(this.maxBackoffMs, 500 * 2 ** this.attempt);
      const delay = Math.round(base / 2 + (Math.random() * base) / 2);
      this.attempt += 1;
      const due = Date.now() + delay;
      const show = () => {
        const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
        this.onStatus("reconnecting", `Disconnected: ${why}. Reconnecting in ${seconds}s\u2026`);
      };
      show();
      clearInterval(this.countdownTimer);
      this.countdownTimer = setInterval(show, 1000);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    }

    sendOn(socket, message) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    }

    send(message) {
      this.sendOn(this.socket, message);
    }

    handle(socket, data) {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        socket.close(4400, "Invalid message: not JSON");
        return;
      }
      const entry = message.id !== undefined ? this.subscriptions.get(message.id) : undefined;
      switch (message.type) {
        case "connection_ack":
          clearTimeout(this.ackTimer);
          this.acked = true;
          this.attempt = 0;
          this.onStatus("connected", "Connected");
          for (const [id, { payload }] of this.subscriptions) {
            this.send({ id, type: "subscribe", payload });
          }
          this.onAck();
          break;
        case "ping":
          this.send(message.payload ? { type: "pong", payload: message.payload } : { type: "pong" });
          break;
        case "pong":
          break;
        case "next":
          if (entry) entry.sink.next(message.payload);
          break;
        case "error":
          if (entry) {
            this.subscriptions.delete(message.id);
            entry.sink.error(message.payload);
          }
          break;
        case "complete":
          if (entry) {
            this.subscriptions.delete(message.id);
            entry.sink.complete();
          }
          break;
        default:
          socket.close(4400, "Invalid message: unknown type");
      }
    }

    // Subscribe; returns a function that ends the subscription (sending `complete`).
    subscribe(payload, sink) {
      const id = `s${this.nextId++}`;
      this.subscriptions.set(id, { payload, sink });
      if (this.acked) this.send({ id, type: "subscribe", payload });
      return () => {
        if (this.subscriptions.delete(id) && this.acked) this.send({ id, type: "complete" });
      };
    }
  }

  // -- the page ------------------------------------------------------------------------------

  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
  const ui = {
    status: $("connection-status"),
    statusText: $("connection-status-text"),
    rooms: $("room-list"),
    roomForm: $("room-form"),
    roomInput: $("room-input"),
    currentRoom: $("current-room"),
    count: $("message-count"),
    list: $("message-list"),
    empty: $("empty-note"),
    form: $("message-form"),
    author: $("author-input"),
    text: $("text-input"),
    send: $("send-button"),
    error: $("send-error"),
    busNote: $("bus-note"),
    query: $("subscription-query"),
  };

  const state = { room: null, unsubscribe: null, messages: [], seen: new Set(), historyToken: 0 };

  const storage = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch {
        /* private mode: not remembered */
      }
    },
  };

  function showError(text) {
    ui.error.textContent = text;
    ui.error.hidden = !text;
  }

  function setStatus(kind, text) {
    ui.status.dataset.state = kind;
    ui.statusText.textContent = text;
  }

  function hue(name) {
    let hash = 0;
    for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
    return hash % 360;
  }

  function formatTime(at) {
    const date = new Date(at);
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function renderMessage(message) {
    const item = document.createElement("li");
    item.className = "message";
    item.dataset.testid = "message";
    item.dataset.id = message.id;
    const head = document.createElement("div");
    head.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.dataset.testid = "message-author";
    author.textContent = message.author;
    author.style.setProperty("--hue", String(hue(message.author)));
    const time = document.createElement("time");
    time.textContent = formatTime(message.at);
    const date = new Date(message.at);
    if (!Number.isNaN(date.getTime())) {
      time.dateTime = date.toISOString();
      time.title = date.toLocaleString();
    }
    head.append(author, time);
    const text = document.createElement("p");
    text.className = "text";
    text.dataset.testid = "message-text";
    text.textContent = message.text;
    item.append(head, text);
    return item;
  }

  function updateCount() {
    const n = state.messages.length;
    ui.count.textContent = n === 1 ? "1 message" : `${n} messages`;
    ui.empty.hidden = n > 0;
  }

  function addMessage(message) {
    if (!message || message.room !== state.room || state.seen.has(message.id)) return;
    state.seen.add(message.id);
    const nearBottom = ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 80;
    // Keep the list ordered by time; live messages nearly always go last.
    let index = state.messages.length;
    while (index > 0 && state.messages[index - 1].at > message.at) index -= 1;
    const node = renderMessage(message);
    ui.list.insertBefore(node, ui.list.children[index] || null);
    state.messages.splice(index, 0, message);
    updateCount();
    if (nearBottom) ui.list.scrollTop = ui.list.scrollHeight;
  }

  async function fetchJSON(url, options) {
    const response = await fetch(url, options);
    let body = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    return { ok: response.ok, status: response.status, body };
  }

  async function loadHistory() {
    const room = state.room;
    const token = ++state.historyToken;
    try {
      const { ok, body } = await fetchJSON(`/rooms/${encodeURIComponent(room)}/messages`);
      if (!ok || token !== state.historyToken || room !== state.room) return;
      for (const message of body.messages) addMessage(message);
    } catch {
      /* offline: the subscription catches up on reconnect */
    }
  }

  function renderRooms(rooms) {
    const names = new Set(rooms);
    if (state.room) names.add(state.room);
    ui.rooms.replaceChildren(
      ...[...names]
        .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))
        .map((name) => {
          const item = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.dataset.testid = "room-button";
          button.dataset.room = name;
          button.textContent = `# ${name}`;
          if (name === state.room) {
            button.classList.add("active");
            button.setAttribute("aria-current", "true");
          }
          button.addEventListener("click", () => selectRoom(name));
          item.append(button);
          return item;
        }),
    );
  }

  let knownRooms = [];
  async function loadRooms() {
    try {
      const { ok, body } = await fetchJSON("/rooms");
      if (ok) knownRooms = [...new Set([...body.rooms, ...knownRooms])];
    } catch {
      /* keep the last list */
    }
    renderRooms(knownRooms);
  }

  const client = new GraphQLWSClient(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/graphql`, {
    onStatus: setStatus,
    onAck: () => {
      // After a (re)connection: catch up with what was posted while we were away.
      if (state.room) loadHistory();
    },
  });

  function selectRoom(room) {
    if (!ROOM_RE.test(room)) {
      showError("Room names are 1-64 characters: letters, digits, _ and -.");
      return;
    }
    showError("");
    if (room === state.room) return;
    if (state.unsubscribe) state.unsubscribe();
    state.room = room;
    state.messages = [];
    state.seen = new Set();
    ui.list.replaceChildren();
    ui.currentRoom.textContent = room;
    document.title = `#${room} \u00b7 FraiseQL live chat`;
    updateCount();
    storage.set("fraiseql-demo-room", room);
    if (location.hash !== `#room=${room}`) history.replaceState(null, "", `#room=${room}`);
    state.unsubscribe = client.subscribe(
      { query: QUERY, operationName: "MessageAdded", variables: { room } },
      {
        next: (payload) => {
          if (payload && payload.errors) showError(payload.errors.map((e) => e.message).join("; "));
          if (payload && payload.data) addMessage(payload.data.messageAdded);
        },
        error: (errors) => {
          const text = Array.isArray(errors) ? errors.map((e) => e.message).join("; ") : String(errors);
          showError(`Subscription refused: ${text}`);
        },
        complete: () => {},
      },
    );
    loadHistory();
    if (!knownRooms.includes(room)) knownRooms = [...knownRooms, room]; // visited rooms stay listed
    renderRooms(knownRooms);
  }

  function initialRoom() {
    const match = /^#room=(.+)$/.exec(location.hash);
    const fromHash = match ? decodeURIComponent(match[1]) : null;
    for (const room of [fromHash, storage.get("fraiseql-demo-room")]) {
      if (room && ROOM_RE.test(room)) return room;
    }
    return "lobby";
  }

  async function postMessage() {
    if (ui.send.disabled) return;
    const author = ui.author.value.trim();
    const text = ui.text.value.trim();
    if (!author) {
      showError("Enter your name first.");
      ui.author.focus();
      return;
    }
    if (!text) {
      ui.text.focus();
      return;
    }
    storage.set("fraiseql-demo-author", author);
    ui.send.disabled = true;
    try {
      const { ok, status, body } = await fetchJSON(`/rooms/${encodeURIComponent(state.room)}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ author, text }),
      });
      if (ok) {
        showError("");
        ui.text.value = "";
        addMessage(body); // the subscription delivers it too; ids de-duplicate
        ui.list.scrollTop = ui.list.scrollHeight;
      } else {
        const details = body && body.details ? `: ${body.details.map((d) => `${d.field} ${d.message}`).join(", ")}` : "";
        showError(`Not sent (${status}) ${(body && body.error) || ""}${details}`);
      }
    } catch (error) {
      showError(`Not sent: ${error}`);
    } finally {
      ui.send.disabled = false;
      ui.text.focus();
    }
  }

  async function loadInfo() {
    try {
      const { ok, body } = await fetchJSON("/info");
      if (ok) ui.busNote.textContent = `${body.bus.note} (server: ${body.framework})`;
    } catch {
      /* optional */
    }
  }

  ui.query.textContent = QUERY;
  ui.author.value = storage.get("fraiseql-demo-author") || "";
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    postMessage();
  });
  ui.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });
  ui.author.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      ui.text.focus();
    }
  });
  ui.roomForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = ui.roomInput.value.trim();
    selectRoom(room);
    if (room === state.room) ui.roomInput.value = "";
  });
  window.addEventListener("hashchange", () => {
    const match = /^#room=(.+)$/.exec(location.hash);
    if (match) selectRoom(decodeURIComponent(match[1]));
  });

  client.start();
  selectRoom(initialRoom());
  loadRooms();
  loadInfo();
  setInterval(loadRooms, 15000);
  (ui.author.value ? ui.text : ui.author).focus();

  window.FraiseQLChat = { GraphQLWSClient, client };
})();
