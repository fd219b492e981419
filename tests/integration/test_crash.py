"""kill -9 at random moments (issue 3): the database stays intact, every ack
that gave feedback is kept, every ack record reaches the acks topic, and no
record is published twice except in the one window QoS 1 cannot close.

What is guaranteed, precisely (docs/reliability.md):
- `PRAGMA integrity_check` is ok after every kill.
- An ack is committed (synchronous=FULL) before its "acknowledged" log line
  and its confirm beep, so every ack the log shows is in the ack log.
- Every record in the ack log is published on the acks topic at least once.
- The board commits the sent-mark as soon as it reads the broker's PUBACK
  (and then logs "Outbox row N delivered"). A kill after the broker took a
  record but before the board read its PUBACK (e.g. while the board was
  inside an fsync) makes the board publish it again after the restart, with
  the same id: QoS 1 cannot close that window, consumers dedupe by id. Once
  the delivery is committed the record is never published again, and one
  run of the board publishes a record at most once: any other duplicate
  fails the test.
"""
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import unittest

from tests.integration.harness import (BOARD, DAEMON, SLOW, WRAP, BoardTest, event, now_iso,
                                       wait_for)

CYCLES = int(os.environ.get("TEAMBOARD_KILL_CYCLES", "50"))
MARK = "teamboard-test: run %d\n"


