"""Admin over MQTT (SPEC §5, issue 5): repeated transactions, runtime
settings with their source, reload, quiet hours, stats and signed commands,
all against the real daemon and a real mosquitto."""
import hashlib
import hmac
import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

from tests.integration.harness import (CTL, BOARD, BoardTest, Broker, Client, Daemon, event,
                                       now_iso, wait_for)

CMD = "teamboard/%s/cmd/" % BOARD
REPLY = "teamboard/%s/reply/" % BOARD
ACKS = "teamboard/%s/acks" % BOARD


def created(tid, **kw):
    kw.setdefault("channel", "email")
    kw.setdefault("priority", "normal")
    return event("ticket.created", tid, **kw)


class AdminTest(BoardTest):
    def command(self, verb, topic=None, **args):
        """Publishes one command and returns its reply (matched by transaction)."""
        args.setdefault("transaction", "tx-" + uuid.uuid4().hex[:8])
        self.client.publish(topic or CMD + verb, args)
        return self.reply(verb, args["transaction"])

    def reply(self, verb, transaction, count=1):
        def got():
            rs = [r for r in self.client.on(REPLY + verb) if r and r.get("transaction") == transaction]
            return rs if len(rs) >= count else None
        return wait_for(got, 5, "reply to %s %s" % (verb, transaction))[count - 1]


class RepeatedTransaction(AdminTest):
    def test_repeat_gets_stored_reply_and_acts_once(self):
        self.send(created("T-1"), created("T-2"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 2, 5, "two alerts")
        req = {"transaction": "once-1", "all": True, "agent": "dana"}
        self.client.publish(CMD + "ack", req)
        first = self.reply("ack", "once-1")
        self.assertEqual(first["status"], "ok")
        self.assertEqual(first["data"]["count"], 2)
        # The same command again (a QoS 1 redelivery, an admin's retry).
        self.send(created("T-3"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 1, 5, "third alert")
        self.client.publish(CMD + "ack", req)
        second = self.reply("ack", "once-1", count=2)
        self.assertEqual(second, first)
        # It did not act again: T-3 is still unacked, two ack records only.
        self.assertEqual(self.daemon.status()["counts"]["unacked"], 1)
        self.assertEqual(len(self.daemon.ok("acks")["acks"]), 2)
        # A new transaction acts.
        r = self.command("ack", all=True, agent="dana")
        self.assertEqual(r["data"]["count"], 1)


class RuntimeSettings(AdminTest):
    daemon_conf = "[alerts]\nack_timeout = 20m\n"

    def test_config_get_sources_set_persist_and_restart(self):
        r = self.command("config_get")
        self.assertEqual(r["status"], "ok")
        data = r["data"]
        self.assertEqual(data["alerts.ack_timeout"], {"value": "20m", "source": "file", "settable": True})
        self.assertEqual(data["alerts.escalate_after"]["source"], "default")
        self.assertEqual(data["board.id"]["source"], "file")
        self.assertFalse(data["mqtt.host"]["settable"])
        self.assertNotIn("password", json.dumps(data).replace("password_file", ""))

        r = self.command("config_set", key="alerts.escalate_after", value="90s")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["data"]["alerts.escalate_after"]["source"], "runtime")
        # Validated like the file.
        r = self.command("config_set", key="alerts.escalate_after", value="soon")
        self.assertEqual(r["status"], "error")
        self.assertIn("escalate_after", r["error"])
        r = self.command("config_set", key="mqtt.host", value="10.0.0.1")
        self.assertEqual(r["status"], "error")
        self.assertIn("cannot be changed at run time", r["error"])
        r = self.command("config_set", key="alerts.nonsense", value="1")
        self.assertEqual(r["status"], "error")

        # Survives a restart, and a reload lays it over the file again.
        self.daemon.stop()
        self.daemon.start()
        got = self.daemon.ok("config_get", key="alerts.escalate_after")["alerts.escalate_after"]
        self.assertIn(got["value"], ("90s", "1m30s"))
        self.assertEqual(got["source"], "runtime")
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "Configuration reloaded" in self.daemon.read_log(), 5, "reload")
        got = self.daemon.ok("config_get", key="alerts.escalate_after")["alerts.escalate_after"]
        self.assertEqual(got["source"], "runtime")
        # null: back to the file's value.
        r = self.command("config_set", key="alerts.escalate_after", value=None)
        self.assertEqual(r["data"]["alerts.escalate_after"]["source"], "default")
        self.assertEqual(r["data"]["alerts.escalate_after"]["value"], "5m")

    def test_reload_verb_keeps_old_config_when_file_is_bad(self):
        with open(self.daemon.conf, "a") as f:
            f.write("\n[alerts]\nwarn_at = 250%\n")
        r = self.command("reload")
        self.assertEqual(r["status"], "error")
        self.assertIn("warn_at", r["error"])
        self.assertEqual(self.daemon.ok("config_get", key="alerts.ack_timeout")["alerts.ack_timeout"]["value"], "20m")
        # A good file applies without dropping the broker session or the lines.
        self.daemon.write_conf("[alerts]\nack_timeout = 15m\n")
        connects = self.daemon.read_log().count("Connected to broker")
        r = self.command("reload")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(self.daemon.ok("config_get", key="alerts.ack_timeout")["alerts.ack_timeout"]["value"], "15m")
        self.assertEqual(self.daemon.read_log().count("Connected to broker"), connects)
        self.assertEqual(self.daemon.status()["broker"], "connected")
        # A changed [mqtt] needs a new session: the board reconnects by itself.
        with open(self.daemon.conf) as f:
            text = f.read()
        with open(self.daemon.conf, "w") as f:
            f.write(text.replace("keepalive = 5s", "keepalive = 7s"))
        r = self.command("reload")
        self.assertEqual(r["status"], "ok", r)
        wait_for(lambda: self.daemon.read_log().count("Connected to broker") == connects + 1, 10,
                 "reconnect with the new [mqtt] settings")
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 10, "connected again")
        self.assertEqual(self.command("ping")["status"], "ok")


