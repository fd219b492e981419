"""A fleet (issue 5): three boards, three daemons, one broker. A fleet-wide
command reaches each board and each replies exactly once; a command for one
board reaches only that board."""
import shutil
import tempfile
import unittest
import uuid

from tests.integration.fleet import NamedDaemon
from tests.integration.harness import Broker, Client, wait_for

BOARDS = ("floor1", "floor2", "floor3")


class Fleet(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-fleet-")
        self.broker = Broker(self.tmp)
        self.broker.start()
        self.client = Client(self.broker.port)
        self.daemons = {}
        for b in BOARDS:
            d = NamedDaemon(self.tmp, self.broker.port, b)
            d.start()
            self.daemons[b] = d
        for b, d in self.daemons.items():
            wait_for(lambda d=d: d.status()["broker"] == "connected", 10, "%s to connect" % b)
            wait_for(lambda b=b: self.client.on("teamboard/%s/status" % b), 10, "%s status" % b)

    def tearDown(self):
        codes = {b: d.stop() for b, d in self.daemons.items()}
        self.client.close()
        self.broker.stop()
        failed = any(t is self for t, _ in self._outcome.result.errors + self._outcome.result.failures) \
            if hasattr(self._outcome, "result") else False
        if failed:
            for b, d in self.daemons.items():
                print("\n--- %s log ---\n%s" % (b, d.read_log()[-3000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(codes, {b: 0 for b in BOARDS})

    def replies(self, board, verb, tx):
        return [r for r in self.client.on("teamboard/%s/reply/%s" % (board, verb))
                if r and r.get("transaction") == tx]

    def fleet_marker(self):
        """A fleet-wide ping answered by every board: everything published
        before it by this client has been handled by then (per-client order)."""
        tx = "marker-" + uuid.uuid4().hex[:6]
        self.client.publish("teamboard/all/cmd/ping", {"transaction": tx})
        for b in BOARDS:
            wait_for(lambda b=b: self.replies(b, "ping", tx), 5, "%s marker reply" % b)

    def test_fleet_wide_and_board_specific_commands(self):
        self.client.publish("teamboard/all/cmd/mute", {"transaction": "fleet-1", "for": "10m"})
        for b in BOARDS:
            wait_for(lambda b=b: self.replies(b, "mute", "fleet-1"), 5, "%s reply" % b)
        self.fleet_marker()
        for b, d in self.daemons.items():
            self.assertEqual(len(self.replies(b, "mute", "fleet-1")), 1, b)
            self.assertEqual(self.replies(b, "mute", "fleet-1")[0]["status"], "ok")
            self.assertIsNotNone(d.status()["muted_until"], b)

        self.client.publish("teamboard/floor2/cmd/unmute", {"transaction": "only-2"})
        wait_for(lambda: self.replies("floor2", "unmute", "only-2"), 5, "floor2 reply")
        self.fleet_marker()
        self.assertEqual(len(self.replies("floor2", "unmute", "only-2")), 1)
        self.assertEqual(self.replies("floor1", "unmute", "only-2"), [])
        self.assertEqual(self.replies("floor3", "unmute", "only-2"), [])
        self.assertIsNone(self.daemons["floor2"].status()["muted_until"])
        self.assertIsNotNone(self.daemons["floor1"].status()["muted_until"])
        self.assertIsNotNone(self.daemons["floor3"].status()["muted_until"])