def integrity(db):
    if not os.path.exists(db):
        return "ok"  # killed before it was created
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def outbox_rows(db):
    """ack id -> outbox row id."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return {json.loads(p)["id"]: r for r, p in con.execute("SELECT row_id, payload FROM outbox")}
    finally:
        con.close()


def outbox_log(log):
    """outbox row id -> list of ("publish"|"delivered", run) in log order."""
    run, out = -1, {}
    for line in log.splitlines():
        if line.startswith("teamboard-test: run "):
            run = int(line.split()[-1])
        elif line.startswith("debug: Publishing outbox row "):
            out.setdefault(int(line.split()[-1]), []).append(("publish", run))
        elif "Outbox row " in line and line.endswith(" delivered"):
            row = int(line.split("Outbox row ", 1)[1].split()[0])
            out.setdefault(row, []).append(("delivered", run))
    return out


def committed_events(log):
    """Event ids whose handling the board logged as committed."""
    done, pending = set(), []
    for line in log.splitlines():
        if line.startswith("teamboard-test: run "):
            pending = []
        elif line.startswith("debug: Event ") and line.endswith(" applied"):
            pending.append(line.split()[2])
        elif line == "debug: Batch committed":
            done.update(pending)
            pending = []
    return done


def db_acks(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return {r[0]: r[1] for r in con.execute("SELECT id, ticket_id FROM acks")}
    finally:
        con.close()


class Wire:
    """Records every ack record on the acks topic with its arrival time."""

    def __init__(self, client):
        self.lock = threading.Lock()
        self.seen = []  # (monotonic arrival, id)
        prev = client.c.on_message

        def on_message(c, userdata, msg):
            if msg.topic == "teamboard/%s/acks" % BOARD:
                with self.lock:
                    self.seen.append((time.monotonic(), json.loads(msg.payload)["id"]))
            prev(c, userdata, msg)
        client.c.on_message = on_message

    def ids(self):
        with self.lock:
            return [i for _, i in self.seen]

    def arrivals(self):
        out = {}
        with self.lock:
            for t, i in self.seen:
                out.setdefault(i, []).append(t)
        return out


def quick_ctl(sock_path, verb, **args):
    """One request with a short timeout; the daemon may die mid-call."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0 * SLOW)
            s.connect(sock_path)
            s.sendall((json.dumps(dict(args, verb=verb)) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            return json.loads(buf)
    except (OSError, ValueError):
        return None


# valgrind reports nothing for a killed process and its start-up alone
# would take most of each cycle; ASan and the plain build run it.
@unittest.skipIf(WRAP, "kill -9 leaves valgrind nothing to report")
class KillNine(BoardTest):

    def test_kill_9_at_random_moments(self):
        rnd = random.Random(os.environ.get("TEAMBOARD_SEED") or time.time_ns())
        wire = Wire(self.client)
        d = self.daemon
        # The board starts from the harness's clean start; stop it so every
        # cycle below starts the same way.
        self.assertEqual(d.stop(), 0)

        tickets = []
        event_ids = {}
        bad = []
        n = 0
        for cycle in range(CYCLES):
            logf = open(d.log, "ab")
            logf.write((MARK % cycle).encode())
            logf.flush()
            proc = subprocess.Popen(WRAP + [DAEMON, "-v", "-c", d.conf], stdout=logf,
                                    stderr=logf)
            deadline = time.monotonic() + rnd.uniform(0.05, 0.6) * SLOW
            while time.monotonic() < deadline:
                n += 1
                tid = "K-%d" % n
                ev = event("ticket.created", tid, priority="urgent", channel="telegram",
                           subject="kill %d" % cycle, due={"first_response": now_iso(3600)})
                self.send(ev)
                tickets.append(tid)
                event_ids[tid] = ev["id"]
                what = rnd.random()
                if what < 0.4:
                    quick_ctl(d.socket, "sim_press", button="ack1", hold_ms=40)
                elif what < 0.8:
                    quick_ctl(d.socket, "ack", ticket_id=rnd.choice(tickets), agent="kill")
                time.sleep(rnd.uniform(0, 0.03))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            logf.close()
            verdict = integrity(d.db)
            if verdict != "ok":
                bad.append((cycle, verdict))
        self.assertEqual(bad, [], "integrity_check after kill -9")

        # A clean run delivers whatever is left in the outbox.
        with open(d.log, "a") as f:
            f.write(MARK % CYCLES)
        d.start()
        self.wait_connected()
        wait_for(lambda: d.status()["outbox_depth"] == 0, 20, "outbox to drain")
        acks = db_acks(d.db)
        wait_for(lambda: set(wire.ids()) >= set(acks), 20, "every ack record on the wire")

        # Nothing the backend sent was lost (the persistent session queued
        # events while the board was down), with one exception QoS 1 with
        # libmosquitto cannot close: it sends the PUBACK before the message
        # handler runs, and the board commits its batch before it sleeps,
        # or within 10 ms when messages come faster (group commit). An
        # event may be lost only if the board was killed before that
        # commit: never after its run logged "Batch committed" following
        # the event, and at slow traffic like this at most one or two a
        # kill.
        try:
            wait_for(lambda: d.status()["counts"]["open"] == len(tickets), 15, "all tickets open")
        except AssertionError:
            pass  # judged below
        lost = len(tickets) - d.status()["counts"]["open"]
        committed = committed_events(d.read_log())
        if lost:
            lost_ids = self.lost_tickets(d, tickets)
            bad_losses = [t for t in lost_ids if event_ids[t] in committed]
            self.assertEqual(bad_losses, [], "committed events lost")
            self.assertLessEqual(lost, CYCLES, "more losses than kills")

        # Every ack that was logged (and so beeped) is in the ack log.
        logged = set()
        for line in d.read_log().splitlines():
            if ") acknowledged by " in line and "Ticket " in line:
                logged.add(line.split("Ticket ", 1)[1].split(" ", 1)[0])
        self.assertTrue(logged, "the run acknowledged nothing; the test proves nothing")
        self.assertEqual(logged - set(acks.values()), set(), "acks that beeped but were lost")

        ids = wire.ids()
        self.assertEqual(set(ids) - set(acks), set(), "records on the wire not in the ack log")
        # The board logs each publish of an outbox row before it hands it
        # to MQTT and each committed delivery, so the wire can be checked
        # against what each run did.
        rows = outbox_rows(d.db)
        history = outbox_log(d.read_log())
        copies = {}
        for i in wire.ids():
            copies[i] = copies.get(i, 0) + 1
        republished, excused = [], 0
        for i, n in copies.items():
            h = history.get(rows.get(i), [])
            pubs = [r for what, r in h if what == "publish"]
            done = [r for what, r in h if what == "delivered"]
            self.assertTrue(done, "no delivery logged for %s: %r" % (i, h))
            if any(r > done[0] for r in pubs):
                republished.append((i, "published again after its delivery was committed", h))
            elif len(set(pubs)) != len(pubs):
                republished.append((i, "published twice by one run", h))
            elif n > len(pubs):
                republished.append((i, "%d copies from %d publishes" % (n, len(pubs)), h))
            else:
                excused += n - 1
        self.assertEqual(republished, [], "ack records published more than once")
        print("\nkill -9: %d cycles, %d tickets, %d acks logged, %d records, "
              "%d copies republished after a kill that beat the PUBACK, "
              "%d events lost inside the message handler"
              % (CYCLES, len(tickets), len(logged), len(acks), excused, lost))

    def lost_tickets(self, d, tickets):
        con = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True, timeout=5)
        try:
            known = {r[0] for r in con.execute("SELECT id FROM tickets")}
            known |= {r[0] for r in con.execute("SELECT ticket_id FROM acks")}
        finally:
            con.close()
        return [t for t in tickets if t not in known]


class GroupCommit(BoardTest):
    """Events are committed in groups, at most one commit per 10 ms (issue 7:
    a commit per message capped ingest near 6 500 events/s), and the last
    group of a burst is committed without waiting for more traffic."""

    def seen_in_db(self, ids):
        con = sqlite3.connect("file:%s?mode=ro" % self.daemon.db, uri=True, timeout=5)
        try:
            return sum(1 for (i,) in con.execute("SELECT id FROM seen_events") if i in ids)
        finally:
            con.close()

    def test_a_burst_shares_commits_and_all_of_it_is_committed(self):
        # Under the broker's queue for the board (mosquitto's
        # max_queued_messages, 1 000) even when the board is slow to read
        # (valgrind): past it the broker drops QoS 1 messages.
        n = 600
        # Solved events about tickets the board does not hold: each is
        # remembered (dedupe) and ignored, so no lamp flashes and nothing
        # but the commit itself needs the loop to wake up afterwards.
        evs = [event("ticket.solved", "GC-%d" % i) for i in range(n)]
        infos = [self.client.c.publish("helpdesk/support/events", json.dumps(ev), qos=1)
                 for ev in evs]
        infos[-1].wait_for_publish()
        ids = {ev["id"] for ev in evs}
        wait_for(lambda: self.seen_in_db(ids) == n, 30, "every event committed")
        commits = self.daemon.read_log().count("debug: Batch committed")
        self.assertGreater(commits, 0)
        self.assertLess(commits, n // 2, "%d commits for %d messages: not grouped" % (commits, n))
