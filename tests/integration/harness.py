"""Test harness: a real mosquitto on 127.0.0.1 and a random free port, the
real teamboardd on the simulated board, an MQTT client for the backend's and
the admin's side, and the control socket.

Every wait is a condition polled until a deadline (never a bare sleep that
the test relies on); everything started is stopped in tearDown.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as paho

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("TEAMBOARD_BUILD", os.path.join(ROOT, "build"))
DAEMON = os.path.join(BUILD, "teamboardd")
CTL = os.path.join(BUILD, "teamboardctl")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
WRAP = os.environ.get("TEAMBOARD_WRAP", "").split()
# Under valgrind everything is ~20x slower.
SLOW = 8.0 if WRAP else 1.0
BOARD = "test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(dt):
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso(offset_s=0.0):
    return iso(datetime.now(timezone.utc) + timedelta(seconds=offset_s))


def wait_for(cond, timeout=5.0, what="condition", interval=0.02):
    """Polls cond() until it returns a truthy value; fails after timeout."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1f s waiting for %s (last: %r)"
                         % (timeout * SLOW, what, last))


def read_sim_trace(path):
    """TEAMBOARD_SIM_TRACE lines: (mono_ns, role, 0|1); [] before the file exists."""
    try:
        with open(path) as f:
            rows = [l.split() for l in f if l.strip()]
    except FileNotFoundError:
        return []
    return [(int(ns), role, int(v)) for ns, role, v in rows]


def events_total(http_port):
    """The daemon's teamboard_events_total counters from /metrics, by result."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port,
                                timeout=10 * SLOW) as r:
        text = r.read().decode()
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r'^teamboard_events_total\{result="(\w+)"\} (\d+)$', text, re.M)}


def valgrind_fd_leaks(path):
    """The descriptors valgrind's --track-fds=yes log at `path` shows open
    at exit that the process opened itself (not inherited, not 0-2)."""
    try:
        with open(path, errors="replace") as f:
            lines = [l.split("== ", 1)[-1].strip() for l in f]
    except OSError:
        return []
    leaks = []
    for i, line in enumerate(lines):
        if line.startswith("Open file descriptor "):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if "<inherited from parent>" not in nxt:
                leaks.append(line)
    return leaks


class Broker:
    def __init__(self, tmp, port=None, persistence=False):
        self.tmp = tmp
        self.port = port or free_port()
        self.persistence = persistence
        self.proc = None

    def start(self):
        conf = os.path.join(self.tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n" % self.port)
            if self.persistence:
                f.write("persistence true\npersistence_location %s/\n" % self.tmp)
            else:
                f.write("persistence false\n")
            f.write("log_dest file %s/mosquitto.log\n" % self.tmp)
            if os.geteuid() == 0:
                f.write("user root\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepting():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError("mosquitto exited with %s" % self.proc.returncode)
                return False
        wait_for(accepting, 10, "mosquitto to accept connections")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Client:
    """The backend / admin side: publishes events, records board messages."""

    def __init__(self, port, subscribe=("teamboard/#",), client_id=None):
        """client_id given: a persistent session (the broker queues QoS 1
        messages for it while it is away)."""
        self.messages = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.c = paho.Client(client_id=client_id or "test-" + uuid.uuid4().hex[:8],
                             protocol=paho.MQTTv311, clean_session=client_id is None)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.subscribe = subscribe
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        if not self.connected.wait(10 * SLOW):
            raise AssertionError("test MQTT client could not connect")

    def _on_connect(self, c, userdata, flags, rc):
        for t in self.subscribe:
            c.subscribe(t, qos=1)
        # Give the SUBACK a moment before tests publish.
        self.connected.set()

    def _on_message(self, c, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def publish(self, topic, payload, qos=1, retain=False):
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload)
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish()

    def on(self, topic):
        with self.lock:
            return [json.loads(p) if p else None for t, p, r in self.messages if t == topic]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class Daemon:
    def __init__(self, tmp, port, extra="", events_topic="helpdesk/+/events", board=BOARD):
        self.tmp = tmp
        self.board = board
        self.events_topic = events_topic
        self.port = port
        self.conf = os.path.join(tmp, "teamboard.conf")
        self.socket = os.path.join(tmp, "ctl.sock")
        self.db = os.path.join(tmp, "state", "teamboard.db")
        self.log = os.path.join(tmp, "teamboardd.log")
        self.proc = None
        self.fd_leaks = []  # under valgrind: fds open at a clean exit
        self.write_conf(extra)

    def write_conf(self, extra=""):
        with open(self.conf, "w") as f:
            f.write("""[board]
id = %s
profile = %s/board/sim.conf

[gpio]
backend = sim

