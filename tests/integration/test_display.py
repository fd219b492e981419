"""The wall display and its API (SPEC §6), against the real daemon: HTTP
API, Prometheus metrics checked by promtool, the access token, hostile
requests, server-sent events, and the page itself in headless Chromium.

Chromium and promtool are in tools/deps' `display` set. Without them these
tests are skipped, unless TEAMBOARD_REQUIRE_DISPLAY=1 (CI sets it) makes a
missing tool a failure.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from tests.integration import harness
from tests.integration.harness import (BOARD, SLOW, BoardTest, event, free_port, now_iso,
                                       wait_for)

try:
    from tests.integration import browser
except ImportError:  # pragma: no cover
    browser = None

REQUIRE = os.environ.get("TEAMBOARD_REQUIRE_DISPLAY") == "1"
PROMTOOL = shutil.which("promtool")
SHOTS = os.path.join(harness.BUILD, "screenshots")
TOKEN = "s3cret-display-token-0123456789"
MARKUP = '<img src=x onerror="document.title=\'pwned\'"><b>Order</b> & "refund"'


def need_browser():
    # Under valgrind the page would only measure valgrind; the API tests
    # above still run there and cover the server side.
    if harness.WRAP:
        raise unittest.SkipTest("browser tests are not run under valgrind")
    need(browser and browser.CHROMIUM, "chromium")


def need(tool, name):
    if tool:
        return
    if REQUIRE:
        raise AssertionError("%s is required (TEAMBOARD_REQUIRE_DISPLAY=1) but not installed" % name)
    raise unittest.SkipTest("%s not installed (tools/deps display)" % name)


class DisplayTest(BoardTest):
    """A daemon serving the display on a free loopback port."""

    display_extra = ""

    def setUp(self):
        self.http_port = free_port()
        self.daemon_conf = self.display_conf()
        super().setUp()

    def display_conf(self):
        return "[display]\nlisten = 127.0.0.1:%d\n%s" % (self.http_port, self.display_extra)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def get(self, path, headers=None, method="GET"):
        """(status, headers, body bytes); HTTP errors are answers too."""
        req = urllib.request.Request(self.url(path), headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get_json(self, path, **kw):
        status, _, body = self.get(path, **kw)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def ticket(self, tid, **kw):
        fields = dict(channel="facebook", priority="high", public=True, subject="Where is my order",
                      due={"first_response": now_iso(300)})
        fields.update(kw)
        return event("ticket.created", tid, **fields)


# The harness writes an empty [display] section; ours must replace it.
def _write_conf_without_display(self, extra=""):
    _orig_write_conf(self, extra)
    with open(self.conf) as f:
        text = f.read()
    if extra.count("[display]"):
        text = text.replace("[display]\nlisten =\n", "", 1)
    with open(self.conf, "w") as f:
        f.write(text)


_orig_write_conf = harness.Daemon.write_conf
harness.Daemon.write_conf = _write_conf_without_display


class ApiTest(DisplayTest):
    def test_state_is_the_status_document(self):
        self.send(self.ticket("T-1", subject=MARKUP))
        wait_for(lambda: self.get_json("/api/state")["counts"]["open"] == 1, 5, "ticket in /api/state")
        api = self.get_json("/api/state")
        status = self.daemon.status()
        for key in ("board", "version", "broker", "feed", "lamps", "buzzer", "counts", "clock_synced"):
            self.assertEqual(api[key], status[key], key)
        self.assertEqual(api["alerts"][0]["ticket_id"], "T-1")
        self.assertEqual(api["alerts"][0]["subject"], MARKUP)  # JSON carries text, unchanged
        self.assertEqual(api["board"], BOARD)

    def test_acks_and_todays_median(self):
        self.send(self.ticket("T-1"), self.ticket("T-2"), self.ticket("T-3"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 3, 5, "three alerts")
        for tid in ("T-1", "T-2", "T-3"):
            self.daemon.ok("ack", ticket_id=tid, agent="anna")
        acks = self.get_json("/api/acks")
        self.assertEqual([a["ticket_id"] for a in acks["acks"]], ["T-3", "T-2", "T-1"])
        self.assertEqual({a["agent"] for a in acks["acks"]}, {"anna"})
        lat = sorted(a["latency_ms"] for a in acks["acks"])
        self.assertEqual(acks["today"]["acks"], 3)
        self.assertEqual(acks["today"]["median_ms"], lat[1])
        self.assertEqual(len(self.get_json("/api/acks?limit=1")["acks"]), 1)
        self.assertEqual(len(self.get_json("/api/acks?since=1h&agent=anna")["acks"]), 3)
        self.assertEqual(self.get_json("/api/acks?agent=nobody")["acks"], [])
        self.assertEqual(self.get_json("/api/acks?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z")["acks"], [])
        for bad in ("since=yesterday", "limit=-1", "limit=x", "limit=99999999999999999999", "until=1999-13-01T00:00:00Z"):
            status, _, body = self.get("/api/acks?" + bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", json.loads(body))

    def test_healthz_and_headers(self):
        status, headers, body = self.get("/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["broker"], "connected")
        status, headers, body = self.get("/")
        self.assertEqual(status, 200)
        self.assertIn(b"/app.js", body)
        self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        status, _, _ = self.get("/", headers={"If-None-Match": headers["ETag"]})
        self.assertEqual(status, 304)
        for path in ("/app.js", "/app.css", "/favicon.svg"):
            self.assertEqual(self.get(path)[0], 200, path)
        self.assertEqual(self.get("/nothing-here")[0], 404)
        self.assertEqual(self.get("/../../etc/passwd")[0], 404)

    def test_read_only(self):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, headers, _ = self.get("/api/state", method=method)
            self.assertEqual(status, 405, method)
            self.assertIn("GET", headers["Allow"])

    def test_metrics_pass_promtool(self):
        self.send(self.ticket("T-1"), self.ticket("T-2", channel="vk"))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 2, 5, "two tickets")
        self.daemon.ok("ack", ticket_id="T-1", agent="anna")
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        self.assertIn('teamboard_alerts{level="open"} 2\n', text)
        self.assertIn('teamboard_alerts{level="unacked"} 1\n', text)
        self.assertIn('teamboard_channel_tickets{channel="vk",state="open"} 1\n', text)
        self.assertIn("teamboard_broker_connected 1\n", text)
        self.assertIn("teamboard_acks_total 1\n", text)
        self.assertRegex(text, r"teamboard_ack_latency_median_seconds \d")
        self.assertIn('teamboard_lamp{lamp="amber",pattern="slow"} 1\n', text)
        need(PROMTOOL, "promtool (Debian package prometheus)")
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_event_stream_pushes_within_a_second(self):
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=10 * SLOW) as s:
            # HTTP/1.0: no chunked framing, the body is the event stream itself.
            s.sendall(b"GET /events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
            buf = b""
            while b"event: acks" not in buf:
                buf += s.recv(65536)
            head, body = buf.split(b"\r\n\r\n", 1)
            self.assertIn(b"200 OK", head.split(b"\r\n")[0])
            self.assertIn(b"text/event-stream", head)

            def events():
                """Complete messages so far: (event, parsed data)."""
                out = []
                for block in body.split(b"\n\n")[:-1]:
                    fields = dict(l.split(b": ", 1) for l in block.split(b"\n") if b": " in l)
                    if b"event" in fields:
                        out.append((fields[b"event"].decode(), json.loads(fields[b"data"])))
                return out

            self.assertEqual([e for e, _ in events()], ["config", "state", "acks"])
            self.assertEqual(events()[0][1]["language"], "en")
            t0 = time.monotonic()
            self.send(self.ticket("T-PUSH"))
            while not any(e == "state" and d["counts"]["open"] == 1 for e, d in events()):
                body += s.recv(65536)
            elapsed = time.monotonic() - t0
            self.assertLess(elapsed, 1.0 * SLOW, "state pushed after %.3f s" % elapsed)
            # Each message is complete on its own (no stray bytes between them).
            self.assertTrue(body.endswith(b"\n\n"), body[-40:])
            self.assertNotIn(b"\0", body)

    def test_hostile_requests_do_not_hurt(self):
        junk = [b"\x00\xff\xfe garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 200000 + b"\r\n\r\n",
                b"GET /api/acks?since=%ff%fe%00&limit=%%% HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /events HTTP/1.1\r\nHost: x\r\n",  # never finished
                b"POST /api/state HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nxx"]
        socks = []
        for j in junk:
            s = socket.create_connection(("127.0.0.1", self.http_port), timeout=5 * SLOW)
            try:
                s.sendall(j)
            except OSError:
                pass  # the server may already have refused it
            socks.append(s)
        # More clients than the connection limit, idle.
        for _ in range(80):
            try:
                socks.append(socket.create_connection(("127.0.0.1", self.http_port), timeout=5 * SLOW))
            except OSError:
                break
        for s in socks:
            s.close()
        wait_for(lambda: self.get("/healthz")[0] == 200, 10, "the display to answer again")
        self.assertEqual(self.daemon.status()["broker"], "connected")


class TokenTest(DisplayTest):
    def setUp(self):
        self.token_path = None
        super().setUp()

    def display_conf(self):
        import tempfile
        fd, self.token_path = tempfile.mkstemp(prefix="teamboard-token-")
        os.write(fd, (TOKEN + "\n").encode())
        os.close(fd)
        return "[display]\nlisten = 127.0.0.1:%d\ntoken_file = %s\n" % (self.http_port, self.token_path)

    def tearDown(self):
        super().tearDown()
        if self.token_path:
            os.unlink(self.token_path)

    def test_data_needs_the_token(self):
        for path in ("/api/state", "/api/acks", "/metrics", "/events"):
            status, headers, _ = self.get(path)
            self.assertEqual(status, 401, path)
            self.assertIn("Bearer", headers["WWW-Authenticate"])
            self.assertEqual(self.get(path + "?token=wrong-token-0123456789")[0], 401, path)
        self.assertEqual(self.get("/api/state?token=" + TOKEN)[0], 200)
        self.assertEqual(self.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})[0], 200)
        # The page and its assets hold no data; liveness is for probes.
        self.assertEqual(self.get("/")[0], 200)
        self.assertEqual(self.get("/app.js")[0], 200)
        self.assertEqual(self.get("/healthz")[0], 200)

    def test_short_token_is_a_config_error(self):
        self.daemon.stop()
        with open(self.token_path, "w") as f:
            f.write("short\n")
        p = subprocess.run([harness.DAEMON, "-c", self.daemon.conf], capture_output=True, timeout=30 * SLOW)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn(b"token", p.stderr)


class PortTakenTest(DisplayTest):
    """Another program holds the display's port: the board still runs."""

    def setUp(self):
        self.squatter = socket.socket()
        self.squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.squatter.bind(("127.0.0.1", 0))
        self.squatter.listen(1)
        super().setUp()

    def display_conf(self):
        self.http_port = self.squatter.getsockname()[1]
        return super().display_conf()

    def tearDown(self):
        super().tearDown()
        self.squatter.close()

    def test_board_runs_without_its_display(self):
        self.assertIn("Wall display not started", self.daemon.read_log())
        self.send(self.ticket("T-1"))
        self.wait_lamp("amber", "slow")


