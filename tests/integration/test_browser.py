"""The status page and ringway.js in a real browser: headless Chromium (Debian's `chromium`)
driven over the DevTools protocol with the websockets library, against ringway in development
mode. The page makes its own Ed25519 key with WebCrypto, signs it up, logs in, subscribes to
"demo", publishes and lists what arrives; the tests check each step on the page and on the wire:
a backend publish shown, the page's publish reaching a raw subscriber, a reload keeping the key,
a drained and replaced server followed (sign-up again, resubscribe, the new epoch as a gap), a
silent path found dead and the offsets missed meanwhile reported,
PROTOCOL.md's signature test vector through ringway.js, and the page outside development mode.

Every wait polls one condition in the page with a deadline and fails naming what it waited for,
with the page's state, its problem line and its console."""

import asyncio
import base64
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
import websockets

from authclient import DeviceKey
from test_auth import wait_stderr
from test_routing import event, login, ok, start

CHROMIUM = shutil.which("chromium")
WAIT = 30.0  # seconds for any one condition on the page (Chromium on a busy 2-core machine)

# The page's state, read in one evaluation.
PAGE_STATE = """(() => {
  const $ = (id) => document.getElementById(id);
  if (!$("conn-state")) return null;
  return {state: $("conn-state").dataset.state, text: $("conn-state").textContent,
          deviceId: $("device-id").textContent, channels: $("subs").dataset.channels.split(" "),
          signup: $("signup").dataset.status || "",
          problem: $("problem").hidden ? "" : $("problem").textContent,
          sessions: Number($("c-sessions").dataset.value || -1)};
})()"""

ONLINE_ON_DEMO = f"""(() => {{ const s = {PAGE_STATE};
  return s && s.state === "online" && s.channels.includes("demo") ? s : null; }})()"""


def row_with(text):
    """A page expression: the dataset of the first message row whose data cell contains text."""
    return f"""(() => {{
  for (const tr of document.querySelectorAll("#messages tr.message"))
    if (tr.lastChild.textContent.includes({json.dumps(text)}))
      return Object.assign({{}}, tr.dataset);
  return null; }})()"""


def state_dir(srv):
    return srv.argv[srv.argv.index("--state-dir") + 1]


