// ringway.js: the browser client of the Ringway gateway protocol (PROTOCOL.md), an ES module
// with no dependencies and no build step. WebCrypto makes the Ed25519 device key and IndexedDB
// keeps it (the private half never leaves the browser, not even to JavaScript); the connect
// request is signed over the protocol's six-line payload; requests are promises; subscriptions
// are a wish list kept across reconnects, with offset gaps reported. Browsers cannot see
// WebSocket pings, so liveness rides on the protocol's own `ping` (docs/browser.md).

export const VERSION = "1.0";
export const DEFAULT_SCOPES = ["subscribe:*", "publish:*", "send"];

// The reconnect policy's numbers (docs/browser.md, "Reconnect policy"); a Client takes overrides.
export const POLICY = {
  baseMs: 100, // backoff ceiling after the first failure; doubles per failure ...
  maxMs: 30000, // ... up to this
  drainSpreadMs: 2000, // after a 1001 drain: a uniform wait in [0, this], not a failure
  connectTimeoutMs: 15000, // one attempt: WebSocket open, challenge, signed connect, hello
  requestTimeoutMs: 10000, // a request without an answer by then fails with TIMEOUT
  signupRetries: 5, // DEVICE_UNKNOWN right after a sign-up: retries before giving up
  defaultIdleMs: 90000, // the backoff reset threshold until a hello names idleTimeoutMs
};

const SIGNATURE_PREFIX = "ringway-connect-v1";
const CHANNEL_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const DEVICE_ID_RE = /^[0-9a-f]{64}$/;
// Connect refusals that retrying cannot fix (DEVICE_UNKNOWN only after the sign-up retries).
const FATAL = new Set(["DEVICE_UNKNOWN", "SIGNATURE_INVALID", "TOKEN_INVALID",
  "PROTOCOL_MISMATCH", "DEVICE_ID_MISMATCH", "INVALID_REQUEST"]);

export class RingwayError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "RingwayError";
    this.code = code;
    this.retryable = false;
    Object.assign(this, extra);
  }
}

function errorFrom(e) {
  e = e || {};
  const extra = { retryable: !!e.retryable };
  if (Number.isFinite(e.retryAfterMs)) extra.retryAfterMs = e.retryAfterMs;
  return new RingwayError(e.code || "UNKNOWN", e.message || "no message", extra);
}

const b64url = (bytes) => btoa(String.fromCharCode(...bytes))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const uniform = (max) => Math.floor(Math.random() * (Math.max(0, max) + 1));
const now = () => performance.now();

// ------------------------------------------------------------------------------------------
// Identity: one Ed25519 key pair per origin and name, kept in IndexedDB as CryptoKey objects.
// ------------------------------------------------------------------------------------------

function keyStore(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("ringway", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction("keys", mode);
      const req = fn(tx.objectStore("keys"));
      tx.oncomplete = () => { db.close(); resolve(req.result); };
      tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
    };
  });
}

export class Identity {
  constructor(keys, publicKey, deviceId, info) {
    this.keys = keys;
    this.publicKey = publicKey; // base64url of the raw 32 bytes, as the registry holds it
    this.deviceId = deviceId; // lowercase hex SHA-256 of those bytes
    this.created = !!info.created; // made by loadIdentity (not found in storage)
    this.stored = !!info.stored; // kept in IndexedDB (false: for this page only)
    this.storeProblem = info.storeProblem || "";
  }

  async sign(text) {
    const sig = await crypto.subtle.sign({ name: "Ed25519" }, this.keys.privateKey,
      new TextEncoder().encode(text));
    return b64url(new Uint8Array(sig));
  }
}

// The reason this page cannot make a key, in plain words, or "" when it may be able to.
export function identityProblem() {
  if (!globalThis.isSecureContext || !globalThis.crypto || !crypto.subtle)
    return "This page is not a secure context, so the browser hides WebCrypto: open it as " +
      "http://127.0.0.1:<port>/ or http://localhost:<port>/ on the server's machine, " +
      "or over https://.";
  return "";
}