class QuietHoursVerb(AdminTest):
    def test_quiet_hours_set_validated_and_effective(self):
        r = self.command("quiet_hours", windows="mon-sun 00:00-24:00", timezone="Europe/Warsaw")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["data"]["timezone"], "Europe/Warsaw")
        wait_for(lambda: self.daemon.status()["quiet"], 3, "board to be quiet")
        r = self.command("quiet_hours", windows="someday 25:00-26:00")
        self.assertEqual(r["status"], "error")
        r = self.command("quiet_hours", timezone="Mars/Olympus")
        self.assertEqual(r["status"], "error")
        # Off again.
        r = self.command("quiet_hours", windows="")
        self.assertEqual(r["status"], "ok", r)
        wait_for(lambda: not self.daemon.status()["quiet"], 3, "quiet to end")
        got = self.daemon.ok("config_get", key="alerts.timezone")["alerts.timezone"]
        self.assertEqual((got["value"], got["source"]), ("Europe/Warsaw", "runtime"))

    def test_quiet_suppresses_sound_and_its_end_reminds(self):
        r = self.command("quiet_hours", windows="mon-sun 00:00-24:00", timezone="Europe/Moscow")
        self.assertEqual(r["status"], "ok", r)
        wait_for(lambda: self.daemon.status()["quiet"], 3, "board to be quiet")
        self.send(created("T-9", priority="urgent"))
        self.wait_lamp("amber", "slow")
        self.assertNotIn("chirp", self.daemon.sounds())
        # The window goes away while T-9 is unacknowledged: the board reminds.
        self.command("quiet_hours", windows="")
        wait_for(lambda: "chirp" in self.daemon.sounds(), 3, "reminder after quiet hours")


