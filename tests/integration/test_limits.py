"""Issue 3 gaps: caps that were untested at the cap (open tickets, outbox
rows), chattering and held buttons driven through the sim backend, and what
a SIGTERM or SIGKILL leaves on the outputs. Each result is a row in
docs/reliability.md.
"""
import os
import re
import shlex
import signal
import subprocess
import time

from tests.integration.harness import (BOARD, BUILD, ROOT, SLOW, BoardTest, Client, event,
                                       wait_for, read_sim_trace)

ERRORS = "teamboard/%s/errors" % BOARD
HEALTH = "teamboard/%s/health" % BOARD
STATUS = "teamboard/%s/status" % BOARD
ACKS = "teamboard/%s/acks" % BOARD


def created(tid, prio="normal"):
    return event("ticket.created", tid, channel="telegram", priority=prio, subject="s")


class OpenTicketsCap(BoardTest):
    daemon_conf = "[alerts]\nmax_open_tickets = 5\n"

    def test_at_and_past_the_cap(self):
        # At the cap: 5 new tickets in one message are all applied.
        self.send(*[created("C-%d" % i) for i in range(5)])
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 5, 5, "5 open")
        self.assertEqual(self.client.on(ERRORS), [])
        # Past it: in one message, two new tickets are rejected each with a
        # reason, the update of an open ticket and the solve still apply.
        over = [created("C-5"), created("C-6")]
        self.send(over[0], event("ticket.updated", "C-0", priority="urgent"), over[1],
                  event("ticket.solved", "C-1"))
        wait_for(lambda: len(self.client.on(ERRORS)) >= 2, 5, "two reports")
        reports = self.client.on(ERRORS)
        self.assertEqual([r["event_id"] for r in reports], [e["id"] for e in over])
        for r in reports:
            self.assertIn("too many open tickets (alerts.max_open_tickets = 5)", r["reason"])
        st = self.daemon.status()
        alerts = {a["ticket_id"]: a for a in st["alerts"]}
        self.assertEqual(sorted(alerts), ["C-0", "C-2", "C-3", "C-4"])
        self.assertEqual(alerts["C-0"]["priority"], "urgent")
        self.assertEqual(self.daemon.ok("ping"), {"pong": True})
        # The solve made room; a rejected event was not marked seen, so the
        # backend's retry of it now applies.
        self.send(over[0])
        wait_for(lambda: "C-5" in {a["ticket_id"] for a in self.daemon.status()["alerts"]}, 5,
                 "retried event applied once there is room")
        self.assertEqual(self.daemon.status()["counts"]["open"], 5)


class OutboxCap(BoardTest):
    daemon_conf = "[store]\nmax_outbox = 3\n"

    def test_at_and_past_the_cap_with_the_broker_down(self):
        tickets = ["O-%d" % i for i in range(5)]
        self.send(*[created(t, "urgent") for t in tickets])
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 5, 5, "5 unacked")
        self.broker.stop()
        wait_for(lambda: self.daemon.status()["broker"] == "disconnected", 20, "board offline")
        acked = [self.daemon.ok("ack", ticket_id=t, agent="a")["acked"][0]["id"]
                 for t in tickets[:3]]
        st = self.daemon.status()
        self.assertEqual((st["outbox_depth"], st["outbox_max"], st["outbox_full"]),
                         (3, 3, True))
        # Past the cap: refused with a reason, nothing marked acked.
        r = self.daemon.ctl("ack", ticket_id=tickets[3], agent="a")
        self.assertEqual(r["status"], "error")
        self.assertIn("outbox full", r["error"])
        self.assertIn("not acknowledged", r["error"])
        # A button press past the cap: the nack beep, not the ack beep.
        before = self.daemon.sounds()
        self.press()
        wait_for(lambda: len(self.daemon.sounds()) > len(before), 5, "feedback to the press")
        self.assertEqual(self.daemon.sounds()[len(before):], ["nack"])
        st = self.daemon.status()
        self.assertEqual(st["counts"]["unacked"], 2)
        self.assertEqual(st["outbox_depth"], 3)
        self.assertGreaterEqual(st["store_errors"], 2)
        self.assertEqual(len(self.daemon.ok("acks")["acks"]), 3, "nothing else in the ack log")
        # Broker back: the 3 records go out in order, once; room again.
        self.broker.start()
        self.client.close()
        self.client = Client(self.broker.port)
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 30, "board back")
        wait_for(lambda: self.daemon.status()["outbox_depth"] == 0, 20, "outbox drained")
        self.assertFalse(self.daemon.status()["outbox_full"])
        r = self.daemon.ok("ack", ticket_id=tickets[3], agent="a")
        acked.append(r["acked"][0]["id"])
        wait_for(lambda: len(self.client.on(ACKS)) >= 1, 10, "the new ack published")
        wait_for(lambda: (self.client.on(HEALTH) or [{}])[-1].get("outbox_full") is False, 10,
                 "health says the outbox has room")
        self.assertEqual(self.client.on(HEALTH)[-1]["outbox_max"], 3)


