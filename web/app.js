// The status page's logic (index.html): live counters from the /status WebSocket, and a device
// session through ringway.js that subscribes, publishes and lists what arrives. Everything the
// user needs to know is written on the page in plain words; details also go to the console.
import { Client, forgetIdentity } from "/ringway.js";

const $ = (id) => document.getElementById(id);
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
const MAX_ROWS = 200;

// ---- the node's counters ------------------------------------------------------------------

function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

// The feed pushes every second; 5 s without a push is a dead path: drop it and open a new one.
function watchStatus(delayMs = 1000) {
  const ws = new WebSocket(`${wsBase}/status`);
  const state = $("node-state");
  let last = Date.now();
  const again = () => {
    clearInterval(watchdog);
    ws.onmessage = ws.onclose = null;
    ws.close();
    state.textContent = `no connection to this node's /status; retrying in ${delayMs / 1000} s`;
    state.dataset.state = "down";
    setTimeout(() => watchStatus(Math.min(delayMs * 2, 10000)), delayMs);
  };
  const watchdog = setInterval(() => { if (Date.now() - last > 5000) again(); }, 1000);
  ws.onmessage = (ev) => {
    last = Date.now();
    delayMs = 1000;
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    if (m.event !== "status" || !m.payload) return;
    state.textContent = "live (updated every second)";
    state.dataset.state = "live";
    for (const [key, value] of Object.entries(m.payload)) {
      const dd = $(`c-${key}`);
      if (dd) {
        dd.textContent = key === "uptimeSeconds" ? duration(value) : String(value);
        dd.dataset.value = String(value);
      }
    }
  };
  ws.onclose = again;
}

// ---- the device session -------------------------------------------------------------------

const client = new Client({ url: `${wsBase}/ws` });
window.ringwayClient = client; // for the console

const STATE_WORDS = {
  starting: "preparing this browser's key…",
  "signing-up": "signing up this browser's key…",
  connecting: `connecting to ${wsBase}/ws…`,
  authenticating: "logging in (challenge signed)…",
  online: "logged in",
  waiting: "disconnected",
  stopped: "stopped",
};

function problem(text) {
  const p = $("problem");
  p.textContent = text || "";
  p.hidden = !text;
}

function explain(err) {
  const key = client.identity ? client.identity.publicKey : "<public key>";
  switch (err.code) {
    case "DEVICE_UNKNOWN": {
      const r = client.registration;
      return "The server does not know this browser's key" +
        (r && r.message ? ` (${r.message})` : "") + ". To let it in, add this line to the " +
        `server's --devices file and send the server SIGHUP: ${key} subscribe:*,publish:*,send`;
    }
    case "SIGNATURE_INVALID":
      return "The server could not verify this browser's signature. " +
        "Forget this browser's key (button below) and try again.";
    case "REVOKED":
      return "The server revoked this browser's access: " +
        "its registry entry was removed or narrowed.";
    case "SCOPE_DENIED":
      return "Not allowed: this browser's key has no scope for that channel.";
    case "NOT_CONNECTED":
      return "Not logged in right now; wait until the connection says \"logged in\".";
    case "DISCONNECTED":
      return "The connection dropped before the server answered; " +
        "the message may or may not have gone out.";
    case "UNAVAILABLE":
      return "The server is busy right now; try again in a moment.";
    case "INVALID_ARGUMENT":
    case "INVALID_REQUEST":
      return `The request was refused: ${err.message}.`;
    default:
      return err.message || String(err);
  }
}

let everOnline = false;
client.on("state", (state, info) => {
  const el = $("conn-state");
  el.dataset.state = state;
  let words = STATE_WORDS[state] || state;
  if (state === "online") {
    everOnline = true;
    words += ` (connection ${info.hello.server && info.hello.server.connId})`;
    problem("");
  } else if (state === "waiting" && info.kind === "signup") {
    words = "signing up again (the server did not know this key yet)…";
  } else if (state === "waiting") {
    words += `: trying again in ${(info.delayMs / 1000).toFixed(1)} s`;
    if (info.kind === "drain") words += " (the server is shutting down or restarting)";
    problem(everOnline ? `Lost the connection (${info.why}).`
      : `Cannot log in to ${wsBase}/ws yet (${info.why}). If ringway has stopped, start it ` +
        "again: bash tools/run.sh");
  } else if (state === "stopped") {
    words += " — it will not retry by itself; reload the page after fixing the cause";
    problem(explain(info.error));
  }
  el.textContent = words;
  if (client.identity) $("device-id").textContent = client.identity.deviceId;
  const r = client.registration;
  if (r) {
    $("signup").textContent = !r.available ? `not offered: ${r.message}`
      : r.registered ? "already known to this server" : "signed up just now";
    $("signup").dataset.status = String(r.status);
  }
  if (state !== "online") showSubs();
});
client.on("log", (line) => console.info("ringway.js:", line));

function showSubs() {
  const list = client.state === "online" ? client.channels : [];
  $("subs").dataset.channels = list.join(" ");
  $("subs").textContent = list.length ? list.join(", ") : "nothing yet";
}
client.on("subscribed", showSubs);
client.on("error", (err) => {
  problem(`Subscribing to ${err.channel} was refused. ${explain(err)}`);
  showSubs();
});

function addRow(cells, cls, data) {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  Object.assign(tr.dataset, data);
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.appendChild(td);
  }
  const body = $("messages").tBodies[0];
  body.insertBefore(tr, body.firstChild);
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
}

const time = () => new Date().toLocaleTimeString();
client.on("message", (m) => {
  const from = m.from === client.deviceId ? `${m.from.slice(0, 12)}… (this browser)`
    : m.from.length > 24 ? `${m.from.slice(0, 12)}…` : m.from;
  addRow([time(), m.channel, from, String(m.offset), JSON.stringify(m.data)], "message",
    { channel: m.channel, from: m.from, offset: String(m.offset) });
});
client.on("gap", (g) => {
  const text = g.kind === "epoch"
    ? `the server lost this channel's history (new epoch ${g.epoch}); ` +
      `anything after offset ${g.lastOffset} is gone`
    : `missed offsets ${g.first}–${g.last} while away`;
  addRow([time(), g.channel, "—", "gap", text], "gap", { channel: g.channel, gap: g.kind });
});

// ---- the forms ----------------------------------------------------------------------------

$("sub-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const channel = $("channel").value.trim();
  client.subscribe(channel).then(showSubs, (err) => problem(explain(err)));
});
$("unsubscribe").addEventListener("click", () => {
  const channel = $("channel").value.trim();
  client.unsubscribe(channel).then(showSubs, (err) => problem(explain(err)));
  showSubs();
});
$("pub-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("message").value;
  let data;
  try { data = JSON.parse(text); } catch { data = text; }
  const out = $("pub-result");
  out.textContent = "publishing…";
  client.publish($("channel").value.trim(), data).then((r) => {
    out.textContent = `published: offset ${r.offset}, delivered to ${r.delivered} subscriber(s)`;
    out.dataset.offset = String(r.offset);
  }, (err) => { out.textContent = "not published"; problem(explain(err)); });
});
$("new-identity").addEventListener("click", async () => {
  client.close();
  await forgetIdentity().catch(() => {});
  location.reload();
});
$("curl").textContent = $("curl").textContent.replace("HOST", location.host);

watchStatus();
client.subscribe($("channel").value).catch(() => {});
client.start().catch(() => {}); // failures are shown by the "stopped" state