class Stats(AdminTest):
    def test_stats_per_agent_and_channel(self):
        self.send(created("T-1", channel="facebook", priority="urgent"),
                  created("T-2", channel="facebook", priority="urgent"),
                  created("T-3", channel="email", priority="low"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 3, 5, "three alerts")
        self.daemon.ok("ack", ticket_id="T-1", agent="anna")
        self.daemon.ok("ack", ticket_id="T-2", agent="anna")
        self.daemon.ok("ack", ticket_id="T-3", agent="bob")
        r = self.command("stats", window="1h")
        self.assertEqual(r["status"], "ok", r)
        agents = {a["agent"]: a for a in r["data"]["agents"]}
        self.assertEqual(agents["anna"]["acks"], 2)
        self.assertEqual(agents["bob"]["acks"], 1)
        lat = sorted(a["latency_ms"] for a in self.daemon.ok("acks")["acks"] if a["agent"] == "anna")
        self.assertEqual(agents["anna"]["median_ack_ms"], lat[0])  # nearest rank of 2
        self.assertEqual(agents["anna"]["p90_ack_ms"], lat[1])
        chans = {(c["channel"], c["priority"]): c for c in r["data"]["channels"]}
        self.assertEqual(chans[("facebook", "urgent")]["acks"], 2)
        self.assertEqual(chans[("email", "low")]["acks"], 1)
        self.assertEqual(chans[("email", "low")]["breaches"], 0)
        r = self.command("stats", window="forever")
        self.assertEqual(r["status"], "error")

    def test_first_response_and_breaches_per_channel(self):
        self.send(created("T-1", channel="instagram", priority="high", ts=now_iso(-60)))
        self.send(event("ticket.replied", "T-1", ts=now_iso(-15)))
        self.send(event("sla.breached", "T-2", channel="phone", priority="urgent"))
        self.wait_lamp("red", "slow")
        def stats():
            d = self.command("stats", window="1h")["data"]
            return d if d["first_response"] and d["breaches"] else None
        d = wait_for(stats, 5, "first response and breach in stats")
        fr = {(x["channel"], x["priority"]): x for x in d["first_response"]}
        self.assertEqual(fr[("instagram", "high")]["tickets"], 1)
        self.assertAlmostEqual(fr[("instagram", "high")]["median_first_response_ms"], 45000,
                               delta=50)
        br = {(x["channel"], x["priority"]): x["breaches"] for x in d["breaches"]}
        self.assertEqual(br, {("phone", "urgent"): 1})
        out = subprocess.run([CTL, "-s", self.daemon.socket, "stats"], capture_output=True,
                             text=True, timeout=20).stdout
        self.assertRegex(out, r"instagram\s+high\s+1\s+45s")
        self.assertRegex(out, r"phone\s+urgent\s+1\n")

    def test_acks_filters_and_paging(self):
        tickets = ["T-%d" % i for i in range(5)]
        self.send(*[created(t) for t in tickets])
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 5, 5, "five alerts")
        for i, t in enumerate(tickets):
            self.daemon.ok("ack", ticket_id=t, agent="anna" if i % 2 else "bob")
        until = now_iso(1)
        seen, offset = [], 0
        while offset is not None:
            r = self.command("acks", limit=2, offset=offset, until=until)
            self.assertEqual(r["status"], "ok", r)
            self.assertLessEqual(len(r["data"]["acks"]), 2)
            seen += [a["id"] for a in r["data"]["acks"]]
            offset = r["data"]["next_offset"]
        self.assertEqual(len(seen), 5)
        self.assertEqual(len(set(seen)), 5)
        self.assertEqual(seen, [a["id"] for a in self.daemon.ok("acks")["acks"]])
        bob = self.command("acks", agent="bob")["data"]["acks"]
        self.assertEqual(sorted(a["ticket_id"] for a in bob), ["T-0", "T-2", "T-4"])
        self.assertEqual(self.command("acks", since=now_iso(60))["data"]["acks"], [])
        self.assertEqual(self.command("acks", offset=-1)["status"], "error")


KEY = b"correct horse battery staple"


