"""Board-side SLA policy and priorities from content (issue 8, docs/sla.md)
on the real daemon and broker: an event without dues gets the policy's
targets and breaches at the policy time; backend dues are kept; the next
response is due when the customer writes after a reply; an event without
priority gets the rules' priority."""
import json
import signal
import time
import unittest
import urllib.request

from tests.integration import harness
from tests.integration.harness import (BOARD, BoardTest, event, free_port,
                                       now_iso, wait_for)

try:
    from tests.integration import browser
except ImportError:  # pragma: no cover
    browser = None

ERRORS = "teamboard/%s/errors" % BOARD

# Short targets so the test sees a breach; calendar hours so it does not
# depend on when it runs.
SLA_CONF = """[sla]
enabled = true
first_response = email 3s, * 1h
next_response = chat 3s, * 1h
resolution = * none
first_response_hours = calendar
next_response_hours = calendar
"""


def alert(status, tid):
    for a in status["alerts"]:
        if a["ticket_id"] == tid:
            return a
    return None


class SlaPolicy(BoardTest):
    daemon_conf = SLA_CONF

    def test_event_without_dues_breaches_at_the_policy_time(self):
        sent = time.monotonic()
        self.send(event("ticket.created", "T-1", channel="email", priority="normal",
                        public=False, subject="Invoice question"))
        a = wait_for(lambda: alert(self.daemon.status(), "T-1"), 3, "T-1 on the board")
        self.assertEqual(a["due_source"], "policy")
        self.assertEqual(a["due_sla"], "first_response")
        self.assertTrue(0 <= a["due_in_s"] <= 3, a)
        wait_for(lambda: alert(self.daemon.status(), "T-1")["kind"] == "breached", 10,
                 "T-1 to breach")
        # The board's clock breached it, not earlier than the 3 s target.
        self.assertGreaterEqual(time.monotonic() - sent, 2.5)
        self.assertEqual(self.daemon.lamps()["red"], "slow")

    def test_backend_dues_win(self):
        self.send(event("ticket.created", "T-2", channel="email", priority="normal",
                        due={"first_response": now_iso(600)}))
        a = wait_for(lambda: alert(self.daemon.status(), "T-2"), 3, "T-2 on the board")
        self.assertEqual(a["due_source"], "backend")
        self.assertGreater(a["due_in_s"], 500)
        # The policy's 3 s e-mail target did not sneak in.
        time.sleep(3.5)
        self.assertEqual(alert(self.daemon.status(), "T-2")["kind"], "new")

    def test_next_response_when_the_customer_writes_again(self):
        self.send(event("ticket.created", "T-3", channel="chat", priority="normal"))
        a = wait_for(lambda: alert(self.daemon.status(), "T-3"), 3, "T-3 on the board")
        self.assertGreater(a["due_in_s"], 3000)  # chat first response: 1 h
        self.send(event("ticket.replied", "T-3"))
        wait_for(lambda: alert(self.daemon.status(), "T-3")["due_in_s"] is None, 3,
                 "reply to satisfy the first response")
        self.send(event("ticket.updated", "T-3", subject="Still waiting"))
        a = wait_for(lambda: (lambda x: x if x["due_in_s"] is not None else None)(
            alert(self.daemon.status(), "T-3")), 3, "next response due")
        self.assertEqual(a["due_source"], "policy")
        self.assertTrue(0 <= a["due_in_s"] <= 3, a)
        wait_for(lambda: alert(self.daemon.status(), "T-3")["kind"] == "breached", 10,
                 "next response to breach")

    def test_policy_due_survives_a_restart(self):
        self.send(event("ticket.created", "T-4", channel="vk", priority="low"))
        wait_for(lambda: alert(self.daemon.status(), "T-4"), 3, "T-4 on the board")
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        a = wait_for(lambda: alert(self.daemon.status(), "T-4"), 5, "T-4 restored")
        self.assertEqual(a["due_source"], "policy")
        self.assertGreater(a["due_in_s"], 3000)

    def test_runtime_change_and_reload_apply_to_the_next_event(self):
        # config_set: the new target counts for the next ticket.
        self.daemon.ok("config_set", key="sla.first_response", value="email 2h, * 1h")
        self.send(event("ticket.created", "T-6", channel="email", priority="normal"))
        a = wait_for(lambda: alert(self.daemon.status(), "T-6"), 3, "T-6 on the board")
        self.assertTrue(7000 < a["due_in_s"] <= 7200, a)
        # SIGHUP: the file switches the policy off; the runtime value stays
        # but nothing is filled any more.
        self.daemon.write_conf("[sla]\nenabled = false\n")
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "Configuration reloaded" in self.daemon.read_log(), 5, "reload")
        self.send(event("ticket.created", "T-7", channel="email", priority="normal"))
        a = wait_for(lambda: alert(self.daemon.status(), "T-7"), 3, "T-7 on the board")
        self.assertIsNone(a["due_in_s"])
        self.assertIsNone(a["due_source"])

    def test_priority_still_required_without_rules(self):
        self.send(event("ticket.created", "T-5", channel="email"))
        errs = wait_for(lambda: self.client.on(ERRORS), 3, "rejection report")
        self.assertIn("ticket.priority: missing", errs[0]["reason"])
        self.assertIsNone(alert(self.daemon.status(), "T-5"))


