"""teamboardd --check-board: where each role of a board profile resolves.

Here (no GPIO chips) the sim backend and the libgpiod error path are tested;
tests/hw/ runs the same command against real kernel GPIO chips in a VM
(make check-hw), where lines are free, held by teamboard or by another
program."""
import os
import shutil
import subprocess
import tempfile
import unittest

from tests.integration.harness import DAEMON, ROOT, WRAP


def run(*args, timeout=30):
    return subprocess.run(WRAP + [DAEMON] + list(args), capture_output=True, text=True,
                          timeout=timeout)


class CheckBoard(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-checkboard-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def conf(self, profile, backend):
        path = os.path.join(self.tmp, "teamboard.conf")
        with open(path, "w") as f:
            f.write("[board]\nid = b\nprofile = %s\n[gpio]\nbackend = %s\n" % (profile, backend))
        return path

    def rows(self, out):
        """ROLE -> the rest of its row, split on whitespace."""
        lines = out.splitlines()
        head = next(i for i, l in enumerate(lines) if l.startswith("ROLE"))
        rows = {}
        for l in lines[head + 1:]:
            cols = l.split()
            if cols and (cols[0].startswith("lamp.") or cols[0] in ("buzzer",) or
                         cols[0].startswith("button.")):
                rows[cols[0]] = cols[1:]
        return rows

    def test_sim_lists_every_role_of_the_profile(self):
        r = run("--check-board", "-c", self.conf(os.path.join(ROOT, "board/sim.conf"), "sim"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = self.rows(r.stdout)
        self.assertEqual(sorted(rows), sorted(["lamp.red", "lamp.amber", "lamp.green",
                                               "lamp.blue", "buzzer", "button.ack1",
                                               "button.ack2"]))
        # chip, offset, name, flags..., state
        self.assertEqual(rows["lamp.red"][:4], ["sim", "0", "GPIO17", "output"])
        self.assertEqual(rows["button.ack1"][2:6], ["GPIO24", "input", "active-low", "pull-up"])
        self.assertTrue(all(v[-1] == "free" for v in rows.values()), r.stdout)
        self.assertIn("'teamboard-sim'", r.stdout)

    def test_profile_without_blue_lists_no_blue(self):
        prof = os.path.join(self.tmp, "small.conf")
        with open(prof, "w") as f:
            f.write("[chip]\nlabel = x\n[lamp.red]\noffset = 3\n[lamp.amber]\nline = A\n"
                    "[lamp.green]\nline = G\n[button.b]\nline = B\n")
        r = run("--check-board", "-c", self.conf(prof, "sim"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(sorted(self.rows(r.stdout)),
                         ["button.b", "lamp.amber", "lamp.green", "lamp.red"])

    def test_missing_chip_is_a_clear_error(self):
        r = run("--check-board", "-c", self.conf(os.path.join(ROOT, "board/rpi5.conf"),
                                                 "libgpiod"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("chip 'pinctrl-rp1' not found", r.stdout)
        self.assertIn("rpi5.conf", r.stdout)

    def test_bad_config_is_exit_78(self):
        path = os.path.join(self.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write("[board]\nprofile = sim\n")
        r = run("--check-board", "-c", path)
        self.assertEqual(r.returncode, 78)

    def test_help_mentions_check_board(self):
        r = run("--help")
        self.assertIn("--check-board", r.stdout)