def canonical(verb, target, req):
    body = json.dumps({k: v for k, v in req.items() if k != "sig"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return ("%s\n%s\n%s" % (verb, target, body)).encode()


def signed(verb, target=BOARD, key=KEY, **args):
    req = dict(args, ts=args.get("ts", now_iso()), nonce=args.get("nonce", uuid.uuid4().hex))
    req["sig"] = hmac.new(key, canonical(verb, target, req), hashlib.sha256).hexdigest()
    return req


class SignedCommands(AdminTest):
    @property
    def daemon_conf(self):
        # The harness writes the config before setUp knows tmp: use a fixed name in it.
        return "[admin]\nkey_file = %s\n" % os.path.join(self.tmp, "admin.key")

    def start_with_key(self):
        with open(os.path.join(self.tmp, "admin.key"), "wb") as f:
            f.write(KEY + b"\n")

    def test_signatures_ts_and_nonces(self):
        self.start_with_key()
        ok = signed("mute", transaction="s1", **{"for": "10m"})
        self.client.publish(CMD + "mute", ok)
        r = self.reply("mute", "s1")
        self.assertEqual(r["status"], "ok", r)
        self.assertIsNotNone(self.daemon.status()["muted_until"])

        # Unsigned, wrong key, tampered argument, stale ts: refused.
        r = self.command("unmute", transaction="s2")
        self.assertIn("signed", r["error"])
        bad = signed("unmute", key=b"wrong key", transaction="s3")
        self.client.publish(CMD + "unmute", bad)
        self.assertIn("bad signature", self.reply("unmute", "s3")["error"])
        tampered = signed("mute", transaction="s4", **{"for": "1m"})
        tampered["for"] = "7d"
        self.client.publish(CMD + "mute", tampered)
        self.assertIn("bad signature", self.reply("mute", "s4")["error"])
        stale = signed("unmute", transaction="s5", ts=now_iso(-3600))
        self.client.publish(CMD + "unmute", stale)
        self.assertIn("max_cmd_age", self.reply("unmute", "s5")["error"])
        # Signed for another verb or another board: refused.
        other = signed("ping", transaction="s6")
        self.client.publish(CMD + "unmute", other)
        self.assertIn("bad signature", self.reply("unmute", "s6")["error"])
        other = signed("unmute", target="floor9", transaction="s7")
        self.client.publish(CMD + "unmute", other)
        self.assertIn("bad signature", self.reply("unmute", "s7")["error"])
        self.assertIsNotNone(self.daemon.status()["muted_until"])

        # A replayed nonce under a new transaction is refused...
        first = signed("ping", transaction="s8", nonce="nonce-0001")
        self.client.publish(CMD + "ping", first)
        self.assertEqual(self.reply("ping", "s8")["status"], "ok")
        again = signed("ping", transaction="s9", nonce="nonce-0001")
        self.client.publish(CMD + "ping", again)
        self.assertIn("nonce already used", self.reply("ping", "s9")["error"])
        # ...while the very same command again gets its stored reply.
        self.client.publish(CMD + "mute", ok)
        r2 = self.reply("mute", "s1", count=2)
        self.assertEqual(r2["status"], "ok")

        # Fleet-wide commands are signed for the target "all".
        fleet = signed("unmute", target="all", transaction="s10")
        self.client.publish("teamboard/all/cmd/unmute", fleet)
        self.assertEqual(self.reply("unmute", "s10")["status"], "ok")
        self.assertIsNone(self.daemon.status()["muted_until"])
        # The local control socket needs no signature (its file mode is the guard).
        self.daemon.ok("mute", **{"for": "1m"})
        self.assertNotIn(KEY.decode(), self.daemon.read_log())


class CtlAdminVerbs(AdminTest):
    """teamboardctl offers the same verbs through the same dispatcher."""

    def ctl(self, *args, code=0):
        import subprocess
        from tests.integration.harness import CTL
        r = subprocess.run([CTL, "-s", self.daemon.socket] + list(args), capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        return r.stdout

    def test_config_quiet_hours_reload_and_stats_table(self):
        out = self.ctl("config", "set", "alerts.ack_timeout", "12m")
        self.assertRegex(out, r"alerts\.ack_timeout\s+runtime\s+\* 12m")
        out = self.ctl("config", "get")
        self.assertRegex(out, r"mqtt\.port\s+file\s+  %d\n" % self.broker.port)
        got = json.loads(self.ctl("--json", "config", "get", "alerts.ack_timeout"))
        self.assertEqual(got["alerts.ack_timeout"]["source"], "runtime")
        self.ctl("config", "set", "mqtt.port", "1", code=1)
        self.ctl("config", "frob", code=64)
        out = self.ctl("config", "unset", "alerts.ack_timeout")
        self.assertRegex(out, r"alerts\.ack_timeout\s+default\s+\* 10m")

        out = self.ctl("quiet-hours", "sat-sun 00:00-24:00", "--timezone", "Europe/Copenhagen")
        self.assertIn("Europe/Copenhagen", out)
        self.ctl("quiet-hours", "--off")
        self.ctl("quiet-hours", code=64)
        self.assertIn("reloaded", self.ctl("reload"))

        self.send(created("T-1", channel="phone", priority="high"))
        self.wait_lamp("amber", "slow")
        self.daemon.ok("ack", ticket_id="T-1", agent="erik")
        out = self.ctl("stats", "--window", "1h")
        self.assertRegex(out, r"AGENT\s+ACKS\s+BREACHES\s+MEDIAN\s+P90")
        self.assertRegex(out, r"erik\s+1\s+0\s")
        self.assertRegex(out, r"phone\s+high\s+1\s+0\s")
        self.ctl("stats", "--window", "soon", code=64)
        page = json.loads(self.ctl("--json", "acks", "--limit", "1", "--offset", "1"))
        self.assertEqual((page["acks"], page["offset"], page["next_offset"]), ([], 1, None))
        self.ctl("acks", "--offset", "x", code=64)


class HealthOnChange(AdminTest):
    # Health on change is rate-limited to one per 2 s: the "ok" after the
    # heartbeat goes out up to 2 s after the "stale" that the heartbeat
    # answers. The feed must stay ok well past that, or a daemon woken a
    # little late (a loaded machine) finds it stale again and rightly has
    # no change to report: with 2 s here the margin was the test's own
    # reaction time, and the test failed under parallel load.
    daemon_conf = "[alerts]\nfeed_timeout = 6s\n"

    def test_health_follows_feed_without_waiting_a_minute(self):
        topic = "teamboard/%s/health" % BOARD
        wait_for(lambda: self.client.on(topic), 5, "health on connect")
        # No backend message for feed_timeout: the feed goes stale, and
        # health says so long before its 60 s period.
        wait_for(lambda: any(h["feed"] == "stale" for h in self.client.on(topic)), 15,
                 "health with a stale feed")
        before = len(self.client.on(topic))
        self.send(event("heartbeat"))
        # Any health since, not only the last: the test may look late.
        wait_for(lambda: any(h["feed"] == "ok" for h in self.client.on(topic)[before:]), 8,
                 "health with the feed ok")


class HeldProxy:
    """A TCP relay between the daemon and the broker that can hold what the
    broker sends: the daemon's CONNECT goes through, the CONNACK waits in
    the relay until release()."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.holding = True
        self.lock = threading.Lock()
        self.socks = []
        self.down = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                down.close()
                continue
            with self.lock:
                self.socks += [down, up]
                self.down = down
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()

    def _pump(self, src, dst, from_broker):
        while True:
            try:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    if from_broker and self.holding:
                        self.held.append(data)
                        continue
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def holds_something(self):
        with self.lock:
            return bool(self.held)

    def release(self):
        with self.lock:
            self.holding = False
            for data in self.held:
                self.down.sendall(data)
            self.held = []

    def close(self):
        self.listener.close()
        with self.lock:
            for s in self.socks:
                s.close()


class HealthAfterLateConnack(BoardTest):
    """The loop is held up (a loaded machine) between its update and its
    next wait; meanwhile the broker's CONNACK arrives and the feed deadline
    passes, so the wake-up that follows reads the CONNACK before the update
    that would notice the stale feed. The health published on connect says
    "stale"; a heartbeat right after must still bring a health with the
    feed ok (it used to stay "stale" until the next 60 s health).

    The hold-up is deterministic: the simulated board's trace goes to a
    FIFO that the test keeps full, so the daemon blocks in its next output
    write (the end of the start-up lamp test) until the test drains it."""

    FEED_TIMEOUT_S = 6

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-test-")
        self.broker = Broker(self.tmp)
        self.broker.start()
        self.client = Client(self.broker.port)
        self.proxy = HeldProxy(self.broker.port)
        self.daemon = Daemon(self.tmp, self.proxy.port,
                             "[alerts]\nfeed_timeout = %ds\n" % self.FEED_TIMEOUT_S)
        # Before the CONNACK the keepalive is also the connect timeout: it
        # must outlast the hold-up.
        with open(self.daemon.conf) as f:
            conf = f.read()
        with open(self.daemon.conf, "w") as f:
            f.write(conf.replace("keepalive = 5s", "keepalive = 60s"))
        self.fifo = os.path.join(self.tmp, "trace.fifo")
        os.mkfifo(self.fifo)
        self.trace_r = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.trace_w = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        fcntl.fcntl(self.trace_w, fcntl.F_SETPIPE_SZ, 4096)
        self.drainer = None

    def tearDown(self):
        self.drain()
        super().tearDown()
        self.proxy.close()
        self.drainer.join(5)
        os.close(self.trace_r)

    def drain(self):
        """From now on the trace is read as it comes."""
        if self.drainer:
            return

        def run():
            while True:
                select.select([self.trace_r], [], [], 0.1)
                try:
                    if os.read(self.trace_r, 65536) == b"":
                        return  # the daemon closed its end
                except BlockingIOError:
                    pass
        os.close(self.trace_w)
        self.drainer = threading.Thread(target=run, daemon=True)
        self.drainer.start()

    def fill_trace(self):
        try:
            while True:
                os.write(self.trace_w, b"x")
        except BlockingIOError:
            pass

    def blocked_on_trace(self):
        with open("/proc/%d/wchan" % self.daemon.proc.pid) as f:
            return "pipe_write" in f.read()  # anon_pipe_write on newer kernels

    def test_heartbeat_right_after_a_stale_connect_reports_ok(self):
        topic = "teamboard/%s/health" % BOARD
        spawned = time.monotonic()  # the feed deadline is after spawned + timeout
        self.daemon.start({"TEAMBOARD_SIM_TRACE": self.fifo})
        answering = time.monotonic()  # ... and before answering + timeout
        wait_for(self.proxy.holds_something, 5, "the broker's CONNACK")
        self.fill_trace()
        # The lamp test ends 2 s after start: that output write blocks. It
        # must block before the feed deadline (its update step ran before
        # it), or this is not the case under test.
        while not self.blocked_on_trace():
            if time.monotonic() > spawned + self.FEED_TIMEOUT_S - 0.2:
                self.skipTest("the daemon did not block before its feed deadline (slow machine)")
            time.sleep(0.01)
        self.proxy.release()
        time.sleep(max(0, answering + self.FEED_TIMEOUT_S + 0.5 - time.monotonic()))
        self.drain()
        first = wait_for(lambda: self.client.on(topic), 10, "health on connect")[0]
        self.assertEqual(first["feed"], "stale")
        before = len(self.client.on(topic))
        self.send(event("heartbeat"))
        wait_for(lambda: any(h["feed"] == "ok" for h in self.client.on(topic)[before:]), 8,
                 "health with the feed ok")