@unittest.skipIf(browser is None, "browser helper missing")
class BrowserTest(DisplayTest):
    """The page in headless Chromium, one browser for the whole class."""


    @classmethod
    def setUpClass(cls):
        need_browser()
        cls.browser = browser.Browser()

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()

    def setUp(self):
        super().setUp()
        self.b = self.browser
        self.b.set_size(1920, 1080)

    def load(self, query=""):
        self.b.navigate(self.url("/" + query))
        wait_for(lambda: self.b.eval("document.body && document.body.dataset.ready === '1'"), 15,
                 "the page to show the board's state")

    def js(self, expr):
        return self.b.eval(expr)

    def row(self, tid):
        return self.js("(() => { const r = document.querySelector('tr[data-ticket=%s]');"
                       " return r ? r.innerText : null; })()" % json.dumps(tid))

    def shot(self, name):
        return self.b.screenshot(os.path.join(SHOTS, name + ".png"))

    def test_events_show_within_a_second_and_markup_stays_text(self):
        self.load()
        self.assertIn("No open tickets", self.js("document.getElementById('empty').innerText"))
        t0 = time.monotonic()
        self.send(self.ticket("T-1042", subject=MARKUP, channel="instagram", priority="urgent"))
        wait_for(lambda: self.row("T-1042"), 1.0, "the ticket row", interval=0.01)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 1.0 * SLOW)
        subject = self.js("document.querySelector('tr[data-ticket=\"T-1042\"] .subject').textContent")
        self.assertEqual(subject, MARKUP)
        self.assertEqual(self.js("document.querySelectorAll('#tickets img, #tickets b').length"), 0)
        self.assertNotEqual(self.js("document.title"), "pwned")
        text = self.row("T-1042")
        for word in ("Instagram", "New", "Urgent", "Public", "Waiting"):
            self.assertIn(word, text)
        self.assertEqual(self.js("document.querySelector('[data-counter=unacked] .num').textContent"), "1")
        self.assertEqual(self.js("document.querySelector('[data-lamp=amber]').dataset.pattern"), "slow")
        self.assertEqual(self.js("document.querySelector('[data-channel=instagram] .qopen').textContent"), "1")

        # Acknowledged: the row, the recent acks and today's median follow.
        t0 = time.monotonic()
        self.daemon.ok("ack", ticket_id="T-1042", agent="anna")
        wait_for(lambda: "anna" in (self.row("T-1042") or ""), 1.0, "acked by anna", interval=0.01)
        self.assertLess(time.monotonic() - t0, 1.0 * SLOW)
        wait_for(lambda: self.js("document.querySelector('#acks li .aagent') &&"
                                 " document.querySelector('#acks li .aagent').textContent") == "anna",
                 2, "the ack in recent acks")
        self.assertNotEqual(self.js("document.getElementById('median').dataset.medianMs"), "")
        self.assertIn("Median time to ack today", self.js("document.getElementById('median').innerText"))

    def test_countdown_ticks_from_server_time_not_the_browser_clock(self):
        # The kiosk's clock is an hour fast: nothing on screen may follow it.
        self.b.add_script_on_load("""(() => { const R = Date, off = 3600e3;
            class D extends R { constructor(...a) { if (a.length) super(...a); else super(R.now() + off); }
                                static now() { return R.now() + off; } }
            window.Date = D; })();""")
        self.send(self.ticket("T-7", due={"first_response": now_iso(600)}))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 1, 5, "ticket")
        self.load()
        self.assertGreater(self.js("Date.now() - performance.timeOrigin"), 3000e3)  # the fake works

        def seconds():
            txt = self.js("document.querySelector('tr[data-ticket=\"T-7\"] .sla').textContent").strip()
            m = re.search(r"(−?)(\d+):(\d\d)$", txt)
            self.assertIsNotNone(m, txt)
            return (-1 if m.group(1) else 1) * (int(m.group(2)) * 60 + int(m.group(3)))

        first = seconds()
        self.assertTrue(560 <= first <= 600, first)
        wait_for(lambda: seconds() < first, 2.5, "the countdown to tick")
        wait_for(lambda: seconds() <= first - 2, 4, "the countdown to keep ticking")
        self.assertIn("running", self.js("document.querySelector('tr[data-ticket=\"T-7\"] .sla').className"))
        # The clock shows the board's time (UTC here), not the browser's.
        shown = self.js("document.getElementById('clock').textContent")
        utc = [time.strftime("%H:%M", time.gmtime(time.time() + d)) for d in (-60, 0, 60)]
        self.assertIn(shown, utc)
        # Paused: frozen and grey, with its own icon and word.
        self.send(event("sla.paused", "T-7"))
        wait_for(lambda: "paused" in self.js("document.querySelector('tr[data-ticket=\"T-7\"] .sla').className"),
                 1.0, "paused countdown")
        frozen = seconds()
        time.sleep(1.2)  # nothing to wait for: checks that nothing changes
        self.assertEqual(seconds(), frozen)
        self.assertIn("Paused", self.row("T-7"))

    def test_languages(self):
        self.send(self.ticket("T-1", channel="email"))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 1, 5, "ticket")
        expect = {
            "en": ("Unacknowledged", "E-mail", "Channel", r"^\d\d:\d\d$"),
            "ru": ("Не принято", "Эл. почта", "Канал", r"^\d\d:\d\d$"),
            "pl": ("Niepotwierdzone", "E-mail", "Kanał", r"^\d\d:\d\d$"),
            "da": ("Ikke kvitteret", "E-mail", "Kanal", r"^\d\d[.:]\d\d$"),
        }
        for lang, (counter, channel, column, clock) in expect.items():
            self.load("?lang=" + lang)
            wait_for(lambda: self.js("document.body.dataset.lang") == lang, 5, "language " + lang)
            self.assertEqual(self.js("document.documentElement.lang"), lang)
            self.assertEqual(self.js("document.querySelector('[data-counter=unacked] .label').textContent"), counter)
            self.assertIn(channel, self.row("T-1"))
            self.assertEqual(self.js("document.querySelector('#thead th').textContent"), column)
            self.assertRegex(self.js("document.getElementById('clock').textContent"), clock)
            self.shot("display-1920x1080-%s" % lang)

    def test_banners_and_notices(self):
        self.load()
        self.daemon.ok("incident", open=True, title="Payments down <script>")
        wait_for(lambda: self.js("!!document.querySelector('[data-banner=incident]')"), 1.0, "incident banner")
        self.assertIn("Payments down <script>", self.js("document.querySelector('[data-banner=incident]').textContent"))
        self.daemon.ok("mute", **{"for": "10m"})
        wait_for(lambda: self.js("!!document.querySelector('[data-banner=muted]')"), 1.0, "muted banner")
        self.assertIn("muted until", self.js("document.querySelector('[data-banner=muted]').textContent"))
        self.shot("display-banners")
        # The broker goes away: the board is offline from the helpdesk.
        self.broker.stop()
        wait_for(lambda: self.js("!!document.querySelector('[data-banner=broker]')"), 3, "broker banner")
        # The daemon goes away: the page says so, and comes back by itself.
        self.daemon.stop()
        wait_for(lambda: self.js("!!document.querySelector('[data-banner=offline]')"), 8, "offline banner")
        self.assertEqual(self.js("document.body.classList.contains('stale')"), True)
        self.broker.start()
        self.daemon.start()
        wait_for(lambda: not self.js("!!document.querySelector('[data-banner=offline]')"), 10,
                 "the page to reconnect by itself")

    def test_empty_and_500_tickets_fit_both_sizes(self):
        for w, h in ((1920, 1080), (1280, 720)):
            self.b.set_size(w, h)
            self.load()
            self.assertEqual(self.js("document.getElementById('empty').hidden"), False)
            self.assertLessEqual(self.js("document.documentElement.scrollHeight"), h)
            self.shot("display-%dx%d-empty" % (w, h))
        channels = ["facebook", "instagram", "twitter", "vk", "telegram", "email", "chat", "phone"]
        prios = ["urgent", "high", "normal", "low"]
        batch = []
        for i in range(500):
            batch.append(self.ticket("T-%04d" % i, channel=channels[i % 8], priority=prios[i % 4],
                                     public=i % 3 == 0, subject="Customer question number %d" % i,
                                     due={"first_response": now_iso(120 + 7 * i)}))
            if len(batch) == 100:
                self.send(*batch)
                batch = []
        wait_for(lambda: self.js("document.querySelector('[data-counter=open] .num').textContent") == "500",
                 15, "500 open tickets on screen")
        for w, h in ((1920, 1080), (1280, 720)):
            self.b.set_size(w, h)
            wait_for(lambda: self.js("window.innerWidth") == w, 5, "viewport")
            # A fresh render at this size: any message makes the board push its state.
            updates = int(self.js("document.body.dataset.updates"))
            self.send(event("heartbeat"))
            wait_for(lambda: int(self.js("document.body.dataset.updates")) > updates, 3, "a re-render")
            wait_for(lambda: not self.js("document.getElementById('more').hidden"), 3, "the '+N more' line")
            visible = int(self.js("document.body.dataset.visibleRows"))
            self.assertGreaterEqual(visible, 8 if h == 720 else 10)
            more = self.js("document.getElementById('more').textContent")
            self.assertIn("+%d more tickets not shown" % (500 - visible), more)
            self.assertLessEqual(self.js("document.documentElement.scrollHeight"), h)
            # Readable from five metres: big numerals, row text >= 18 px.
            num_px = float(self.js("getComputedStyle(document.querySelector('.counter .num')).fontSize")[:-2])
            row_px = float(self.js("getComputedStyle(document.querySelector('#tickets td')).fontSize")[:-2])
            self.assertGreaterEqual(num_px, 60 if h == 720 else 90)
            self.assertGreaterEqual(row_px, 18 if h == 720 else 26)
            self.shot("display-%dx%d-500" % (w, h))

    def test_contrast_and_shapes(self):
        self.send(self.ticket("T-1", priority="urgent"), self.ticket("T-2", priority="low", public=False),
                  self.ticket("T-3", due={"first_response": now_iso(-5)}))
        self.daemon.ok("incident", open=True, title="Outage")
        wait_for(lambda: self.daemon.status()["counts"]["breached"] >= 1, 5, "a breach")
        self.load()
        wait_for(lambda: self.js("document.querySelectorAll('#tickets tr').length") == 3, 2, "rows")
        # WCAG AA: 4.5:1, or 3:1 for large text (>= 24 px, or >= 18.66 px bold).
        worst = self.js(r"""(() => {
            const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
            const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255;
                return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
                return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
            const bg = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c; } return [255, 255, 255]; };
            let worst = null;
            for (const e of document.querySelectorAll('body *')) {
                if (!e.offsetParent || e.closest('svg')) continue;
                const own = [...e.childNodes].some(n => n.nodeType === 3 && n.data.trim());
                if (!own) continue;
                const st = getComputedStyle(e); let opacity = 1;
                for (let p = e; p; p = p.parentElement) opacity *= Number(getComputedStyle(p).opacity);
                if (opacity < 1) continue;
                const fg = rgb(st.color), b = bg(e);
                const l1 = lum(fg), l2 = lum(b);
                const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
                const px = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
                const need = (px >= 24 || (bold && px >= 18.66)) ? 3 : 4.5;
                const margin = ratio / need;
                if (!worst || margin < worst.margin)
                    worst = { margin, ratio, need, text: e.textContent.slice(0, 40), cls: e.className };
            }
            return worst; })()""")
        self.assertGreaterEqual(worst["margin"], 1.0, worst)
        # Colour is never the only signal: every countdown, kind and lamp has
        # an icon or a word next to its colour.
        self.assertEqual(self.js("[...document.querySelectorAll('.sla')].every(e => e.querySelector('use') && e.textContent.trim())"), True)
        self.assertEqual(self.js("[...document.querySelectorAll('.kind')].every(e => e.querySelector('use') && e.textContent.trim())"), True)
        self.assertEqual(self.js("[...document.querySelectorAll('.lamp')].every(e => e.querySelector('.lstate').textContent.trim())"), True)
        self.assertIn("Breached", self.row("T-3"))
        self.assertIn("Private", self.row("T-2"))
        self.shot("display-1920x1080-alerts")


