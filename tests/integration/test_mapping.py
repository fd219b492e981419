"""Payload mapping end to end (issue 8.1): helpdesk webhooks as the
helpdesks send them (the samples in tests/mapping/), published on mapped
topics to a real mosquitto, through the real teamboardd; what the floor
sees (lamps, status) and what the backend's operators get back (errors)."""
import copy
import json
import os
import re
import subprocess
import tempfile
import shutil
import time
import unittest
from datetime import datetime, timezone

from tests.integration.harness import (BOARD, CTL, DAEMON, ROOT, WRAP, BoardTest,
                                       event, free_port, wait_for, events_total)

ERRORS = "teamboard/%s/errors" % BOARD
SAMPLES = os.path.join(ROOT, "tests", "mapping")

MAPPINGS = """
[mapping zendesk]
preset = {root}/mappings/zendesk.conf
topic = helpdesk/zendesk/tickets

[mapping jira]
preset = {root}/mappings/jira.conf
""".format(root=ROOT)


def sample(preset, name):
    with open(os.path.join(SAMPLES, preset, name)) as f:
        return json.load(f)


def zendesk(name, ticket_id=None, minutes_ago=0):
    """A Zendesk sample, dated now (to the minute, as Zendesk prints it)."""
    p = sample("zendesk", name)
    when = datetime.fromtimestamp(time.time() - 60 * minutes_ago, timezone.utc)
    p["ticket"]["updated_at"] = when.strftime("%Y-%m-%dT%H:%MZ")
    if ticket_id:
        p["ticket"]["id"] = ticket_id
    return p


def alert(status, ticket_id):
    for a in status["alerts"]:
        if a["ticket_id"] == ticket_id:
            return a
    return None


class MappedTopics(BoardTest):
    daemon_conf = MAPPINGS

    def errors(self):
        return self.client.on(ERRORS)

    def test_zendesk_ticket_lights_the_board_and_its_reply_clears_it(self):
        self.send(zendesk("created.json", minutes_ago=1), topic="helpdesk/zendesk/tickets")
        self.wait_lamp("amber", "slow")
        a = alert(self.daemon.status(), "ZD-1042")
        self.assertIsNotNone(a, "the mapped ticket is on the board")
        self.assertEqual(a["channel"], "facebook")
        self.assertEqual(a["priority"], "urgent")
        self.assertEqual(a["state"], "unacked")
        wait_for(lambda: "chirp" in self.daemon.sounds(), 3, "chirp for the new ticket")

        self.send(zendesk("replied.json"), topic="helpdesk/zendesk/tickets")
        self.wait_lamp("amber", "off")
        self.assertEqual(self.daemon.lamps()["green"], "steady")
        self.assertEqual(self.errors(), [])

    def test_bad_webhooks_are_rejected_on_the_errors_topic(self):
        bad = sample("zendesk", "bad-time.json")  # its date is not one
        good = zendesk("created.json", ticket_id="2001")
        # One message with a bad item and a good one: the good one counts.
        self.send([bad, good], topic="helpdesk/zendesk/tickets")
        self.wait_lamp("amber", "slow")
        self.assertIsNotNone(alert(self.daemon.status(), "ZD-2001"))
        errs = wait_for(lambda: self.errors(), 5, "error report")
        self.assertEqual(len(errs), 1)
        self.assertTrue(errs[0]["event_id"].startswith("zendesk-"), errs[0])
        self.assertEqual(errs[0]["topic"], "helpdesk/zendesk/tickets")
        self.assertEqual(errs[0]["reason"],
                         "mapping zendesk: ts: /ticket/updated_at is not a time in the "
                         "iso8601 format: '25.11.2026 12:15'")

        self.client.publish("helpdesk/zendesk/tickets", b"<html>502 Bad Gateway</html>")
        wait_for(lambda: len(self.errors()) == 2, 5, "second error report")
        self.assertEqual(self.errors()[1]["reason"], "mapping zendesk: payload is not valid JSON")
        self.assertIsNone(self.errors()[1]["event_id"])

        # Mapped, then refused by the event parser: its reason, the hash id.
        odd = zendesk("created.json", ticket_id="2002")
        odd["ticket"]["priority"] = "Critical"
        self.send(odd, topic="helpdesk/zendesk/tickets")
        wait_for(lambda: len(self.errors()) == 3, 5, "third error report")
        self.assertEqual(self.errors()[2]["reason"], "ticket.priority: unknown value 'Critical'")
        self.assertTrue(self.errors()[2]["event_id"].startswith("zendesk-"))
        self.assertIsNone(alert(self.daemon.status(), "ZD-2002"))

    def test_jira_issue_with_sla_fields_keeps_its_due_time(self):
        p = sample("jira", "issue_created.json")
        now_ms = int(time.time() * 1000)
        p["timestamp"] = now_ms
        p["issue"]["key"] = "SUP-900"
        fields = p["issue"]["fields"]
        fields["customfield_10030"]["ongoingCycle"]["breachTime"]["epochMillis"] = now_ms + 3600000
        fields["customfield_10031"]["ongoingCycle"]["breachTime"]["epochMillis"] = now_ms + 8 * 3600000
        self.send(p, topic="helpdesk/jira/webhook")
        self.wait_lamp("amber", "slow")
        a = alert(self.daemon.status(), "SUP-900")
        self.assertIsNotNone(a)
        self.assertEqual(a["priority"], "high")
        self.assertEqual(a["channel"], "web")
        self.assertEqual(a["kind"], "new")
        self.assertEqual(a["due_sla"], "first_response")
        self.assertEqual(a["due_source"], "backend")
        self.assertTrue(3500 <= a["due_in_s"] <= 3600, a)

        resolved = sample("jira", "issue_resolved.json")
        resolved["timestamp"] = now_ms + 1000
        resolved["issue"]["key"] = "SUP-900"
        self.send(resolved, topic="helpdesk/jira/webhook")
        self.wait_lamp("amber", "off")
        self.assertEqual(self.errors(), [])

    def test_jira_agent_reply_is_the_first_response(self):
        now_ms = int(time.time() * 1000)
        p = sample("jira", "issue_created.json")
        p["timestamp"] = now_ms - 60000
        p["issue"]["key"] = "SUP-901"
        fields = p["issue"]["fields"]
        fields["customfield_10030"]["ongoingCycle"]["breachTime"]["epochMillis"] = now_ms + 3600000
        fields["customfield_10031"]["ongoingCycle"]["breachTime"]["epochMillis"] = now_ms + 8 * 3600000
        self.send(p, topic="helpdesk/jira/webhook")
        self.wait_lamp("amber", "slow")
        # An internal note and the customer's comment answer nothing.
        for i, c in enumerate(sample("jira", "comment_not_a_reply.json")):
            c["timestamp"] = now_ms - 50000 + i
            c["issue"]["key"] = "SUP-901"
            self.send(c, topic="helpdesk/jira/webhook")
        reply = sample("jira", "comment_created.json")
        reply["timestamp"] = now_ms
        reply["issue"]["key"] = "SUP-901"
        time.sleep(0.5)
        a = alert(self.daemon.status(), "SUP-901")
        self.assertEqual((a["kind"], a["due_sla"]), ("new", "first_response"), a)
        self.assertEqual(self.daemon.lamps()["amber"], "slow")
        self.send(reply, topic="helpdesk/jira/webhook")
        # Answered: no longer a new ticket waiting for its first response.
        self.wait_lamp("amber", "off")
        self.assertEqual(self.errors(), [])

    def test_native_events_still_work_beside_mapped_topics(self):
        self.send(event("ticket.created", "T-1", channel="email", priority="high"),
                  topic="helpdesk/support/events")
        self.wait_lamp("amber", "slow")
        self.assertIsNotNone(alert(self.daemon.status(), "T-1"))
        self.assertEqual(self.errors(), [])