def http_publish(srv, channel, data):
    """POST /v1/publish with the development service token -> (status, body as JSON)."""
    with open(os.path.join(state_dir(srv), "service.token")) as f:
        token = f.read().strip()
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        c.request("POST", "/v1/publish", json.dumps({"channel": channel, "data": data}),
                  {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        c.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """A TCP relay on loopback in front of a server. freeze() makes the connections open at that
    moment go silent both ways, with their sockets left open (a path that died without a FIN or
    an RST); connections made later are relayed as usual."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        self.pairs = []
        self.threads = []
        self.stopping = False
        self._spawn(self._accept)

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            u = socket.create_connection(self.target, timeout=5)
            pair = {"frozen": False, "socks": (c, u)}
            self.pairs.append(pair)
            self._spawn(self._pump, c, u, pair)
            self._spawn(self._pump, u, c, pair)

    def _pump(self, src, dst, pair):
        src.settimeout(0.1)
        while not self.stopping:
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if pair["frozen"]:
                if not data:
                    return  # a frozen path passes on nothing, not even the end
                continue
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        if not pair["frozen"]:
            for sock in pair["socks"]:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self):
        for pair in self.pairs:
            pair["frozen"] = True

    def close(self):
        self.stopping = True
        for t in self.threads:
            t.join(timeout=5)
        self.lsock.close()
        for pair in self.pairs:
            for sock in pair["socks"]:
                sock.close()


# ---------------------------------------------------------------------------------------------
# Chromium and the DevTools protocol
# ---------------------------------------------------------------------------------------------


class Browser:
    """One headless Chromium process with its own profile; Chromium picks the DevTools port
    (--remote-debugging-port=0) and writes it to DevToolsActivePort, so no port can be taken
    between choosing and binding it."""

    def __init__(self, tmp_path, timeout=WAIT):
        self.profile = tmp_path / "chromium-profile"
        self.log_path = tmp_path / "chromium.log"
        argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--window-size=1200,1100", "about:blank"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.port = self._devtools_port(timeout)

    def _devtools_port(self, timeout):
        path = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"chromium exited with {self.proc.returncode} at start-up:\n"
                            + self.log_tail())
            try:
                first = path.read_text().split("\n")[0]
                if first.isdigit():
                    return int(first)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        pytest.fail(f"chromium wrote no DevToolsActivePort within {timeout:.0f} s:\n"
                    + self.log_tail())

    def log_tail(self, n=3000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def page_ws_url(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            if time.monotonic() > deadline:
                pytest.fail(f"chromium shows no page target within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        try:  # helpers (zygote, renderers) share the process group; none may outlive the test
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Page:
    """A DevTools session on one page: calls with deadlines, console and exceptions kept."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting = {}
        self.console = []
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, browser):
        ws = await asyncio.wait_for(websockets.connect(
            browser.page_ws_url(), max_size=None, ping_interval=None), 10)
        page = cls(ws)
        await page.call("Runtime.enable")
        await page.call("Page.enable")
        return page

    async def _read(self):
        try:
            async for raw in self.ws:
                m = json.loads(raw)
                if "id" in m:
                    fut = self.waiting.pop(m["id"], None)
                    if fut and not fut.done():
                        fut.set_result(m)
                elif m.get("method") == "Runtime.consoleAPICalled":
                    args = m["params"].get("args", [])
                    self.console.append(m["params"]["type"] + ": " + " ".join(
                        str(a.get("value", a.get("description", ""))) for a in args))
                elif m.get("method") == "Runtime.exceptionThrown":
                    d = m["params"]["exceptionDetails"]
                    self.console.append("EXCEPTION: " + d.get("exception", {}).get(
                        "description", d.get("text", "")))
        except websockets.ConnectionClosed:
            pass
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(AssertionError("the DevTools connection closed"))

    async def call(self, method, timeout=10.0, **params):
        i = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[i] = fut
        await self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        try:
            m = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"DevTools {method}: no answer within {timeout:.0f} s") from None
        if "error" in m:
            raise AssertionError(f"DevTools {method}: {m['error']}")
        return m["result"]

    async def eval(self, expr):
        """The value of a page expression; raises RuntimeError when it throws."""
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                            awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"].get("exception", {}).get(
                "description", r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    async def wait(self, expr, what, timeout=WAIT):
        """Poll expr until it is truthy (return it); fail after timeout naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = await self.eval(expr)
                if v:
                    return v
            except (RuntimeError, AssertionError):
                pass  # between documents while navigating
            if time.monotonic() > deadline:
                raise AssertionError(f"page: no {what} within {timeout:.0f} s\n"
                                     + await self.diag())
            await asyncio.sleep(0.1)

    async def diag(self):
        try:
            state = await self.eval(PAGE_STATE)
        except Exception as e:  # noqa: BLE001 - diagnostics only
            state = f"(unreadable: {e})"
        return f"page state: {state}\nconsole:\n" + "\n".join(self.console[-30:])

    async def goto(self, url):
        await self.call("Page.navigate", url=url)

    async def screenshot(self, path):
        r = await self.call("Page.captureScreenshot", timeout=20, format="png",
                            captureBeyondViewport=True)
        data = base64.b64decode(r["data"])
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
        path.write_bytes(data)
        print(f"screenshot: {path} ({len(data)} bytes)")

    def exceptions(self):
        return [c for c in self.console if c.startswith("EXCEPTION")]

    async def close(self):
        await self.ws.close()
        await asyncio.wait_for(self.reader, 5)


@pytest.fixture(scope="module")
def chromium_version():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: bash tools/setup.sh installs Debian's chromium")
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    version = out.stdout.strip()
    print(f"browser: {version}")
    return version


@pytest.fixture
def browser(tmp_path, chromium_version):
    b = Browser(tmp_path)
    yield b
    b.stop()


def run_page(browser, body):
    """Runs `await body(page)` with a DevTools session on the browser's page."""
    async def main():
        page = await Page.open(browser)
        try:
            await body(page)
        finally:
            await page.close()
    asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(120)
def test_page_signs_up_logs_in_and_shows_a_backend_publish(server, browser, tmp_path):
    srv = server("--workers", "2")

    async def body(page):
        await page.goto(f"http://{srv.hostport}/")
        s = await page.wait(ONLINE_ON_DEMO, "login and subscription to demo")
        assert re.fullmatch(r"[0-9a-f]{64}", s["deviceId"]), s
        assert s["signup"] == "202", s  # a new key, signed up just now
        assert f"development sign-up: device {s['deviceId']} added" in srv.stderr
        marker = f"from the backend {os.urandom(4).hex()}"
        status, answer = http_publish(srv, "demo", {"text": marker})
        assert status == 202 and answer["delivered"] == 1, (status, answer)
        row = await page.wait(row_with(marker), "row with the backend's message")
        assert row == {"channel": "demo", "from": "dev-service",
                       "offset": str(answer["offset"])}, row
        s = await page.wait(
            f"(() => {{ const s = {PAGE_STATE}; return s.sessions >= 1 ? s : null; }})()",
            "status counters showing a session")
        assert s["problem"] == "", s
        await page.screenshot(tmp_path / "status-page.png")
        assert page.exceptions() == [], page.console

    run_page(browser, body)