class ClockTest(DisplayTest):
    """A board whose clock is not synchronised says so on the page."""

    def setUp(self):
        os.environ["TEAMBOARD_CLOCK"] = "unsynced"
        try:
            super().setUp()
        finally:
            del os.environ["TEAMBOARD_CLOCK"]

    def test_clock_notice(self):
        need_browser()
        self.assertFalse(self.get_json("/api/state")["clock_synced"])
        b = browser.Browser(1280, 720)
        try:
            b.navigate(self.url("/?lang=pl"))
            wait_for(lambda: b.eval("document.body && document.body.dataset.ready") == "1", 15, "page")
            wait_for(lambda: not b.eval("document.getElementById('notice').hidden"), 2, "clock notice")
            self.assertIn("nie jest zsynchronizowany", b.eval("document.getElementById('notice').textContent"))
            b.screenshot(os.path.join(SHOTS, "display-1280x720-pl-clock.png"))
        finally:
            b.close()


class FeedStaleTest(DisplayTest):
    display_extra = "\n[alerts]\nfeed_timeout = 2s\n"

    def test_feed_stale_banner(self):
        wait_for(lambda: self.get_json("/api/state")["feed"] == "stale", 6, "feed to go stale")
        need_browser()
        b = browser.Browser(1280, 720)
        try:
            b.navigate(self.url("/?lang=da"))
            wait_for(lambda: b.eval("!!document.querySelector('[data-banner=stale]')"), 15, "stale banner")
            self.assertIn("Ingen data fra helpdesken", b.eval("document.querySelector('[data-banner=stale]').textContent"))
            self.send(event("heartbeat"))
            wait_for(lambda: not b.eval("!!document.querySelector('[data-banner=stale]')"), 1.0,
                     "banner gone on the next message")
        finally:
            b.close()


if __name__ == "__main__":
    unittest.main()
