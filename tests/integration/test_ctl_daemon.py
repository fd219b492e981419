"""teamboardctl against the real daemon: what a team lead and an agent at a
console see."""
import csv
import io
import json
import os
import subprocess

from tests.integration.harness import (CTL, BoardTest, event, now_iso,
                                       wait_for)


class Teamboardctl(BoardTest):
    def ctl(self, *args, check=True, timeout=10):
        r = subprocess.run([CTL, "-s", self.daemon.socket] + list(args), capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("teamboardctl %s exited %d: %s" % (args, r.returncode, r.stderr))
        return r

    def test_status_ack_and_csv(self):
        self.send(event("ticket.created", "T-42", channel="telegram", priority="urgent",
                        subject="Где мой заказ?", due={"first_response": now_iso(600)}))
        self.wait_lamp("amber", "slow")
        human = self.ctl("status").stdout
        self.assertIn("T-42", human)
        self.assertIn("telegram", human)
        st = json.loads(self.ctl("status", "--json").stdout)
        self.assertEqual(st["lamps"]["amber"], "slow")

        self.ctl("sim", "press", "ack1")
        wait_for(lambda: self.daemon.status()["counts"]["unacked"] == 0, 3, "ack")
        rows = list(csv.DictReader(io.StringIO(self.ctl("acks", "--since", "1h", "--csv").stdout)))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["ticket_id"], "T-42")
        self.assertEqual(rows[0]["agent"], "anna")
        self.assertEqual(rows[0]["source"], "button")
        self.assertEqual(self.ctl("acks", "--since", "1h", "--agent", "boris", "--csv")
                         .stdout.strip().count("\n"), 0)

        r = self.ctl("ack", check=False)                 # nothing left to ack
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to acknowledge", r.stderr)

    def test_ack_by_ticket_mute_and_sim_state(self):
        self.send(event("ticket.created", "T-1", channel="phone", priority="high"))
        self.wait_lamp("amber", "slow")
        self.ctl("ack", "T-1", "--agent", "dave")
        a = self.daemon.ok("acks")["acks"][0]
        self.assertEqual((a["ticket_id"], a["agent"], a["source"]), ("T-1", "dave", "ctl"))
        self.ctl("mute", "--for", "15m")
        self.assertIsNotNone(self.daemon.status()["muted_until"])
        self.ctl("unmute")
        self.assertIsNone(self.daemon.status()["muted_until"])
        sim = json.loads(self.ctl("sim", "state", "--json").stdout)
        self.assertIn("amber", sim["lines"])
        # A remote ack answers on the console; the floor hears no beep.
        self.assertNotIn("ack", [s["sound"] for s in sim["sounds"]])

    def test_watch_prints_a_line_per_change(self):
        p = subprocess.Popen([CTL, "-s", self.daemon.socket, "watch"], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            first = p.stdout.readline()
            self.assertIn("amber=off", first)
            self.send(event("ticket.created", "T-9", channel="web", priority="normal"))
            line = wait_for(lambda: (lambda l: l if "amber=slow" in l else None)(p.stdout.readline()),
                            5, "watch line with amber=slow")
            self.assertIn("unacked=1", line)
        finally:
            p.terminate()
            p.wait(5)
            p.stdout.close()

    def test_daemon_gone_is_exit_69(self):
        sock = self.daemon.socket
        self.daemon.stop()
        r = subprocess.run([CTL, "-s", sock, "status"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 69)
        self.assertIn(os.path.basename(sock), r.stderr)
