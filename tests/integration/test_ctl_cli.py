"""teamboardctl on its own: usage errors (64), an unreachable or silent
daemon (69), and what it sends and prints, against a small fake daemon that
speaks the control protocol (docs/teamboardctl.md) on a UNIX socket.

The real daemon end to end is covered by the other integration tests.
"""
import csv
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("TEAMBOARD_BUILD", os.path.join(ROOT, "build"))
CTL = os.path.join(BUILD, "teamboardctl")
WRAP = os.environ.get("TEAMBOARD_WRAP", "").split()
SLOW = 8.0 if WRAP else 1.0

COMMANDS = ["status", "acks", "ack", "silence", "mute", "unmute", "lamp-test", "identify",
            "incident open", "incident close", "ping", "watch", "sim press", "sim double",
            "sim state", "raw"]

STATUS = {
    "board": "floor2", "version": "1.2.3", "broker": "connected", "feed": "ok",
    "blind": False, "muted_until": None, "silenced_until": None, "quiet": False,
    "incident": {"title": "Payments down"},
    "lamps": {"red": "slow", "amber": "steady", "green": "off", "blue": "steady"},
    "buzzer": "alarm",
    "counts": {"open": 3, "unacked": 1, "warning": 0, "breached": 1},
    "alerts": [
        {"ticket_id": "T-1042", "kind": "breached", "state": "unacked", "escalated": False,
         "channel": "facebook", "priority": "urgent", "public": True,
         "subject": "Заказ не пришёл \x1b[2J" + "очень длинная тема " * 8,
         "due_in_s": -63, "paused": False, "acked_by": None, "assignee": None},
        {"ticket_id": "T-7", "kind": "new", "state": "acked", "escalated": False,
         "channel": "email", "priority": "low", "public": False, "subject": "Invoice",
         "due_in_s": 252, "paused": False, "acked_by": "anna", "assignee": None},
        {"ticket_id": "T-8", "kind": "warning", "state": "acked", "escalated": False,
         "channel": "vk", "priority": "high", "public": True, "subject": "Waiting",
         "due_in_s": 30, "paused": True, "acked_by": "boris", "assignee": None},
    ],
    "buttons": {"ack1": {"agent": "anna", "pressed": False, "stuck": False}},
    "outbox_depth": 0, "clock_synced": True,
}

ACKS = [
    {"v": 1, "id": "floor2-000123", "board": "floor2", "ticket_id": "T-1042",
     "alert": "sla.breached", "agent": "anna", "source": "button", "button": "ack1",
     "at": "2026-11-25T10:06:12.345Z", "latency_ms": 72345, "event_id": "evt-8a01"},
    {"v": 1, "id": "floor2-000124", "board": "floor2", "ticket_id": "T-7",
     "alert": "ticket.created", "agent": 'Smith, "J"', "source": "ctl", "button": None,
     "at": "2026-11-25T10:07:00.000Z", "latency_ms": 500, "event_id": None},
]


def state(**lamps):
    s = json.loads(json.dumps(STATUS))
    s["lamps"].update(lamps)
    return s


class FakeDaemon:
    """Accepts connections on `path`; every request line is recorded and
    passed to `handler(daemon, conn, request)`, which sends what it likes."""

    def __init__(self, path, handler=None, data=None):
        self.path = path
        self.handler = handler or FakeDaemon.reply_ok
        self.data = data or {}
        self.requests = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @staticmethod
    def send(conn, obj):
        conn.sendall((obj if isinstance(obj, str) else json.dumps(obj)).encode() + b"\n")

    @staticmethod
    def reply_ok(daemon, conn, req):
        FakeDaemon.send(conn, {"transaction": req.get("transaction"), "status": "ok",
                               "data": daemon.data.get(req.get("verb"), {})})

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line)
                    with self.lock:
                        self.requests.append(req)
                    if self.handler(self, conn, req) == "close":
                        conn.close()
                        return
        except OSError:
            return

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None

    def stop(self):
        self.stopping = True
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.sock.close()
        self.thread.join(2)


