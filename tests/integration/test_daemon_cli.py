"""teamboardd's command line, configuration errors and reload (SPEC §7)."""
import os
import re
import signal
import subprocess
import tempfile
import shutil
import unittest

from tests.integration.harness import (DAEMON, ROOT, WRAP, BoardTest, Daemon,
                                       event, wait_for)


def run(*args, timeout=30):
    return subprocess.run(WRAP + [DAEMON] + list(args), capture_output=True, text=True,
                          timeout=timeout)


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def conf(self, text):
        path = os.path.join(self.tmp, "teamboard.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_help_and_version(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("--config", "--check-config", "--reset-outputs", "SIGHUP", "78"):
            self.assertIn(word, r.stdout)
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("teamboardd "))
        r = run("--bogus")
        self.assertEqual(r.returncode, 64)

    def test_shipped_example_checks_with_a_board_id(self):
        with open(os.path.join(ROOT, "teamboard.conf.example")) as f:
            text = f.read()
        text = text.replace("profile = rpi4", "profile = %s/board/rpi4.conf" % ROOT, 1)
        r = run("--check-config", "-c", self.conf(text))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_config_errors_name_file_line_and_key(self):
        path = self.conf("[board]\nid = floor2\nprofile = %s/board/sim.conf\n\n"
                         "[alerts]\nwarn_at = 150%%\n" % ROOT)
        r = run("--check-config", "-c", path)
        self.assertEqual(r.returncode, 78)
        self.assertRegex(r.stderr, re.escape(path) + r":6: alerts\.warn_at")

        path = self.conf("[board]\nid = floor2\nprofile = %s/board/sim.conf\ncolour = red\n" % ROOT)
        r = run("--check-config", "-c", path)
        self.assertEqual(r.returncode, 78)
        self.assertRegex(r.stderr, r":4: board\.colour")

        r = run("--check-config", "-c", self.conf("[board]\nprofile = sim\n"))
        self.assertEqual(r.returncode, 78)
        self.assertIn("board.id", r.stderr)

        r = run("--check-config", "-c", os.path.join(self.tmp, "missing.conf"))
        self.assertEqual(r.returncode, 78)
        self.assertIn("missing.conf", r.stderr)

    def test_unusable_tls_files_are_config_errors_that_name_key_and_file(self):
        # --check-config loads the TLS files as the daemon will, so a CA file
        # that is missing or not PEM is found before a restart.
        base = ("[board]\nid = floor2\nprofile = %s/board/sim.conf\n[gpio]\nbackend = sim\n"
                "[mqtt]\ntls = true\n" % ROOT)
        missing = os.path.join(self.tmp, "missing.crt")
        r = run("--check-config", "-c", self.conf(base + "cafile = %s\n" % missing))
        self.assertEqual(r.returncode, 78)
        self.assertIn("TLS: cannot read mqtt.cafile %s: No such file or directory" % missing,
                      r.stderr)
        garbage = os.path.join(self.tmp, "garbage.crt")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        r = run("--check-config", "-c", self.conf(base + "cafile = %s\n" % garbage))
        self.assertEqual(r.returncode, 78)
        self.assertIn("TLS: cannot load CA certificates from %s: no certificate or crl found"
                      % garbage, r.stderr)
        # Without tls the files are not looked at.
        r = run("--check-config", "-c",
                self.conf(base.replace("tls = true", "tls = false") + "cafile = %s\n" % missing))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_board_profile_is_a_config_error(self):
        prof = os.path.join(self.tmp, "bad.conf")
        with open(prof, "w") as f:
            f.write("[chip]\nlabel = x\n[lamp.red]\nline = GPIO17\n[lamp.amber]\nline = GPIO17\n")
        r = run("--check-config", "-c", self.conf("[board]\nid = b\nprofile = %s\n" % prof))
        self.assertEqual(r.returncode, 78)
        self.assertIn("bad.conf", r.stderr)

    def test_reset_outputs(self):
        path = self.conf("[board]\nid = b\nprofile = %s/board/sim.conf\n[gpio]\nbackend = sim\n"
                         % ROOT)
        r = run("--reset-outputs", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Real GPIO that is not there: a clear error naming the chip, exit 1.
        path = self.conf("[board]\nid = b\nprofile = %s/board/rpi4.conf\n" % ROOT)
        r = run("--reset-outputs", "-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("pinctrl-bcm2711", r.stderr)


class Reload(BoardTest):
    def test_sighup_applies_valid_and_keeps_running_config_on_invalid(self):
        self.daemon.write_conf("[alerts]\nchirp_min_priority = urgent\n")
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "Configuration reloaded" in self.daemon.read_log(), 3, "reload")
        self.send(event("ticket.created", "T-1", channel="chat", priority="high"))
        wait_for(lambda: self.daemon.lamps()["amber"] == "slow", 3, "alert")
        self.assertNotIn("chirp", self.daemon.sounds())    # high < urgent now

        with open(self.daemon.conf, "a") as f:
            f.write("\n[alerts]\nbogus = 1\n")
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "keeping the running configuration" in self.daemon.read_log(), 3,
                 "reload refusal")
        self.assertEqual(self.daemon.ok("ping"), {"pong": True})
        self.send(event("ticket.created", "T-2", channel="chat", priority="high"))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 2, 3, "second ticket")
        self.assertNotIn("chirp", self.daemon.sounds())    # old (valid) config still in force

    def test_sigterm_publishes_offline(self):
        self.assertEqual(self.daemon.stop(), 0)
        status = wait_for(lambda: [s for s in self.client.on("teamboard/test/status")
                                   if s and s["state"] == "offline"], 3, "offline status")
        self.assertEqual(status[-1]["state"], "offline")
        self.assertNotIn("lost", [s["state"] for s in self.client.on("teamboard/test/status") if s])