class ReloadedMapping(BoardTest):
    daemon_conf = MAPPINGS

    def test_reload_moves_a_mapping_to_its_new_topic(self):
        with open(self.daemon.conf) as f:
            conf = f.read()
        conf = conf.replace("topic = helpdesk/zendesk/tickets", "topic = hooks/zendesk/+")
        with open(self.daemon.conf, "w") as f:
            f.write(conf)
        self.daemon.ok("reload")
        wait_for(lambda: "subscribing again" in self.daemon.read_log(), 5, "reload logged")
        self.wait_connected()
        # The new topic is subscribed (a new session) and mapped.
        wait_for(lambda: (self.send(zendesk("created.json", ticket_id="4001"),
                                    topic="hooks/zendesk/in"),
                          alert(self.daemon.status(), "ZD-4001"))[1] is not None,
                 10, "the ticket sent on the new topic")
        # The old one is no longer mapped: on the events topic it is SPEC JSON.
        self.send(zendesk("created.json", ticket_id="4002"), topic="helpdesk/zendesk/events")
        errs = wait_for(lambda: self.client.on(ERRORS), 5, "error report")
        self.assertEqual(errs[-1]["reason"], "id: missing")
        self.assertIsNone(alert(self.daemon.status(), "ZD-4002"))


class Redelivery(BoardTest):
    """A webhook sent twice (bridge retry, QoS 1 duplicate) has one effect:
    the fallback id is the same hash both times. Counted on /metrics."""
    daemon_conf = MAPPINGS

    def setUp(self):
        super().setUp()
        self.http_port = free_port()
        self.daemon.stop()
        with open(self.daemon.conf) as f:
            conf = f.read()
        conf = re.sub(r"^listen =.*\n", "listen = 127.0.0.1:%d\n" % self.http_port, conf,
                      flags=re.M)
        with open(self.daemon.conf, "w") as f:
            f.write(conf)
        self.daemon.start()
        self.wait_connected()

    def metrics(self):
        return events_total(self.http_port)

    def test_the_same_webhook_twice_is_one_event(self):
        p = zendesk("created.json", ticket_id="3001")
        self.send(p, topic="helpdesk/zendesk/tickets")
        self.wait_lamp("amber", "slow")
        # Same content with its keys in another order: still the same event.
        again = {"ticket": dict(reversed(list(copy.deepcopy(p["ticket"]).items()))),
                 "event": p["event"]}
        self.send(again, topic="helpdesk/zendesk/tickets")
        wait_for(lambda: self.metrics().get("duplicate") == 1, 5, "the copy counted a duplicate")
        # A real change (solved) is a new event.
        solved = zendesk("solved.json", ticket_id="3001")
        self.send(solved, topic="helpdesk/zendesk/tickets")
        self.wait_lamp("amber", "off")
        m = self.metrics()
        self.assertEqual((m["applied"], m["duplicate"], m["rejected"]), (2, 1, 0))