class CtlTest(unittest.TestCase):
    def setUp(self):
        if not os.access(CTL, os.X_OK):
            self.skipTest("%s not built" % CTL)
        self.tmp = tempfile.mkdtemp(prefix="tbctl-")
        self.sock = os.path.join(self.tmp, "ctl.sock")
        self.fake = None
        self.env = {k: v for k, v in os.environ.items() if k != "TEAMBOARD_SOCKET"}
        self.env.pop("NO_COLOR", None)

    def tearDown(self):
        if self.fake:
            self.fake.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, handler=None, **data):
        self.fake = FakeDaemon(self.sock, handler, data)
        return self.fake

    def run_ctl(self, *args, env=None, timeout=10):
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run(WRAP + [CTL] + list(args), capture_output=True, env=e,
                           stdin=subprocess.DEVNULL, timeout=timeout * SLOW)
        # bytes decoded by hand: CSV's CRLF must survive
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def ctl(self, *args, **kw):
        return self.run_ctl("-s", self.sock, *args, **kw)

    def assertUsage(self, *args):
        rc, out, err = self.ctl(*args)
        self.assertEqual(rc, 64, "%r: rc %d, stderr %r" % (args, rc, err))
        self.assertIn("--help", err, args)
        self.assertEqual(out, "", args)
        return err


class Usage(CtlTest):
    def test_help_anywhere_lists_every_command(self):
        for args in (["--help"], ["-h"], ["status", "--help"], ["frob", "-h"],
                     ["-s", "/nonexistent", "acks", "--limit", "x", "--help"]):
            rc, out, err = self.run_ctl(*args)
            self.assertEqual(rc, 0, args)
            for c in COMMANDS:
                self.assertIn(c, out, (args, c))
            for o in ("--json", "--csv", "--since", "--hold", "-t TIMEOUT", "TEAMBOARD_SOCKET"):
                self.assertIn(o, out)

    def test_version(self):
        rc, out, err = self.run_ctl("--version")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith("teamboardctl "), out)

    def test_usage_errors_exit_64_before_connecting(self):
        # No daemon: a 64 here proves the check happens before the socket.
        cases = [
            [], ["frob"], ["--frob", "status"], ["status", "extra"], ["status", "--bogus"],
            ["acks", "--limit", "0"], ["acks", "--limit", "x"], ["acks", "--limit"],
            ["acks", "--since", "yesterday"], ["acks", "--until", "2026-13-01T00:00:00Z"],
            ["acks", "--csv", "--json"], ["silence", "--for", "soon"], ["mute", "--for", "0"],
            ["ack", "T-1", "--all"], ["ack", "T-1", "T-2"], ["ack", "--agent", ""],
            ["incident"], ["incident", "reopen"], ["incident", "close", "now"],
            ["sim"], ["sim", "press"], ["sim", "jump", "ack1"], ["sim", "state", "x"],
            ["sim", "press", "ack1", "--hold", "-5"], ["sim", "press", "ack1", "--hold", "0"],
            ["sim", "double", "ack1", "--hold", "5"], ["raw"], ["raw", "ping", "[1]"],
            ["raw", "ping", "{bad"], ["-t", "0", "ping"], ["-t", "soon", "ping"],
            ["unmute", "now"], ["watch", "--fast"], ["ping", "--json=1"],
        ]
        for args in cases:
            self.assertUsage(*args)
        rc, out, err = self.run_ctl("-s")
        self.assertEqual(rc, 64)

    def test_usage_error_message_is_one_line_plus_hint(self):
        err = self.assertUsage("frob")
        self.assertEqual(err.strip().splitlines(),
                         ["teamboardctl: unknown command 'frob'",
                          "Try 'teamboardctl --help' for more information."])


class Unreachable(CtlTest):
    def test_no_socket_file(self):
        rc, out, err = self.ctl("status")
        self.assertEqual(rc, 69)
        self.assertIn(self.sock, err)
        self.assertEqual(out, "")

    def test_env_socket_is_used_and_named(self):
        path = os.path.join(self.tmp, "from-env.sock")
        rc, out, err = self.run_ctl("ping", env={"TEAMBOARD_SOCKET": path})
        self.assertEqual(rc, 69)
        self.assertIn(path, err)

    def test_stale_socket_nobody_listening(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock)
        s.close()
        rc, out, err = self.ctl("ping")
        self.assertEqual(rc, 69)
        self.assertIn(self.sock, err)

    def test_closed_before_reply(self):
        self.serve(lambda d, conn, req: "close")
        rc, out, err = self.ctl("status")
        self.assertEqual(rc, 69)
        self.assertIn("closed the connection before replying", err)
        self.assertIn(self.sock, err)

    def test_silent_daemon_times_out(self):
        self.serve(lambda d, conn, req: None)
        t0 = time.monotonic()
        rc, out, err = self.ctl("-t", "300ms", "status")
        self.assertEqual(rc, 69)
        self.assertIn("no reply", err)
        self.assertIn(self.sock, err)
        if not WRAP:
            self.assertLess(time.monotonic() - t0, 3)

    def test_garbage_reply(self):
        self.serve(lambda d, conn, req: FakeDaemon.send(conn, "this is not json"))
        rc, out, err = self.ctl("ping")
        self.assertEqual(rc, 69)


