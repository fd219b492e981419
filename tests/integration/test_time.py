"""Wall-clock faults (issue 3), with Debian's libfaketime preloaded into the
real daemon: FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE let the test step
CLOCK_REALTIME of the running process, FAKETIME_DONT_FAKE_MONOTONIC=1 leaves the
monotonic clock alone (as an NTP step does).

- A step of one hour forwards, then backwards, while SLA clocks run: no
  false breach before the due time, no lost breach at it.
- A board that boots with its clock in 1970 (unsynchronised) still breaches
  at the right moment, mapping due times through the backend's ts, and its
  status says the clock is not synchronised.

Skipped under valgrind (libfaketime would be preloaded into valgrind itself)
and when libfaketime is not installed.
"""
import glob
import os
import tempfile
import time
import unittest
from datetime import datetime, timezone

from tests.integration.harness import SLOW, WRAP, BoardTest, Daemon, event, now_iso, wait_for

LIBFAKETIME = (glob.glob("/usr/lib/*/faketime/libfaketime.so.1") or [None])[0]


@unittest.skipIf(WRAP, "libfaketime cannot be preloaded through valgrind")
@unittest.skipUnless(LIBFAKETIME, "libfaketime not installed (tools/deps test)")
class ClockSteps(BoardTest):
    clock = "synced"
    initial = "+0"

    def setUp(self):
        fd, self.fake_file = tempfile.mkstemp(suffix=".faketime")
        with os.fdopen(fd, "w") as f:
            f.write(self.initial + "\n")
        fake = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": self.fake_file,
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "TEAMBOARD_CLOCK": self.clock,
                # ASan wants to come first in the link order; libfaketime
                # only wraps time functions.
                "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        # Only the daemon runs on fake time, not the broker or the test.
        orig = Daemon.start
        Daemon.start = lambda d, env=None: orig(d, env=dict(fake, **(env or {})))
        try:
            super().setUp()
        except BaseException:
            self.tearDown()
            raise
        finally:
            Daemon.start = orig

    def tearDown(self):
        super().tearDown()
        os.unlink(self.fake_file)

    def step(self, spec):
        # Atomically: with FAKETIME_NO_CACHE the daemon reads the file at
        # any moment, and libfaketime exits the process when it finds it
        # empty or half-written (seen with Debian 13's libfaketime).
        tmp = self.fake_file + ".new"
        with open(tmp, "w") as f:
            f.write(spec + "\n")
        os.replace(tmp, self.fake_file)

    def board_now_offset(self):
        """Board's wall clock minus ours, in seconds."""
        st = self.daemon.status()
        board = datetime.fromisoformat(st["now"].replace("Z", "+00:00"))
        return (board - datetime.now(timezone.utc)).total_seconds()

    def breached(self, tid):
        for a in self.daemon.status()["alerts"]:
            if a["ticket_id"] == tid:
                return a["kind"] == "breach" or a["kind"] == "sla.breached"
        return False


class StepForwardAndBack(ClockSteps):

    def test_steps_neither_fire_nor_lose_a_breach(self):
        due_s = 8.0
        t0 = time.monotonic()
        self.send(event("ticket.created", "W-1", channel="vk", priority="urgent",
                        due={"first_response": now_iso(due_s)}))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 1, 5, "ticket")
        self.step("+3600")
        wait_for(lambda: abs(self.board_now_offset() - 3600) < 5, 5, "the board's clock +1 h")
        # An hour later by the wall clock, but not by the SLA's: no breach.
        self.assertFalse(self.breached("W-1"), "false breach after a forward step")
        self.assertEqual(self.daemon.status()["counts"]["breached"], 0)
        self.step("-3600")
        wait_for(lambda: abs(self.board_now_offset() + 3600) < 5, 5, "the board's clock -1 h")
        self.assertEqual(self.daemon.status()["counts"]["breached"], 0)
        self.assertLess(time.monotonic() - t0, due_s - 1, "test too slow to prove anything")
        # An hour earlier by the wall clock; the breach still comes on time.
        wait_for(lambda: self.daemon.status()["counts"]["breached"] == 1, due_s + 5,
                 "breach at the due time despite the backward step")
        late = time.monotonic() - t0
        self.assertGreater(late, due_s * 0.95 - 0.5, "breach too early")
        self.assertLess(late, due_s + 3 * SLOW, "breach too late")


class UnsyncedBoot(ClockSteps):
    clock = "unsynced"
    # Relative, so the fake clock runs: ~1970-01-02 (a Pi without RTC).
    initial = "-%dd" % (int(time.time() // 86400) - 1)

    def test_1970_board_breaches_on_time_and_says_unsynced(self):
        st = self.daemon.status()
        self.assertFalse(st["clock_synced"])
        self.assertTrue(st["now"].startswith("1970-"), st["now"])
        due_s = 6.0
        t0 = time.monotonic()
        self.send(event("ticket.created", "U-1", channel="vk", priority="urgent",
                        due={"first_response": now_iso(due_s)}))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 1, 5, "ticket")
        self.assertEqual(self.daemon.status()["counts"]["breached"], 0,
                         "breached at once: the due time was taken against a 1970 clock")
        wait_for(lambda: self.daemon.status()["counts"]["breached"] == 1, due_s + 5,
                 "breach at the due time")
        late = time.monotonic() - t0
        self.assertGreater(late, due_s * 0.95 - 0.5, "breach too early")
        self.assertFalse(self.daemon.status()["clock_synced"])