class MappingConfigAndTools(unittest.TestCase):
    """--check-config and teamboardctl map-test, no broker needed."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-map-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def conf(self, extra):
        path = os.path.join(self.tmp, "teamboard.conf")
        with open(path, "w") as f:
            f.write("[board]\nid = b1\nprofile = %s/board/sim.conf\n\n[gpio]\nbackend = sim\n"
                    "%s" % (ROOT, extra))
        return path

    def test_a_bad_mapping_is_a_config_error_with_file_line_key(self):
        path = self.conf(MAPPINGS + '\n[mapping crm]\ntopic = crm/#\n'
                         'type.rule = /kind == "new" -> ticket.made\n')
        r = subprocess.run(WRAP + [DAEMON, "--check-config", "-c", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("%s:17: mapping crm.type.rule: 'ticket.made' is not an event type" % path,
                      r.stderr)

        path = self.conf("[mapping zd]\npreset = nosuch\ntopic = a/b\n")
        r = subprocess.run(WRAP + [DAEMON, "--check-config", "-c", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 78)
        self.assertIn("%s:8: mapping zd.preset: cannot read preset" % path, r.stderr)

        r = subprocess.run(WRAP + [DAEMON, "--check-config", "-c", self.conf(MAPPINGS)],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_topic_two_subscriptions_match_is_refused(self):
        # mosquitto delivers a message once per matching subscription: the
        # old preset default helpdesk/zendesk/# and the default events
        # topic helpdesk/+/events both match helpdesk/zendesk/events.
        path = self.conf("[mapping zd]\npreset = %s/mappings/zendesk.conf\n"
                         "topic = helpdesk/zendesk/#\n" % ROOT)
        r = subprocess.run(WRAP + [DAEMON, "--check-config", "-c", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("%s:9: mapping zd.topic: 'helpdesk/zendesk/#' and mqtt.events_topic "
                      "'helpdesk/+/events' (the default) both match 'helpdesk/zendesk/events'"
                      % path, r.stderr)
        # The presets' own topics stay clear of it and of each other.
        path = self.conf("".join("[mapping %s]\npreset = %s/mappings/%s.conf\n" % (n, ROOT, n)
                                 for n in ("zendesk", "freshdesk", "jira")))
        r = subprocess.run(WRAP + [DAEMON, "--check-config", "-c", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def map_test(self, *args):
        return subprocess.run(WRAP + [CTL] + list(args), capture_output=True, text=True,
                              timeout=30)

    def test_map_test_shows_the_event_or_the_reason(self):
        path = self.conf(MAPPINGS)
        r = self.map_test("-c", path, "map-test", os.path.join(SAMPLES, "jira", "waiting.json"),
                          "--mapping", "jira")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout),
                         sample("jira", "waiting.expected.json"))

        r = self.map_test("-c", path, "map-test", os.path.join(SAMPLES, "zendesk", "bad-time.json"),
                          "--topic", "helpdesk/zendesk/tickets")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout), [])
        self.assertIn("mapping zendesk: ts: /ticket/updated_at is not a time", r.stderr)

        # A preset on its own, and the payload on stdin.
        r = subprocess.run(WRAP + [CTL, "map-test", "-", "--preset",
                                   os.path.join(ROOT, "mappings", "freshdesk.conf")],
                           input=json.dumps(sample("freshdesk", "bad-priority.json")),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("ticket.priority: unknown value 'Extreme'", r.stderr)

        r = self.map_test("-c", path, "map-test", os.path.join(SAMPLES, "jira", "waiting.json"))
        self.assertEqual(r.returncode, 64)
        self.assertIn("has 2 [mapping] sections", r.stderr)
        r = self.map_test("map-test")
        self.assertEqual(r.returncode, 64)


if __name__ == "__main__":
    unittest.main()