class Requests(CtlTest):
    def test_arguments_reach_the_daemon(self):
        fake = self.serve()
        cases = [
            (["ping"], {"verb": "ping"}),
            (["status"], {"verb": "status"}),
            (["ack"], {"verb": "ack"}),
            (["ack", "T-1042", "--agent", "anna"],
             {"verb": "ack", "ticket_id": "T-1042", "agent": "anna"}),
            (["ack", "--all", "--agent=boris"], {"verb": "ack", "all": True, "agent": "boris"}),
            (["silence"], {"verb": "silence"}),
            (["silence", "--for", "5m"], {"verb": "silence", "for": "5m"}),
            (["mute", "--for", "30m"], {"verb": "mute", "for": "30m"}),
            (["unmute"], {"verb": "unmute"}),
            (["lamp-test"], {"verb": "lamp_test"}),
            (["identify"], {"verb": "identify"}),
            (["incident", "open", "Payments", "are", "down"],
             {"verb": "incident", "open": True, "title": "Payments are down"}),
            (["incident", "open"], {"verb": "incident", "open": True}),
            (["incident", "close"], {"verb": "incident", "open": False}),
            (["sim", "press", "ack1"], {"verb": "sim_press", "button": "ack1"}),
            (["sim", "press", "ack1", "--hold", "2000"],
             {"verb": "sim_press", "button": "ack1", "hold_ms": 2000}),
            (["sim", "press", "ack2", "--hold", "1s"],
             {"verb": "sim_press", "button": "ack2", "hold_ms": 1000}),
            (["sim", "double", "ack1"], {"verb": "sim_double", "button": "ack1"}),
            (["sim", "state"], {"verb": "sim_state"}),
            (["acks", "--agent", "anna", "--limit", "5", "--until", "2026-11-25T12:00:00+02:00"],
             {"verb": "acks", "agent": "anna", "limit": 5, "until": "2026-11-25T10:00:00.000Z"}),
            (["raw", "config_get", '{"key":"board.id","verb":"evil"}'],
             {"verb": "config_get", "key": "board.id"}),
            (["--json", "--", "incident", "open", "--not-an-option"],
             {"verb": "incident", "open": True, "title": "--not-an-option"}),
        ]
        for args, want in cases:
            rc, out, err = self.ctl(*args)
            self.assertEqual(rc, 0, (args, err))
            req = dict(fake.last())
            self.assertTrue(req.pop("transaction"), args)
            self.assertEqual(req, want, args)

    def test_since_duration_means_that_long_ago(self):
        fake = self.serve()
        rc, out, err = self.ctl("acks", "--since", "24h")
        self.assertEqual(rc, 0, err)
        since = datetime.fromisoformat(fake.last()["since"].replace("Z", "+00:00"))
        expect = datetime.now(timezone.utc) - timedelta(hours=24)
        self.assertLess(abs((since - expect).total_seconds()), 60)

    def test_socket_precedence(self):
        # -s beats $TEAMBOARD_SOCKET beats -c's control.socket.
        self.serve()
        conf = os.path.join(self.tmp, "teamboard.conf")
        other = os.path.join(self.tmp, "other.sock")
        with open(conf, "w") as f:
            f.write("[board]\nid = floor2\n\n[control]\nsocket = %s\n" % self.sock)
        self.assertEqual(self.run_ctl("-c", conf, "ping")[0], 0)
        rc, out, err = self.run_ctl("-c", conf, "ping", env={"TEAMBOARD_SOCKET": other})
        self.assertEqual(rc, 69)
        self.assertIn(other, err)
        rc, out, err = self.run_ctl("-c", conf, "-s", self.sock, "ping",
                                    env={"TEAMBOARD_SOCKET": other})
        self.assertEqual(rc, 0, err)

    def test_config_with_unreadable_secret_still_gives_the_socket(self):
        self.serve()
        conf = os.path.join(self.tmp, "teamboard.conf")
        with open(conf, "w") as f:
            f.write("[board]\nid = floor2\n[mqtt]\nusername = tb\npassword_file = %s/none\n"
                    "[control]\nsocket = %s\n" % (self.tmp, self.sock))
        rc, out, err = self.run_ctl("-c", conf, "ping")
        self.assertEqual(rc, 0, err)

    def test_invalid_config_is_a_usage_error(self):
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("[board]\nid = floor2\n[alerts]\nwarn_at = lots\n")
        rc, out, err = self.run_ctl("-c", conf, "ping")
        self.assertEqual(rc, 64)
        self.assertIn("bad.conf:4", err)
        rc, out, err = self.run_ctl("-c", os.path.join(self.tmp, "missing.conf"), "ping")
        self.assertEqual(rc, 64)

    def test_reply_is_matched_by_transaction(self):
        def noisy(d, conn, req):
            FakeDaemon.send(conn, {"type": "state", "data": STATUS})
            FakeDaemon.send(conn, {"transaction": "someone-else", "status": "error",
                                   "error": "not yours"})
            FakeDaemon.reply_ok(d, conn, req)
        self.serve(noisy, ping={"pong": True})
        rc, out, err = self.ctl("--json", "ping")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"pong": True})

    def test_daemon_error_exits_1(self):
        def refuse(d, conn, req):
            FakeDaemon.send(conn, {"transaction": req["transaction"], "status": "error",
                                   "error": "nothing to acknowledge"})
        self.serve(refuse)
        rc, out, err = self.ctl("ack")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("nothing to acknowledge", err)

    def test_server_refusal_without_transaction_is_ours(self):
        self.serve(lambda d, conn, req: FakeDaemon.send(
            conn, {"status": "error", "error": "too many control clients"}))
        rc, out, err = self.ctl("status")
        self.assertEqual(rc, 1)
        self.assertIn("too many control clients", err)


