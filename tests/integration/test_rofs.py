"""A read-only database (issue 3): read-only at start, and going read-only
while the board runs. Root ignores file modes, so the daemon runs in its own
mount namespace (unshare -m): a read-only bind mount over its state folder,
or an ext4 image on a loop device mounted with errors=remount-ro whose error
the test triggers (what a failing SD card does). Skipped with the reason when
that is not possible (not root, no unshare, no loop devices).

Expected: the board keeps signalling, says "store": "read-only" on status
and health, refuses acks with the nack beep (nothing is claimed that is not
stored), and, where the folder becomes writable again, goes back to storing.
"""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from tests.integration.harness import BOARD, Broker, Client, Daemon, event, wait_for

HEALTH = "teamboard/%s/health" % BOARD


def created(tid):
    return event("ticket.created", tid, channel="vk", priority="urgent", subject="s")


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)


def namespaces_or_skip(test):
    if os.geteuid() != 0:
        test.skipTest("needs root for a mount namespace (unshare -m)")
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        test.skipTest("unshare/nsenter (util-linux) not installed")
    r = run("unshare", "-m", "--propagation", "private", "true")
    if r.returncode != 0:
        test.skipTest("unshare -m not permitted here: %s" % r.stderr.strip())


class RoDaemon(Daemon):
    """teamboardd started as `unshare -m sh -c SETUP && exec teamboardd`."""

    setup = ""

    def start(self, env=None):
        self.logf = open(self.log, "ab")
        script = self.setup + ' && exec "$@"'
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"] +
            self.command(),
            stdout=self.logf, stderr=self.logf, env=dict(os.environ, **(env or {})))
        wait_for(lambda: self.alive_and_answering(), 10, "teamboardd control socket")

    def in_ns(self, *argv):
        return run("nsenter", "-t", str(self.proc.pid), "-m", *argv)


class RoBase(unittest.TestCase):
    def setUp(self):
        namespaces_or_skip(self)
        self.tmp = tempfile.mkdtemp(prefix="teamboard-rofs-")
        self.broker = Broker(self.tmp)
        self.broker.start()
        self.client = Client(self.broker.port)
        self.state = os.path.join(self.tmp, "state")
        os.makedirs(self.state)

    def tearDown(self):
        d = getattr(self, "daemon", None)
        code = d.stop() if d and d.proc else None
        self.client.close()
        self.broker.stop()
        result = getattr(getattr(self, "_outcome", None), "result", None)
        failed = result is not None and any(t is self for t, _ in result.errors +
                                            result.failures)
        if failed and d:
            log = [l for l in d.read_log().splitlines() if "ctl: client" not in l]
            print("\n--- teamboardd log ---\n%s" % "\n".join(log)[-6000:])
        shutil.rmtree(self.tmp, ignore_errors=True)
        if code is not None:
            self.assertEqual(code, 0, "teamboardd exit code (99 = valgrind error)")
        if d:
            self.assertEqual(d.fd_leaks, [], "file descriptors teamboardd leaked")

    def send(self, *events):
        self.client.publish("helpdesk/support/events",
                            events[0] if len(events) == 1 else list(events))

    def ready(self):
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 10, "connected")
        wait_for(lambda: self.daemon.status()["lamps"]["red"] == "off", 5, "lamp test over")

    def health(self):
        h = self.client.on(HEALTH)
        return h[-1] if h else {}

    def assert_refuses_acks(self, ticket):
        st = self.daemon.status()
        r = self.daemon.ctl("ack", ticket_id=ticket, agent="ro")
        self.assertEqual(r["status"], "error")
        self.assertIn("not acknowledged", r["error"])
        before = self.daemon.sounds()
        self.daemon.ok("sim_press", button="ack1", hold_ms=100)
        wait_for(lambda: len(self.daemon.sounds()) > len(before), 5, "feedback to the press")
        self.assertEqual(self.daemon.sounds()[len(before):], ["nack"])
        after = self.daemon.status()
        self.assertEqual(after["counts"]["unacked"], st["counts"]["unacked"],
                         "nothing marked acked")
        self.assertGreater(after["store_errors"], st["store_errors"])