class PriorityRules(BoardTest):
    daemon_conf = "[priority]\nenabled = true\n"

    def test_priority_from_content(self):
        self.send(event("ticket.created", "T-pub", channel="facebook", public=True,
                        subject="My order NEVER arrived, refund now"),
                  event("ticket.created", "T-dm", channel="telegram", public=False,
                        subject="Где мой заказ?"),
                  event("ticket.created", "T-thx", channel="instagram", public=True,
                        subject="Dziękuję, super obsługa!"),
                  event("ticket.created", "T-neg", channel="email", public=False,
                        subject="Appen virker ikke"),
                  event("ticket.created", "T-set", channel="email", priority="low",
                        subject="Refund please"))
        st = wait_for(lambda: (lambda s: s if len(s["alerts"]) == 5 else None)(
            self.daemon.status()), 3, "five tickets")
        got = {a["ticket_id"]: a["priority"] for a in st["alerts"]}
        self.assertEqual(got, {"T-pub": "urgent", "T-neg": "high", "T-dm": "normal",
                               "T-thx": "low", "T-set": "low"})
        # No SLA policy configured: no invented dues.
        self.assertIsNone(alert(st, "T-pub")["due_in_s"])


class PolicyOnDisplay(BoardTest):
    """/api/state and the wall display say which dues the board set."""

    def setUp(self):
        self.http_port = free_port()
        self.daemon_conf = SLA_CONF + "[display]\nlisten = 127.0.0.1:%d\n" % self.http_port
        # The harness writes an empty [display] section; ours replaces it.
        orig = harness.Daemon.write_conf

        def write_conf(daemon, extra=""):
            orig(daemon, extra)
            with open(daemon.conf) as f:
                text = f.read().replace("[display]\nlisten =\n", "", 1)
            with open(daemon.conf, "w") as f:
                f.write(text)
        harness.Daemon.write_conf = write_conf
        try:
            super().setUp()
        finally:
            harness.Daemon.write_conf = orig

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def send_two(self):
        self.send(event("ticket.created", "T-pol", channel="vk", priority="normal"),
                  event("ticket.created", "T-be", channel="vk", priority="normal",
                        due={"first_response": now_iso(900)}))

    def test_api_state_names_the_source(self):
        self.send_two()

        def api():
            with urllib.request.urlopen(self.url("/api/state"), timeout=10) as r:
                st = json.loads(r.read())
            return st if len(st["alerts"]) == 2 else None
        st = wait_for(api, 5, "two tickets on /api/state")
        self.assertEqual(alert(st, "T-pol")["due_source"], "policy")
        self.assertEqual(alert(st, "T-be")["due_source"], "backend")

    def test_display_marks_policy_dues(self):
        if harness.WRAP or not (browser and browser.CHROMIUM):
            raise unittest.SkipTest("needs chromium, not under valgrind")
        b = browser.Browser()
        try:
            b.set_size(1920, 1080)
            self.send_two()
            wait_for(lambda: len(self.daemon.status()["alerts"]) == 2, 5, "two tickets")
            b.navigate(self.url("/"))
            cell = ("(() => { const r = document.querySelector('tr[data-ticket=%s] td.c-sla');"
                    " return r ? (r.dataset.dueSource || '') + '|' + r.title : null; })()")
            got = wait_for(lambda: b.eval(cell % json.dumps("T-pol")), 15, "the policy row")
            self.assertEqual(got, "policy|SLA target set by the board")
            self.assertEqual(b.eval(cell % json.dumps("T-be")), "|")
        finally:
            b.close()