@pytest.mark.time_limit(120)
def test_chromium_negotiates_permessage_deflate(server, browser):
    """Chromium offers permessage-deflate; the gateway accepts it and compresses what it sends,
    and the page reads several compressed messages in a row (a compressed message must not end
    in a final deflate block, or Chromium fails the connection at the next one)."""
    from test_operations import scrape
    srv = server()

    async def body(page):
        await page.goto(f"http://{srv.hostport}/")
        await page.wait(ONLINE_ON_DEMO, "login and subscription to demo")
        m = scrape(srv)
        assert m["ringway_deflate_negotiated_total"] >= 1, "Chromium did not negotiate deflate"
        before = m["ringway_deflate_shared_deliveries_total"]
        markers = [f"compressed {i} {os.urandom(4).hex()}" for i in range(3)]
        for marker in markers:
            pad = [{"sensor": f"s{j}", "value": j} for j in range(60)]  # well over 256 bytes
            status, _ = http_publish(srv, "demo", {"text": marker, "pad": pad})
            assert status == 202
            await page.wait(row_with(marker), f"row with {marker!r}")
        m = scrape(srv)
        assert m["ringway_deflate_shared_deliveries_total"] - before == 3
        s = await page.eval(PAGE_STATE)
        assert s["state"] == "online" and s["problem"] == "", s
        assert page.exceptions() == [], page.console

    run_page(browser, body)


@pytest.mark.time_limit(120)
def test_the_pages_publish_reaches_a_raw_subscriber(server, browser):
    srv = server()
    # The development device (state dir's device.key) listens on the wire.
    sub = login(srv, DeviceKey.from_key_file(os.path.join(state_dir(srv), "device.key")))
    assert ok(sub, "subscribe", {"channel": "demo"})["offset"] == 0
    marker = f"from the page {os.urandom(4).hex()}"

    async def body(page):
        await page.goto(f"http://{srv.hostport}/")
        s = await page.wait(ONLINE_ON_DEMO, "login and subscription to demo")
        typed = json.dumps(json.dumps({"text": marker}))
        await page.eval(f"""document.getElementById("message").value = {typed};
                            document.getElementById("publish").click()""")
        e = await asyncio.get_running_loop().run_in_executor(None, event, sub, 10.0)
        assert e == {"channel": "demo", "from": s["deviceId"], "offset": 1,
                     "data": {"text": marker}}, e
        await page.wait('document.getElementById("pub-result").dataset.offset === "1"',
                        "publish answer with offset 1")
        row = await page.wait(row_with(marker), "the page's own message in its list")
        assert row == {"channel": "demo", "from": s["deviceId"], "offset": "1"}, row
        assert page.exceptions() == [], page.console

    run_page(browser, body)


@pytest.mark.time_limit(120)
def test_a_reload_keeps_the_identity(server, browser):
    srv = server()

    async def body(page):
        await page.goto(f"http://{srv.hostport}/")
        first = await page.wait(ONLINE_ON_DEMO, "login before the reload")
        await page.call("Page.reload")
        second = await page.wait(
            f"""(() => {{ const s = {ONLINE_ON_DEMO};
                           return s && s.signup === "200" ? s : null; }})()""",
            "login after the reload, signed up before")
        assert second["deviceId"] == first["deviceId"], (first, second)
        assert srv.stderr.count("development sign-up: device") == 1, srv.stderr

    run_page(browser, body)


@pytest.mark.time_limit(120)
def test_the_page_follows_a_restart_and_reports_the_lost_history(server, browser):
    """A drain (1001), then a new server on the same port with a new state dir: the page signs
    its key up again, logs in, resubscribes, and reports the channel's new epoch as a gap."""
    addr = f"127.0.0.1:{free_port()}"
    old = server(listen=addr)

    async def body(page):
        await page.goto(f"http://{addr}/")
        await page.wait(ONLINE_ON_DEMO, "login to the first server")
        await asyncio.get_running_loop().run_in_executor(None, old.stop)
        await page.wait("""document.getElementById("conn-state").dataset.state !== "online" """,
                        "the page noticing the drain")
        new = server(listen=addr)
        await page.wait(ONLINE_ON_DEMO, "login to the second server")
        await page.wait("""!!document.querySelector('#messages tr.gap[data-gap="epoch"]')""",
                        "a gap row for the new epoch")
        marker = f"after the restart {os.urandom(4).hex()}"
        status, answer = http_publish(new, "demo", marker)
        assert status == 202 and answer == {"delivered": 1, "offset": 1}, (status, answer)
        await page.wait(row_with(marker), "row with the message published after the restart")
        assert page.exceptions() == [], page.console

    run_page(browser, body)


