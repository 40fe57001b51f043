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
  // backoff and subscribes again to everything still active; a 4403 close (the server refused
  // the credentials of connection_init) stops it instead when onRefused(reason) returns true.

  class GraphQLWSClient {
    constructor(
      url,
      {
        onStatus = () => {},
        onAck = () => {},
        onRefused = () => false,
        connectionParams = () => ({}),
        ackTimeoutMs = 5000,
        maxBackoffMs = 10000,
      } = {},
    ) {
      this.url = url;
      this.onStatus = onStatus;
      this.onAck = onAck;
      this.onRefused = onRefused;
      this.connectionParams = connectionParams;
      this.ackTimeoutMs = ackTimeoutMs;
      this.maxBackoffMs = maxBackoffMs;
      this.socket = null;
      this.acked = false;
      this.stopped = false;
      this.attempt = 0;
      this.nextId = 1;
      this.subscriptions = new Map(); // id -> { payload, sink }
      this.reconnectTimer = null;
      this.ackTimer = null;
      this.countdownTimer = null;
    }

    start() {
      this.stop(); // a running connection is replaced (e.g. by one with another token)
      this.stopped = false;
      this.attempt = 0;
      this.connect();
    }

    // Close the socket and stay disconnected (subscriptions are kept for the next start()).
    stop() {
      this.stopped = true;
      clearTimeout(this.reconnectTimer);
      clearInterval(this.countdownTimer);
      clearTimeout(this.ackTimer);
      const socket = this.socket;
      this.socket = null; // its close event is then ignored
      this.acked = false;
      if (!socket) return;
      // Closing a socket still connecting makes the browser log an error: close it once open.
      if (socket.readyState === WebSocket.CONNECTING) socket.onopen = () => socket.close(1000, "Normal closure");
      else socket.close(1000, "Normal closure");
    }

    connect() {
      if (this.stopped) return;
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
        this.sendOn(socket, { type: "connection_init", payload: this.connectionParams() });
        this.ackTimer = setTimeout(() => socket.close(4408, "No connection_ack"), this.ackTimeoutMs);
      };
      socket.onmessage = (event) => this.handle(socket, event.data);
      socket.onerror = () => {}; // a close event always follows
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.acked = false;
        clearTimeout(this.ackTimer);
        if (event.code === 4403 && this.onRefused(event.reason)) {
          this.stopped = true;
          return;
        }
        const reason = event.reason ? `${event.code} ${event.reason}` : `code ${event.code}`;
        this.scheduleReconnect(`closed (${reason})`);
      };
    }

    scheduleReconnect(why) {
      if (this.stopped) return;
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
    tokenForm: $("token-form"),
    tokenInput: $("token-input"),
    tokenError: $("token-error"),
    identity: $("identity"),
    identityText: $("identity-text"),
    signOut: $("sign-out"),
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

  // -- authentication (the server's --auth-jwt-secret) -----------------------------------------
  //
  // When /info says "auth": "jwt" the page asks for a token, keeps it in sessionStorage (this tab
  // only), sends it in connection_init ({"token": ...}) and as "Authorization: Bearer" on every
  // API call. A 4403 close or a 401/403 answer means it was refused: the page asks again.

  const TOKEN_KEY = "fraiseql-demo-token";
  const auth = { required: false, token: null };

  const session = {
    get() {
      try {
        return window.sessionStorage.getItem(TOKEN_KEY);
      } catch {
        return null;
      }
    },
    set(value) {
      try {
        if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
        else window.sessionStorage.removeItem(TOKEN_KEY);
      } catch {
        /* storage disabled: asked again on reload */
      }
    },
  };

  // A request may be made: always without authentication, with it once there is a token.
  const mayCall = () => !auth.required || Boolean(auth.token);

  // The token's claims, for showing who is signed in (the server verifies; this only reads).
  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
      const claims = JSON.parse(new TextDecoder().decode(bytes));
      return claims && typeof claims === "object" ? claims : {};
    } catch {
      return {};
    }
  }

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

  async function fetchJSON(url, options = {}) {
    const token = auth.required ? auth.token : null;
    const headers = { ...(options.headers || {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(url, { ...options, headers });
    let body = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    // Refused (401), or valid but naming no tenant (403): unless the token changed meanwhile.
    if (token && token === auth.token && (response.status === 401 || response.status === 403)) {
      askForToken(`The server refused the token (${(body && body.error) || response.status}). Paste another one.`);
    }
    return { ok: response.ok, status: response.status, body };
  }

  async function loadHistory() {
    if (!mayCall()) return;
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
    if (!mayCall()) return;
    try {
      const { ok, body } = await fetchJSON("/rooms");
      if (ok) knownRooms = [...new Set([...body.rooms, ...knownRooms])];
    } catch {
      /* keep the last list */
    }
    renderRooms(knownRooms);
  }

  // With `demo --transport native` the server names the native transport's port in a meta tag.
  const nativePort = document.querySelector('meta[name="fraiseql-graphql-ws-port"]')?.content;
  const socketHost = nativePort ? `${location.hostname}:${nativePort}` : location.host;
  const client = new GraphQLWSClient(`${location.protocol === "https:" ? "wss:" : "ws:"}//${socketHost}/graphql`, {
    onStatus: setStatus,
    onAck: () => {
      // After a (re)connection: catch up with what was posted while we were away.
      if (state.room) loadHistory();
    },
    connectionParams: () => (auth.token ? { token: auth.token } : {}),
    onRefused: (reason) => {
      // Only a server that authenticates closes with 4403 (a refused or expired token).
      auth.required = true;
      const why = (reason || "").replace(/^Forbidden: /, "") || "forbidden";
      askForToken(`The server refused the token (${why}). Paste another one.`);
      return true;
    },
  });

  function clearMessages() {
    state.messages = [];
    state.seen = new Set();
    ui.list.replaceChildren();
    updateCount();
  }

  function askForToken(why) {
    client.stop();
    auth.token = null;
    session.set(null);
    document.body.dataset.auth = "needed";
    ui.identity.hidden = true;
    ui.tokenError.textContent = why || "";
    ui.tokenError.hidden = !why;
    ui.tokenForm.hidden = false;
    setStatus("locked", "Token required");
    ui.tokenInput.focus();
  }

  function useToken(token) {
    auth.token = token;
    session.set(token);
    document.body.dataset.auth = "on";
    ui.tokenForm.hidden = true;
    ui.tokenError.hidden = true;
    ui.tokenInput.value = "";
    const claims = claimsOf(token);
    const who = claims.name || claims.sub || "?";
    ui.identityText.textContent = `Signed in as ${who} \u00b7 tenant ${claims.tenant_id ?? "?"}`;
    ui.identity.hidden = false;
    // Another token may be another tenant: its rooms and history replace what was shown.
    clearMessages();
    knownRooms = [];
    renderRooms(knownRooms);
    client.start(); // the history loads once connection_ack arrives
    loadRooms();
    ui.text.focus();
  }

  function selectRoom(room) {
    if (!ROOM_RE.test(room)) {
      showError("Room names are 1-64 characters: letters, digits, _ and -.");
      return;
    }
    showError("");
    if (room === state.room) return;
    if (state.unsubscribe) state.unsubscribe();
    state.room = room;
    clearMessages();
    ui.currentRoom.textContent = room;
    document.title = `#${room} \u00b7 FraiseQL live chat`;
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
    if (ui.send.disabled || !mayCall()) return;
    const author = ui.author.value.trim();
    const text = ui.text.value.trim();
    if (!author && !auth.required) {
      showError("Enter your name first.");
      ui.author.focus();
      return;
    }
    if (!text) {
      ui.text.focus();
      return;
    }
    if (author) storage.set("fraiseql-demo-author", author);
    ui.send.disabled = true;
    try {
      const { ok, status, body } = await fetchJSON(`/rooms/${encodeURIComponent(state.room)}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        // With authentication the server takes the author from the token.
        body: JSON.stringify(auth.required ? { text } : { author, text }),
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
      if (ok) {
        ui.busNote.textContent = `${body.bus.note} (server: ${body.framework})`;
        return body;
      }
    } catch {
      /* optional */
    }
    return null;
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
  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = ui.tokenInput.value.trim().replace(/^Bearer\s+/i, "");
    if (!token) {
      ui.tokenError.textContent = "Paste a token first.";
      ui.tokenError.hidden = false;
      ui.tokenInput.focus();
      return;
    }
    useToken(token);
  });
  ui.signOut.addEventListener("click", () => askForToken(""));

  async function boot() {
    // Whether the server wants a token decides how to connect (unreachable: as without one;
    // should it want one after all, its 4403 close brings up the token form).
    const info = await loadInfo();
    auth.required = Boolean(info && info.auth === "jwt");
    selectRoom(initialRoom());
    if (!auth.required) {
      client.start();
      loadRooms();
      (ui.author.value ? ui.text : ui.author).focus();
    } else if (session.get()) {
      useToken(session.get());
    } else {
      askForToken("");
    }
    setInterval(loadRooms, 15000);
  }

  boot();

  window.FraiseQLChat = { GraphQLWSClient, client };
})();