class ChatterAndHeld(BoardTest):
    # Short enough for CI, above the 10 s lamp-test hold (the minimum).
    daemon_conf = "[buttons]\nstuck_after = 12s\n"

    def acks(self):
        return len(self.daemon.ok("acks")["acks"])

    def test_chatter_inside_the_debounce_is_one_press(self):
        self.send(created("B-1", "urgent"), created("B-2", "urgent"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 2, 5, "2 unacked")
        # 41 edges in 20 ms (default debounce 30 ms), held 200 ms: one
        # short press, one ack.
        self.daemon.ok("sim_chatter", button="ack1", edges=41, within_ms=20, hold_ms=200)
        wait_for(lambda: self.acks() == 1, 5, "one ack")
        wait_for(lambda: not self.daemon.status()["buttons"]["ack1"]["pressed"], 5, "released")
        time.sleep(0.5 * SLOW)  # anything a second press would do has happened
        self.assertEqual(self.acks(), 1)
        st = self.daemon.status()
        self.assertEqual(st["counts"]["unacked"], 1)
        # Bounces taken for presses would also make double presses.
        self.assertIsNone(st["silenced_until"], "no double press (silence) from the chatter")
        self.assertEqual(self.daemon.sounds().count("ack"), 1)
        # Chatter that settles back at rest (40 edges) is nothing at all.
        before = self.daemon.sounds()
        self.daemon.ok("sim_chatter", button="ack1", edges=40, within_ms=20)
        time.sleep(0.5 * SLOW)
        self.assertEqual(self.acks(), 1)
        self.assertEqual(self.daemon.sounds(), before, "no ack or nack beep")
        self.assertIsNone(self.daemon.status()["silenced_until"])
        # The same chatter through teamboardctl.
        r = subprocess.run([os.path.join(BUILD, "teamboardctl"), "-s", self.daemon.socket,
                            "sim", "chatter", "ack1", "--edges", "61", "--within", "25"],
                           capture_output=True, text=True, timeout=10 * SLOW)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: self.acks() == 2, 5, "second ack")
        time.sleep(0.5 * SLOW)
        self.assertEqual(self.acks(), 2)
        self.assertIsNone(self.daemon.status()["silenced_until"])

    def test_held_button_is_a_fault_not_a_stream_of_acks(self):
        self.send(created("H-1", "urgent"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 1, 5, "1 unacked")
        self.daemon.ok("sim_hold", button="ack1")
        # The long press (1.5 s) acks what is open, once.
        wait_for(lambda: self.acks() == 1, 5, "long-press ack")
        wait_for(lambda: self.daemon.status()["buttons"]["ack1"]["stuck"], 20,
                 "stuck reported on status")
        reports = wait_for(lambda: [r for r in self.client.on(ERRORS)
                                    if "stuck" in r.get("reason", "")], 5, "stuck report")
        self.assertIn("button ack1 stuck: held for 12 s", reports[0]["reason"])
        wait_for(lambda: (self.client.on(HEALTH) or [{}])[-1].get("buttons_stuck") == 1, 5,
                 "stuck reported on health")
        # While stuck, new alerts stay unacked: the button is ignored.
        self.send(created("H-2", "urgent"), created("H-3", "urgent"))
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 2, 5, "2 new unacked")
        time.sleep(2 * SLOW)
        self.assertEqual(self.acks(), 1, "no stream of acks from a held button")
        self.assertTrue(self.daemon.status()["buttons"]["ack1"]["stuck"])
        # Release clears the fault and acks nothing.
        self.daemon.ok("sim_release", button="ack1")
        wait_for(lambda: not self.daemon.status()["buttons"]["ack1"]["stuck"], 5, "fault clears")
        wait_for(lambda: self.client.on(HEALTH)[-1].get("buttons_stuck") == 0, 5,
                 "health clears")
        time.sleep(0.5 * SLOW)
        self.assertEqual(self.acks(), 1)
        self.assertEqual(self.daemon.status()["counts"]["unacked"], 2)
        self.assertIn("no longer stuck", self.daemon.read_log())
        # And the button works again.
        self.press()
        wait_for(lambda: self.acks() == 2, 5, "a normal press acks again")