class Output(CtlTest):
    def test_status_human(self):
        self.serve(status=STATUS)
        rc, out, err = self.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("\x1b", out)    # no colour on a pipe, no injected escapes
        self.assertIn("floor2", out)
        self.assertIn("Payments down", out)
        self.assertRegex(out, r"lamps +red slow +amber steady +green off +blue steady")
        self.assertRegex(out, r"buzzer +alarm")
        self.assertRegex(out, r"open 3 +unacked 1 +warning 0 +breached 1")
        lines = out.splitlines()
        rows = [l for l in lines if l.split()[:1] in (["breached"], ["new"], ["warning"])]
        self.assertEqual([r.split()[2] for r in rows], ["T-1042", "T-7", "T-8"])  # as given
        self.assertIn("-1m03s", rows[0])
        self.assertIn("4m12s", rows[1])
        self.assertIn("paused", rows[2])
        self.assertIn("public", rows[0])
        self.assertIn("private", rows[1])
        self.assertIn("anna", rows[1])
        self.assertTrue(rows[0].endswith("…"), rows[0])
        for l in lines:
            self.assertLessEqual(len(l), 100, l)

    def test_status_json_is_the_data(self):
        self.serve(status=STATUS)
        rc, out, err = self.ctl("status", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), STATUS)

    def test_acks_csv(self):
        self.serve(acks={"acks": ACKS})
        rc, out, err = self.ctl("acks", "--csv")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith(
            "id,board,ticket_id,alert,agent,source,button,at,latency_ms,event_id\r\n"))
        rows = list(csv.reader(io.StringIO(out, newline="")))
        self.assertEqual(rows[1], ["floor2-000123", "floor2", "T-1042", "sla.breached", "anna",
                                   "button", "ack1", "2026-11-25T10:06:12.345Z", "72345",
                                   "evt-8a01"])
        self.assertEqual(rows[2][4], 'Smith, "J"')
        self.assertEqual(rows[2][6], "")
        self.assertEqual(len(rows), 3)

    def test_acks_table_and_json(self):
        self.serve(acks={"acks": ACKS})
        rc, out, err = self.ctl("acks")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("AT"))
        self.assertIn("T-1042", lines[1])
        self.assertIn("1m12s", lines[1])
        self.assertIn("500ms", lines[2])
        rc, out, err = self.ctl("acks", "--json")
        self.assertEqual(json.loads(out), {"acks": ACKS})

    def test_acks_empty(self):
        self.serve(acks={"acks": []})
        rc, out, err = self.ctl("acks")
        self.assertEqual((rc, out), (0, "no acknowledgements\n"))

    def test_ack_human(self):
        self.serve(ack={"acked": ACKS[:1]})
        rc, out, err = self.ctl("ack", "T-1042")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "acknowledged T-1042 (sla.breached) as anna\n")

    def test_sim_state(self):
        sim = {"lines": {"red": {"value": True, "transitions": [
                   {"at_us": 1000000, "value": True}]},
                         "buzzer": {"value": False, "transitions": []}},
               "buttons": {"ack1": {"pressed": True}},
               "sounds": [{"sound": "chirp", "at_us": 2500000}]}
        self.serve(sim_state=sim)
        rc, out, err = self.ctl("sim", "state")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"red +on +1\.000=on")
        self.assertRegex(out, r"buzzer +off")
        self.assertRegex(out, r"ack1 +pressed")
        self.assertIn("chirp@2.500", out)
        rc, out, err = self.ctl("sim", "state", "--json")
        self.assertEqual(json.loads(out), sim)

    def test_raw_prints_data(self):
        self.serve(config_get={"key": "board.id", "value": "floor2"})
        rc, out, err = self.ctl("raw", "config_get", '{"key":"board.id"}')
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"key": "board.id", "value": "floor2"})