@pytest.mark.time_limit(120)
def test_ringway_js_signs_the_protocol_test_vector(server, browser):
    """PROTOCOL.md's test vector through ringway.js in Chromium's WebCrypto: the device id, the
    public key and the (deterministic) Ed25519 signature over the six-line payload."""
    srv = server()
    vector = """(async () => {
      const m = await import("/ringway.js");
      const bytes = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
      const pkcs8 = bytes("302e020100300506032b657004220420" +
                          "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
      const raw = Uint8Array.from(atob("ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="),
                                  (c) => c.charCodeAt(0));
      const keys = {
        privateKey: await crypto.subtle.importKey("pkcs8", pkcs8, {name: "Ed25519"}, false,
                                                  ["sign"]),
        publicKey: await crypto.subtle.importKey("raw", raw, {name: "Ed25519"}, true, ["verify"])};
      const id = await m.identityFromKeys(keys);
      const text = m.signaturePayload(id.deviceId, "device", ["subscribe:chat.*", "send"],
                                      1767225600000, "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM");
      return {deviceId: id.deviceId, publicKey: id.publicKey, text, signature: await id.sign(text)};
    })()"""

    async def body(page):
        await page.goto(f"http://{srv.hostport}/")
        await page.wait("!!document.getElementById('conn-state')", "the page")
        v = await page.eval(vector)
        device_id = "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8"
        nonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM"
        assert v == {
            "deviceId": device_id,
            "publicKey": "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ",
            "text": "\n".join(["ringway-connect-v1", device_id, "device",
                               "subscribe:chat.*,send", "1767225600000", nonce]),
            "signature": "YBL1cFo2F3BLqDoEFYlkb97k0RZA1cSdLV1mJom9pZZjM5g53e8Bxofd3Cqq1qW8n"
                         "WQEyi4vB9QnPFm9IxgcBQ",
        }, v

    run_page(browser, body)


@pytest.mark.time_limit(120)
def test_outside_development_mode_the_page_says_which_line_to_add(server, browser, tmp_path):
    """With a registry of its own the server offers no sign-up: the page stops at once with the
    registry line for its key; with that line added and a SIGHUP, a reload logs in."""
    other = DeviceKey.generate()
    srv = start(server, tmp_path, [(other, ["send"])])

    async def body(page):
        await page.goto(f"http://{srv.hostport}/")
        s = await page.wait(f"""(() => {{ const s = {PAGE_STATE};
            return s && s.state === "stopped" ? s : null; }})()""", "the page giving up")
        assert s["signup"] == "404", s
        m = re.search(r"([A-Za-z0-9_-]{43}) subscribe:\*,publish:\*,send", s["problem"])
        assert m and "--devices" in s["problem"], s
        await page.screenshot(tmp_path / "outside-development-mode.png")
        with open(tmp_path / "devices.txt", "a") as f:
            f.write(m.group(0) + "\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_stderr(srv, "reloaded:")
        await page.call("Page.reload")
        s2 = await page.wait(ONLINE_ON_DEMO, "login after the registry line was added")
        assert s2["deviceId"] == s["deviceId"], (s, s2)

    run_page(browser, body)


@pytest.mark.time_limit(120)
def test_a_silent_path_is_found_dead_and_the_missed_offsets_reported(server, browser):
    """P = 500 ms: a path that goes silent (no FIN) is dead after 3·P + 250 ms of silence; the
    page reconnects, resubscribes and reports the offsets published meanwhile as a gap."""
    srv = server("--ping-interval", "500ms", "--idle-timeout", "60s")
    relay = Relay(srv.host, srv.port)
    try:
        async def body(page):
            await page.goto(f"http://127.0.0.1:{relay.port}/")
            await page.wait(ONLINE_ON_DEMO, "login through the relay")
            relay.freeze()
            frozen_at = time.monotonic()
            for i in (1, 2):
                assert http_publish(srv, "demo", f"missed {i}") == (202, {"delivered": 1,
                                                                         "offset": i})
            await page.wait("""!!document.querySelector(
                '#messages tr.gap[data-gap="offsets"]')""", "a gap row for offsets 1-2")
            took = time.monotonic() - frozen_at
            s = await page.eval(PAGE_STATE)
            gap = await page.eval("""document.querySelector('#messages tr.gap')
                                     .lastChild.textContent""")
            assert gap == "missed offsets 1–2 while away", gap
            dead = [c for c in page.console if "dead connection" in c]
            assert dead, page.console
            # Dead at 1.75 s of silence (which began up to one ping interval before the freeze),
            # then a reconnect within the first backoff (<= 100 ms), a login and a resubscribe.
            print(f"silent path: gap reported {took:.2f} s after the freeze")
            assert 1.2 <= took <= 6.0, (took, page.console)
            assert s["state"] == "online" and "demo" in s["channels"], s
            status, answer = http_publish(srv, "demo", "after the gap")
            assert answer == {"delivered": 2, "offset": 3}, answer  # the old session lingers
            row = await page.wait(row_with("after the gap"), "row with offset 3")
            assert row["offset"] == "3", row

        run_page(browser, body)
    finally:
        relay.close()