export async function loadIdentity(name = "device") {
  const problem = identityProblem();
  if (problem) throw new RingwayError("NO_WEBCRYPTO", problem);
  let keys = null;
  let storeProblem = "";
  try {
    keys = (await keyStore("readonly", (s) => s.get(name))) || null;
  } catch (e) {
    storeProblem = `IndexedDB cannot be read (${e && e.message}); the key lasts for this page only`;
  }
  const created = !keys;
  let stored = !created;
  if (created) {
    try {
      keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    } catch (e) {
      throw new RingwayError("NO_ED25519", "This browser cannot make Ed25519 keys with " +
        `WebCrypto (${e && e.name}: ${e && e.message}). Chrome and Edge 137 or later, ` +
        "Firefox 129 or later and Safari 17 or later can.");
    }
    if (!storeProblem) {
      try {
        await keyStore("readwrite", (s) => s.put(keys, name));
        stored = true;
      } catch (e) {
        storeProblem = `IndexedDB cannot store the key (${e && e.message}); ` +
          "it lasts for this page only";
      }
    }
  }
  return identityFromKeys(keys, { created, stored, storeProblem });
}

// An Identity for a key pair of your own (e.g. imported from a seed); the public key's raw bytes
// name the device.
export async function identityFromKeys(keys, info = {}) {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
  const id = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", raw)));
  return new Identity(keys, b64url(raw), id, info);
}

// The text a device signs to log in (PROTOCOL.md, "Opening handshake", step 3): six fields
// joined by "\n", no trailing newline.
export function signaturePayload(deviceId, role, scopes, signedAt, nonce) {
  return [SIGNATURE_PREFIX, deviceId, role, scopes.join(","), String(signedAt), nonce].join("\n");
}

export async function forgetIdentity(name = "device") {
  await keyStore("readwrite", (s) => s.delete(name));
}

// Development mode's sign-up (POST /v1/dev/register, loopback pages only). Returns
// {available, status, deviceId, registered, message}; throws only when the server is unreachable.
export async function signUp(identity, base = location.href) {
  const r = await fetch(new URL("/v1/dev/register", base), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ publicKey: identity.publicKey }),
    signal: AbortSignal.timeout(5000),
  });
  const out = { available: r.status === 200 || r.status === 202, status: r.status };
  const body = await r.json().catch(() => ({}));
  if (out.available) return Object.assign(out, body);
  out.message = r.status === 404 ? "this server is not in development mode (no sign-up)"
    : r.status === 403 ? "sign-up is only for pages opened on the server's own machine"
      : `sign-up answered HTTP ${r.status}: ${(body.error && body.error.message) || ""}`;
  return out;
}

function defaultUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

// ------------------------------------------------------------------------------------------
// Client: one reconnecting device session.
//
// Events (client.on(name, fn) returns a function that removes fn):
//   state      (state, info)  "starting" | "signing-up" | "connecting" | "authenticating" |
//                              "online" (info.hello) | "stopped" (info.error) | "waiting"
//                              (info.delayMs, info.why, info.kind: "backoff" | "retry-after" |
//                              "drain" | "signup")
//   message    ({channel, from, offset, epoch, data})
//   gap        ({channel, kind: "offsets", epoch, first, last} |
//               {channel, kind: "epoch", oldEpoch, epoch, lastOffset})
//   subscribed ({channel, epoch, offset, resubscribed})
//   error      (RingwayError with .channel: a subscription refused for good; not fatal)
//   log        (one line per reconnect decision)
// ------------------------------------------------------------------------------------------