[mqtt]
host = 127.0.0.1
port = %d
events_topic = %s
keepalive = 5s

[store]
path = %s

[control]
socket = %s

[display]
listen =

%s
""" % (self.board, ROOT, self.port, self.events_topic, self.db, self.socket, extra))

    def command(self):
        """teamboardd's command line, inside TEAMBOARD_WRAP if set."""
        wrap = WRAP
        if WRAP and os.path.basename(WRAP[0]) == "valgrind":
            # Its own log, so a clean stop can be checked for leaked fds.
            self.vglog = os.path.join(self.tmp, "valgrind.%d.log" % time.monotonic_ns())
            wrap = WRAP + ["--log-file=" + self.vglog]
        return wrap + [DAEMON, "-v", "-c", self.conf]

    def start(self, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.logf, stderr=self.logf, env=e)
        wait_for(lambda: self.alive_and_answering(), 10, "teamboardd control socket")

    def alive_and_answering(self):
        if self.proc.poll() is not None:
            raise AssertionError("teamboardd exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
        try:
            return self.ctl("ping")["status"] == "ok"
        except OSError:
            return False

    def ctl(self, verb, **args):
        req = dict(args, verb=verb)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5 * SLOW)
            s.connect(self.socket)
            s.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                buf += chunk
        return json.loads(buf)

    def ok(self, verb, **args):
        r = self.ctl(verb, **args)
        if r["status"] != "ok":
            raise AssertionError("%s failed: %s" % (verb, r.get("error")))
        return r["data"]

    def status(self):
        return self.ok("status")

    def lamps(self):
        return self.status()["lamps"]

    def sounds(self):
        return [s["sound"] for s in self.ok("sim_state")["sounds"]]

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        self.logf.close()
        vglog, self.vglog = getattr(self, "vglog", None), None
        if vglog and code is not None and code >= 0:
            self.fd_leaks += valgrind_fd_leaks(vglog)
            with open(vglog, errors="replace") as f, open(self.log, "a") as out:
                out.write(f.read())
        return code

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def event(etype, ticket_id=None, eid=None, ts=None, **fields):
    """Builds one backend event (SPEC §2)."""
    ev = {"v": 1, "id": eid or "evt-" + uuid.uuid4().hex[:10], "type": etype,
          "ts": ts or now_iso()}
    if ticket_id is not None:
        ticket = {"id": ticket_id}
        for k in ("channel", "priority", "public", "subject", "customer", "queue", "due"):
            if k in fields:
                ticket[k] = fields.pop(k)
        ev["ticket"] = ticket
    ev.update(fields)
    return ev


class BoardTest(unittest.TestCase):
    """One broker, one daemon and one MQTT client per test."""

    daemon_conf = ""
    events_topic = "helpdesk/+/events"
    daemon_env = {}
    persistence = False
    client_id = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-test-")
        self.broker = Broker(self.tmp, persistence=self.persistence)
        self.broker.start()
        self.client = Client(self.broker.port, client_id=self.client_id)
        self.daemon = Daemon(self.tmp, self.broker.port, self.daemon_conf, self.events_topic)
        self.daemon.start(self.daemon_env)
        self.wait_connected()
        # The start-up lamp test (all lamps on) must be over before lamp
        # assertions mean anything.
        wait_for(lambda: self.daemon.lamps()["red"] == "off", 5, "start-up lamp test to end")

    def tearDown(self):
        code = None
        if self.daemon.proc:
            code = self.daemon.stop()
        self.client.close()
        self.broker.stop()
        if self._failed() or os.environ.get("TEAMBOARD_KEEP"):
            print("\n--- teamboardd log (%s) ---\n%s" % (self.tmp, self.daemon.read_log()[-6000:]))
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if code is not None:
            self.assertIn(code, (0,), "teamboardd exit code (99 = valgrind error)")
        self.assertEqual(self.daemon.fd_leaks, [], "file descriptors teamboardd leaked")

    def _failed(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return False
        return any(t is self for t, _ in result.errors + result.failures)

    def wait_connected(self):
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 10, "daemon to connect")
        # Board status is retained; seeing it means our subscription works.
        wait_for(lambda: self.client.on("teamboard/%s/status" % BOARD), 10, "board status")

    def send(self, *events, topic="helpdesk/support/events"):
        payload = events[0] if len(events) == 1 else list(events)
        self.client.publish(topic, payload)

    def wait_lamp(self, lamp, pattern, timeout=5):
        return wait_for(lambda: self.daemon.lamps()[lamp] == pattern, timeout,
                        "%s lamp to be %s" % (lamp, pattern))

    def press(self, button="ack1", hold_ms=100):
        self.daemon.ok("sim_press", button=button, hold_ms=hold_ms)