class Watch(CtlTest):
    def start_watch(self, handler, *extra, stdin=subprocess.DEVNULL):
        self.serve(handler)
        return subprocess.Popen(WRAP + [CTL, "-s", self.sock, "watch"] + list(extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
                                env=self.env)

    def read_line(self, p, timeout=5):
        deadline = time.monotonic() + timeout * SLOW
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no line from watch; got %r" % line)
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                c = os.read(p.stdout.fileno(), 1)
                if not c:
                    break
                line += c
        return line.decode()

    def finish(self, p):
        try:
            out, err = p.communicate(timeout=10 * SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("watch did not exit")
        return p.returncode, out.decode(), err.decode()

    def test_lines_per_update_then_69_when_the_daemon_goes(self):
        def handler(d, conn, req):
            FakeDaemon.reply_ok(d, conn, req)
            for s in (state(amber="slow"), state(amber="slow"), state(amber="steady")):
                FakeDaemon.send(conn, {"type": "state", "data": s})
            return "close"
        p = self.start_watch(handler)
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 69, err)
        self.assertIn("went away", err)
        self.assertIn(self.sock, err)
        # the repeated identical state is not news
        self.assertEqual(out.splitlines(), [
            "red=slow amber=slow green=off blue=steady buzzer=alarm open=3 unacked=1",
            "red=slow amber=steady green=off blue=steady buzzer=alarm open=3 unacked=1"])
        self.assertEqual(self.fake.requests[0]["verb"], "watch")

    def test_sigint_exits_0(self):
        def handler(d, conn, req):
            FakeDaemon.reply_ok(d, conn, req)
            FakeDaemon.send(conn, {"type": "state", "data": state()})
        p = self.start_watch(handler)
        self.assertIn("red=slow", self.read_line(p))
        p.send_signal(signal.SIGINT)
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)

    def test_end_of_piped_input_exits_0(self):
        def handler(d, conn, req):
            FakeDaemon.reply_ok(d, conn, req)
            FakeDaemon.send(conn, {"type": "state", "data": state()})
        p = self.start_watch(handler, stdin=subprocess.PIPE)
        self.read_line(p)
        p.stdin.close()
        p.stdin = None
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)

    def test_json_lines(self):
        def handler(d, conn, req):
            FakeDaemon.reply_ok(d, conn, req)
            FakeDaemon.send(conn, {"type": "state", "data": state(red="fast")})
        p = self.start_watch(handler, "--json")
        self.assertEqual(json.loads(self.read_line(p))["lamps"]["red"], "fast")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish(p)[0], 0)

    def test_watch_refused(self):
        def handler(d, conn, req):
            FakeDaemon.send(conn, {"transaction": req["transaction"], "status": "error",
                                   "error": "too many watchers"})
        p = self.start_watch(handler)
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 1)
        self.assertIn("too many watchers", err)


if __name__ == "__main__":
    unittest.main()