export class Client {
  constructor(options = {}) {
    this.url = options.url || defaultUrl();
    this.scopes = options.scopes || DEFAULT_SCOPES;
    this.signup = options.signup !== false; // development sign-up when the server offers it
    this.keyName = options.keyName || "device";
    this.identity = options.identity || null;
    this.policy = Object.assign({}, POLICY, options.policy);
    this.clientInfo = options.client || {
      name: "ringway.js", version: VERSION,
      platform: String((navigator.userAgentData && navigator.userAgentData.platform) ||
        navigator.platform || "browser").slice(0, 32),
    };
    this.state = "idle";
    this.hello = null;
    this.registration = null; // the last sign-up answer
    this._on = { state: [], message: [], gap: [], subscribed: [], error: [], log: [] };
    this._subs = new Map(); // channel -> {channel, epoch, offset, handlers, waiters, live, busy}
    this._tracks = new Map(); // offsets of channels delivered without a subscribe (device:<id>)
    this._pending = new Map(); // request id -> {resolve, reject, timer}
    this._nextId = 1;
    this._failures = 0;
    this._signupTries = 0;
    this._signedUp = false;
    this._running = false;
    this._attempt = null;
    this._timer = null;
    this._startWaiters = [];
  }

  get deviceId() { return this.identity ? this.identity.deviceId : ""; }

  on(name, fn) {
    const list = this._on[name];
    if (!list) throw new Error(`ringway.js: no event "${name}"`);
    list.push(fn);
    return () => { const i = list.indexOf(fn); if (i >= 0) list.splice(i, 1); };
  }

  _emit(name, ...args) {
    for (const fn of this._on[name].slice()) {
      try { fn(...args); } catch (e) { console.error("ringway.js handler:", e); }
    }
  }

  _setState(state, info = {}) {
    this.state = state;
    this._emit("state", state, info);
  }

  _log(line) { this._emit("log", line); }

  // Makes or loads the key, signs it up (development mode) and logs in; resolves with the first
  // hello, rejects if the client stops first. Reconnects go on after it resolves.
  start() {
    const p = new Promise((resolve, reject) => this._startWaiters.push({ resolve, reject }));
    if (this._running) {
      if (this.state === "online") this._startWaiters.pop().resolve(this.hello);
      return p;
    }
    this._running = true;
    this._setState("starting");
    (async () => {
      try {
        if (!this.identity) this.identity = await loadIdentity(this.keyName);
      } catch (e) {
        this._stop(e);
        return;
      }
      this._connect();
    })();
    return p;
  }

  // Closes the connection (1000) and stops reconnecting.
  close() {
    this._stop(new RingwayError("CLOSED", "closed by the application"));
  }