class OutputsOnStop(BoardTest):
    """SIGTERM with lamps and buzzer on: every output off, `offline` status."""

    def setUp(self):
        self.trace = "/tmp/teamboard-stoptrace-%d-%d.txt" % (os.getpid(), time.monotonic_ns())
        self.daemon_env = {"TEAMBOARD_SIM_TRACE": self.trace}
        self.addCleanup(lambda: os.path.exists(self.trace) and os.unlink(self.trace))
        super().setUp()

    def test_sigterm_turns_every_output_off_and_publishes_offline(self):
        # A breach escalated at once would need minutes; an urgent breach
        # plus a new ticket and an incident light red, amber, blue and the
        # alarm buzzer.
        self.send(event("sla.breached", "S-1", channel="vk", priority="urgent"),
                  created("S-2"),
                  event("incident.opened", incident={"id": "INC-1", "title": "down"}))
        self.wait_lamp("red", "slow")
        self.wait_lamp("blue", "steady")

        def on_now():
            last = {}
            for _, role, v in read_sim_trace(self.trace):
                last[role] = v
            return last
        # Stop while the steady blue lamp is certainly on.
        wait_for(lambda: on_now().get("lamp.blue") == 1, 5, "blue on in the trace")
        lit = {r for r, v in on_now().items() if v and not r.startswith("button.")}
        self.assertIn("lamp.blue", lit)
        self.assertEqual(self.daemon.stop(signal.SIGTERM), 0)
        last = on_now()
        seen = {r for _, r, _ in read_sim_trace(self.trace) if not r.startswith("button.")}
        self.assertTrue({"lamp.red", "lamp.amber", "lamp.blue", "buzzer"} <= seen,
                        (seen, read_sim_trace(self.trace), self.daemon.read_log()[-3000:]))
        self.assertEqual({r: v for r, v in last.items() if not r.startswith("button.")},
                         {r: 0 for r in seen}, "every output off after SIGTERM")
        wait_for(lambda: (self.client.on(STATUS) or [{}])[-1].get("state") == "offline", 5,
                 "retained offline status")
        self.assertNotIn("lost", [s.get("state") for s in self.client.on(STATUS) if s])
        # Retained: a client that connects now sees "offline" too.
        late = Client(self.broker.port, subscribe=(STATUS,))
        try:
            wait_for(lambda: late.on(STATUS), 5, "retained status")
            self.assertEqual(late.on(STATUS)[-1]["state"], "offline")
        finally:
            late.close()


class ResetStep(BoardTest):
    """The unit's ExecStopPost, run as the unit would run it after SIGKILL."""

    def test_unit_reset_step_after_sigkill(self):
        with open(os.path.join(ROOT, "systemd", "teamboard.service")) as f:
            unit = f.read()
        m = re.search(r"^ExecStopPost=(.*)$", unit, re.M)
        self.assertIsNotNone(m, "the unit has a reset step")
        argv = shlex.split(m.group(1).replace("@SBINDIR@", BUILD))
        self.assertEqual(argv[:2], [os.path.join(BUILD, "teamboardd"), "--reset-outputs"])
        argv[argv.index("-c") + 1] = self.daemon.conf
        self.send(created("K-1", "urgent"))
        self.wait_lamp("amber", "slow")
        self.daemon.stop(signal.SIGKILL)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10 * SLOW)
        self.assertEqual(r.returncode, 0, r.stderr)