class ReadOnlyAtStart(RoBase):

    def test_read_only_state_folder_at_start_then_writable(self):
        # A database with one open ticket, written by a normal run.
        self.daemon = Daemon(self.tmp, self.broker.port)
        self.daemon.start()
        self.ready()
        self.send(created("R-1"))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 1, 5, "R-1 open")
        self.assertEqual(self.daemon.stop(), 0)

        self.daemon = RoDaemon(self.tmp, self.broker.port)
        self.daemon.setup = ("mount --bind {s} {s} && mount -o remount,ro,bind {s} {s}"
                             .format(s=self.state))
        self.daemon.start()
        self.ready()
        self.assertIn("is read-only", self.daemon.read_log())
        st = self.daemon.status()
        self.assertEqual(st["store"], "read-only")
        self.assertEqual(st["counts"]["open"], 1, "open tickets read from the read-only file")
        wait_for(lambda: self.health().get("store") == "read-only", 10, "health says read-only")
        # Keeps signalling: a new ticket lights amber.
        self.send(created("R-2"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 2, 5, "R-2 shown")
        self.assertEqual(self.daemon.status()["lamps"]["amber"], "slow")
        self.assert_refuses_acks("R-2")
        self.assertIn("Read-only file system", self.daemon.ctl("ack", ticket_id="R-2")["error"])

        # Writable again (the bind mount goes away): within the retry
        # period the board stores again, R-2 (which came while read-only)
        # included.
        r = self.daemon.in_ns("umount", "-l", self.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: self.daemon.status()["store"] == "ok", 15, "store ok again")
        self.assertIn("is writable again", self.daemon.read_log())
        acked = self.daemon.ok("ack", ticket_id="R-2", agent="rw")["acked"]
        self.assertEqual(len(acked), 1)
        wait_for(lambda: self.health().get("store") == "ok", 10, "health says ok")
        self.assertEqual(self.daemon.stop(), 0)
        db = sqlite3.connect(os.path.join(self.state, "teamboard.db"))
        try:
            self.assertEqual(sorted(r[0] for r in db.execute("SELECT id FROM tickets")),
                             ["R-1", "R-2"])
            self.assertEqual([r[0] for r in db.execute("SELECT ticket_id FROM acks")], ["R-2"])
        finally:
            db.close()

    def test_unreadable_read_only_folder_runs_on_an_empty_store(self):
        # No database at all, and the folder cannot be written.
        self.daemon = RoDaemon(self.tmp, self.broker.port)
        self.daemon.setup = ("mount --bind {s} {s} && mount -o remount,ro,bind {s} {s}"
                             .format(s=self.state))
        self.daemon.start()
        self.ready()
        self.assertEqual(self.daemon.status()["store"], "read-only")
        self.send(created("E-1"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 1, 5, "E-1 shown")
        self.assert_refuses_acks("E-1")
        self.assertEqual(os.listdir(self.state), [], "nothing written")


class ReadOnlyWhileRunning(RoBase):
    """ext4 on a loop device, errors=remount-ro; the test triggers an ext4
    error (/sys/fs/ext4/<dev>/trigger_fs_error), as a failing card would."""

    def setUp(self):
        super().setUp()
        for tool in ("mkfs.ext4", "losetup", "findmnt"):
            if not shutil.which(tool):
                self.skipTest("%s not installed" % tool)
        self.img = os.path.join(self.tmp, "sd.img")
        with open(self.img, "wb") as f:
            f.truncate(32 * 1024 * 1024)
        r = run("mkfs.ext4", "-q", "-F", self.img)
        if r.returncode != 0:
            self.skipTest("mkfs.ext4 failed: %s" % r.stderr.strip())
        probe = run("unshare", "-m", "--propagation", "private", "sh", "-c",
                    "mount -o loop %s %s" % (self.img, self.state))
        if probe.returncode != 0:
            self.skipTest("cannot mount a loop device here: %s" % probe.stderr.strip())

    def test_file_system_goes_read_only_under_the_board(self):
        devfile = os.path.join(self.tmp, "dev")
        self.daemon = RoDaemon(self.tmp, self.broker.port)
        self.daemon.setup = ("mount -o loop,errors=remount-ro {i} {s} && "
                             "findmnt -no SOURCE {s} > {d}"
                             .format(i=self.img, s=self.state, d=devfile))
        self.daemon.start()
        self.ready()
        with open(devfile) as f:
            dev = os.path.basename(f.read().strip())
        trigger = "/sys/fs/ext4/%s/trigger_fs_error" % dev
        if not os.path.exists(trigger):
            self.skipTest("%s missing (kernel without ext4 debug triggers)" % trigger)
        self.send(created("W-1"), created("W-2"), created("W-3"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 3, 5, "3 unacked")
        first = self.daemon.ok("ack", ticket_id="W-1", agent="rw")["acked"][0]["id"]
        self.assertEqual(self.daemon.status()["store"], "ok")

        with open(trigger, "w") as f:
            f.write("teamboard test\n")
        # The card fails: a write finds out. The board keeps signalling.
        self.send(created("W-4"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 3, 5, "W-4 shown")
        # ext4 in its emergency read-only state fails writes with EIO (the
        # mount still says rw), so the board can only say "failing"; a
        # plain read-only file system (EROFS) reads "read-only".
        faulty = ("failing", "read-only")
        wait_for(lambda: self.daemon.status()["store"] in faulty, 10, "store fault on status")
        self.assert_refuses_acks("W-2")
        wait_for(lambda: self.health().get("store") in faulty, 10, "store fault on health")
        self.assertGreater(self.health()["store_errors"], 0)
        self.assertEqual(self.daemon.status()["lamps"]["amber"], "slow")
        # The ack stored before the failure is still there and published.
        self.assertEqual([a["id"] for a in self.daemon.ok("acks")["acks"]], [first])
        wait_for(lambda: [a["id"] for a in self.client.on("teamboard/%s/acks" % BOARD)]
                 == [first], 10, "the earlier ack published")
        self.assertEqual(self.daemon.ok("ping"), {"pong": True})