  async _connect() {
    if (!this._running) return;
    if (this.signup && !this._signedUp) {
      this._setState("signing-up");
      try {
        this.registration = await signUp(this.identity, this.url.replace(/^ws/, "http"));
        this._signedUp = true;
        if (!this.registration.available) this._log(`no sign-up: ${this.registration.message}`);
      } catch (e) {
        this._log(`sign-up failed (${e && e.message}); logging in anyway`);
      }
      if (!this._running) return;
    }
    const a = { ws: null, hello: null, error: null, lastRx: now(), lastPing: now() };
    this._attempt = a;
    this._setState("connecting");
    try {
      a.ws = new WebSocket(this.url);
    } catch (e) {
      this._stop(new RingwayError("BAD_URL", `cannot open ${this.url}: ${e.message}`));
      return;
    }
    a.ws.onmessage = (ev) => this._onFrame(a, ev.data);
    a.ws.onclose = (ev) => this._ended(a, ev.code, ev.reason);
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._drop(a,
      `no hello within ${this.policy.connectTimeoutMs} ms`), this.policy.connectTimeoutMs);
  }

  _send(a, obj) {
    if (a.ws && a.ws.readyState === WebSocket.OPEN) a.ws.send(JSON.stringify(obj));
  }

  _onFrame(a, text) {
    if (a !== this._attempt) return;
    a.lastRx = now(); // any message is liveness
    let m;
    try { m = JSON.parse(text); } catch { return; }
    if (!a.hello) { this._handshake(a, m); return; }
    if (m.type === "res") this._answer(m);
    else if (m.type === "event" && m.event === "message" && m.payload) this._deliver(m.payload);
  }

  async _handshake(a, m) {
    if (m.type === "event" && m.event === "connect.challenge") {
      const { nonce, ts } = m.payload || {};
      // The server's clock names signedAt, so a browser whose clock is off still logs in.
      const signedAt = Number.isSafeInteger(ts) ? ts : Date.now();
      const id = this.identity;
      const role = "device";
      const text = signaturePayload(id.deviceId, role, this.scopes, signedAt, nonce);
      let signature;
      try {
        signature = await id.sign(text);
      } catch (e) {
        this._stop(new RingwayError("SIGN_FAILED",
          `this browser could not sign with its key (${e && e.message})`));
        return;
      }
      if (a !== this._attempt) return;
      this._send(a, {
        type: "req", id: "1", method: "connect", params: {
          minProtocol: 1, maxProtocol: 1, client: this.clientInfo, role, scopes: this.scopes,
          device: { id: id.deviceId, publicKey: id.publicKey, signature, signedAt, nonce },
        },
      });
      this._setState("authenticating");
    } else if (m.type === "res" && (m.id === "1" || m.id === "")) {
      if (m.ok) this._online(a, m.payload || {});
      else a.error = errorFrom(m.error); // the close follows; the decision is made there
    }
  }

  _online(a, hello) {
    a.hello = hello;
    a.helloAt = now();
    const p = hello.policy || {};
    a.pingMs = p.pingIntervalMs > 0 ? p.pingIntervalMs : 30000;
    a.idleMs = p.idleTimeoutMs > 0 ? p.idleTimeoutMs : this.policy.defaultIdleMs;
    a.deadMs = 3 * a.pingMs + Math.max(250, a.pingMs / 10);
    a.lastPing = now();
    this.hello = hello;
    this._signupTries = 0;
    clearTimeout(this._timer);
    const tick = Math.max(50, Math.min(a.pingMs / 4, 1000));
    this._timer = setInterval(() => this._tick(a), tick);
    this._setState("online", { hello });
    for (const w of this._startWaiters.splice(0)) w.resolve(hello);
    for (const s of this._subs.values()) this._subscribeNow(s, s.epoch !== null);
  }

  _tick(a) {
    const t = now();
    if (t - a.lastRx > a.deadMs) {
      this._drop(a, `no data from the server for ${Math.round(t - a.lastRx)} ms: dead connection`);
      return;
    }
    if (t - a.lastPing >= a.pingMs) {
      a.lastPing = t;
      this._request("ping", {}).catch(() => {});
    }
  }

  // Gives up on an attempt at once (a dead path may never finish a close handshake).
  _drop(a, why) {
    if (a !== this._attempt) return;
    a.dropped = why;
    if (a.ws) {
      a.ws.onmessage = a.ws.onclose = null;
      try { a.ws.close(1000); } catch { /* already closed */ }
    }
    this._ended(a, 1006, why);
  }

  _ended(a, code, reason) {
    if (a !== this._attempt) return;
    this._attempt = null;
    clearTimeout(this._timer);
    clearInterval(this._timer);
    this._failPending(new RingwayError("DISCONNECTED",
      "the connection ended before the answer (it may or may not have been applied)",
      { retryable: true }));
    for (const s of this._subs.values()) { s.live = false; s.busy = false; }
    if (this._running) this._decide(a, code, reason);
  }

  _decide(a, code, reason) {
    const err = a.error;
    const lasted = a.hello ? now() - a.helloAt : 0;
    const what = a.hello
      ? `session lasted ${(lasted / 1000).toFixed(3)} s`
      : "connect attempt failed";
    const detail = a.dropped || [err && `${err.code}: ${err.message}`,
      `closed ${code}${reason ? " " + reason : ""}`].filter(Boolean).join("; ");
    const signupWorks = !this.registration || this.registration.available;
    if (err && err.code === "DEVICE_UNKNOWN" && this.signup && signupWorks &&
        this._signupTries < this.policy.signupRetries) {
      // A fresh sign-up reaches the registry a few ms later; the server may also have restarted
      // with another registry. Sign up again and retry soon; this is not a backoff failure.
      const delay = 100 * 2 ** this._signupTries++ + uniform(50);
      this._signedUp = false;
      this._wait(delay, `${what} (${detail}); signing up again in ${delay} ms`, "signup");
      return;
    }
    if (err && FATAL.has(err.code)) { this._stop(err); return; }
    if (code === 4001) {
      this._stop(new RingwayError("REVOKED", "the server revoked this device's access " +
        "(its registry entry was removed or narrowed)"));
      return;
    }
    // A session longer than the idle timeout answered pings: the server was healthy.
    const reset = a.hello && lasted > a.idleMs && this._failures > 0;
    if (reset) this._failures = 0;
    let delay;
    let why;
    let kind = "backoff";
    if (code === 1001) {
      delay = uniform(this.policy.drainSpreadMs);
      why = "after a drain";
      kind = "drain";
    } else {
      const n = this._failures++;
      delay = uniform(Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** Math.min(n, 30)));
      const r = err && err.retryAfterMs;
      if (r > 0) {
        delay = Math.max(delay, r + uniform(r / 5));
        kind = "retry-after";
      }
      why = `attempt ${n + 1}`;
    }
    if (reset) why += ", backoff reset";
    this._wait(delay, `${what} (${detail}); reconnecting in ${delay} ms (${why})`, kind);
  }

  _wait(delay, line, kind) {
    this._log(line);
    this._setState("waiting", { delayMs: delay, why: line, kind });
    this._timer = setTimeout(() => this._connect(), delay);
  }

  _stop(error) {
    const wasRunning = this._running;
    this._running = false;
    clearTimeout(this._timer);
    clearInterval(this._timer);
    const a = this._attempt;
    this._attempt = null;
    if (a && a.ws) {
      a.ws.onmessage = a.ws.onclose = null;
      try { a.ws.close(1000); } catch { /* already closed */ }
    }
    this._failPending(new RingwayError("DISCONNECTED", "the client stopped", { retryable: false }));
    for (const s of this._subs.values()) {
      s.live = false;
      for (const w of s.waiters.splice(0)) w.reject(error);
    }
    for (const w of this._startWaiters.splice(0)) w.reject(error);
    if (wasRunning || this.state !== "stopped") this._setState("stopped", { error });
  }

  // ---------------------------------------------------------------------------------------
  // Requests
  // ---------------------------------------------------------------------------------------

  _request(method, params) {
    const a = this._attempt;
    if (!a || !a.hello)
      return Promise.reject(new RingwayError("NOT_CONNECTED", "not logged in yet",
        { retryable: true }));
    const id = `r${this._nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new RingwayError("TIMEOUT", `no answer to ${method} within ` +
          `${this.policy.requestTimeoutMs} ms`, { retryable: true }));
      }, this.policy.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      this._send(a, { type: "req", id, method, params });
    });
  }

  _answer(m) {
    const p = this._pending.get(m.id);
    if (!p) return;
    this._pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.payload || {});
    else p.reject(errorFrom(m.error));
  }

  _failPending(error) {
    for (const p of this._pending.values()) { clearTimeout(p.timer); p.reject(error); }
    this._pending.clear();
  }

  // Publish and send are never queued while disconnected (NOT_CONNECTED), and never re-sent:
  // one cut off before its answer fails with DISCONNECTED (at most once).
  publish(channel, data) {
    if (!CHANNEL_RE.test(channel))
      return Promise.reject(new RingwayError("INVALID_ARGUMENT", `bad channel name: ${channel}`));
    if (data === undefined)
      return Promise.reject(new RingwayError("INVALID_ARGUMENT", "publish needs data (any JSON)"));
    return this._request("publish", { channel, data });
  }

  send(to, data) {
    if (!DEVICE_ID_RE.test(to))
      return Promise.reject(new RingwayError("INVALID_ARGUMENT", `bad device id: ${to}`));
    if (data === undefined)
      return Promise.reject(new RingwayError("INVALID_ARGUMENT", "send needs data (any JSON)"));
    return this._request("send", { to, data });
  }

  ping() { return this._request("ping", {}); }

  // Adds a channel to the wish list (subscribed now if online, else at the next hello, and
  // again after every reconnect). Resolves with {epoch, offset} once the server confirms.
  subscribe(channel, handler) {
    if (!CHANNEL_RE.test(channel))
      return Promise.reject(new RingwayError("INVALID_ARGUMENT", `bad channel name: ${channel}`));
    let s = this._subs.get(channel);
    if (!s) {
      s = { channel, epoch: null, offset: null, handlers: new Set(), waiters: [],
        live: false, busy: false };
      this._subs.set(channel, s);
    }
    if (handler) s.handlers.add(handler);
    if (s.live) return Promise.resolve({ epoch: s.epoch, offset: s.offset });
    const p = new Promise((resolve, reject) => s.waiters.push({ resolve, reject }));
    const a = this._attempt;
    if (a && a.hello) this._subscribeNow(s, false);
    return p;
  }

  _subscribeNow(s, resubscribed) {
    if (s.busy) return;
    s.busy = true;
    const a = this._attempt;
    this._request("subscribe", { channel: s.channel }).then((res) => {
      s.busy = false;
      if (this._subs.get(s.channel) !== s || a !== this._attempt) return;
      if (s.epoch !== null && res.epoch !== s.epoch) {
        this._emit("gap", { channel: s.channel, kind: "epoch", oldEpoch: s.epoch,
          epoch: res.epoch, lastOffset: s.offset });
      } else if (s.offset !== null && res.offset > s.offset) {
        this._emit("gap", { channel: s.channel, kind: "offsets", epoch: res.epoch,
          first: s.offset + 1, last: res.offset });
      }
      s.epoch = res.epoch;
      s.offset = res.offset;
      s.live = true;
      for (const w of s.waiters.splice(0)) w.resolve({ epoch: res.epoch, offset: res.offset });
      this._emit("subscribed",
        { channel: s.channel, epoch: res.epoch, offset: res.offset, resubscribed });
    }, (err) => {
      s.busy = false;
      // Gone from the wish list, or the connection ended (then the next hello retries it).
      if (this._subs.get(s.channel) !== s || a !== this._attempt) return;
      if (err.retryable) {
        setTimeout(() => {
          if (this._subs.get(s.channel) === s && a === this._attempt)
            this._subscribeNow(s, resubscribed);
        }, err.retryAfterMs || 1000);
        return;
      }
      this._subs.delete(s.channel);
      for (const w of s.waiters.splice(0)) w.reject(err);
      err.channel = s.channel;
      this._emit("error", err);
    });
  }

  // Removes a channel from the wish list; resolves when the server confirms (or at once offline).
  unsubscribe(channel) {
    const s = this._subs.get(channel);
    this._subs.delete(channel);
    if (s) {
      for (const w of s.waiters.splice(0))
        w.reject(new RingwayError("UNSUBSCRIBED",
          `unsubscribed from ${channel} before the answer`));
    }
    const a = this._attempt;
    if (!a || !a.hello) return Promise.resolve({});
    return this._request("unsubscribe", { channel });
  }

  get channels() {
    return Array.from(this._subs.values()).filter((s) => s.live).map((s) => s.channel);
  }

  _deliver(p) {
    const s = this._subs.get(p.channel);
    let t = s;
    if (!t) {
      t = this._tracks.get(p.channel);
      if (!t) this._tracks.set(p.channel, t = { epoch: "", offset: null });
    }
    const msg = { channel: p.channel, from: p.from, offset: p.offset, epoch: t.epoch || "",
      data: p.data };
    if (Number.isSafeInteger(p.offset)) {
      if (t.offset !== null && p.offset > t.offset + 1) {
        this._emit("gap", { channel: p.channel, kind: "offsets", epoch: msg.epoch,
          first: t.offset + 1, last: p.offset - 1 });
      }
      // A lower offset on an untracked channel is a new history (its epoch is not named).
      if (t.offset === null || p.offset > t.offset || !s) t.offset = p.offset;
    }
    if (s) for (const h of s.handlers) { try { h(msg); } catch (e) { console.error(e); } }
    this._emit("message", msg);
  }
}
