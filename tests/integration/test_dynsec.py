"""Broker ACLs with mosquitto's dynamic-security plugin (issue 5): the broker
runs with the plugin, docs/examples/mosquitto-dynsec.sh sets up users and
roles through mosquitto_ctrl as an admin would, and the board logs in with
mqtt.password_file. A board cannot command another board nor fake the
backend's events; the backend and an admin can do their jobs. The plugin
checks subscriptions too: a filter the board's role does not allow is
refused in the SUBACK, and the board says so in a warning and in health."""
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from tests.integration.fleet import ConfBroker, NamedDaemon
from tests.integration.harness import ROOT, wait_for
from tests.integration.test_acl import USERS, RoleChecks

PLUGIN = (glob.glob("/usr/lib/*/mosquitto_dynamic_security.so") +
          glob.glob("/usr/lib/mosquitto_dynamic_security.so"))
SCRIPT = os.path.join(ROOT, "docs", "examples", "mosquitto-dynsec.sh")
# The board also asks for every board's ack records, which its role does
# not allow: the broker refuses that one filter.
DENIED = "teamboard/+/acks"


@unittest.skipUnless(PLUGIN and shutil.which("mosquitto_ctrl"),
                     "mosquitto dynamic-security plugin or mosquitto_ctrl not installed")
class DynamicSecurity(RoleChecks, unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-dynsec-")
        self.daemon = None
        self.users = []
        conf = os.path.join(self.tmp, "dynsec.json")
        subprocess.run(["mosquitto_ctrl", "dynsec", "init", conf, "admin", "pw-dynsec-admin"],
                       check=True, capture_output=True)
        self.broker = ConfBroker(self.tmp, "plugin %s\nplugin_opt_config_file %s\n"
                                 % (PLUGIN[0], conf))
        self.broker.start()
        pwdir = os.path.join(self.tmp, "passwords")
        os.makedirs(pwdir)
        for user, pw in USERS.items():
            with open(os.path.join(pwdir, user), "w") as f:
                f.write(pw + "\n")
        env = dict(os.environ, MQTT_HOST="127.0.0.1", MQTT_PORT=str(self.broker.port),
                   ADMIN_USER="admin", ADMIN_PASS="pw-dynsec-admin", BOARDS="floor1 floor2",
                   PASSWORD_DIR=pwdir)
        out = subprocess.run(["sh", SCRIPT], env=env, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, "the example script failed:\n%s%s"
                         % (out.stdout, out.stderr))

    def start_board(self, protocol="5"):
        self.daemon = NamedDaemon(self.tmp, self.broker.port, "floor1")
        with open(self.daemon.conf) as f:
            text = f.read()
        self.assertIn("events_topic = helpdesk/+/events\n", text)
        text = text.replace("keepalive = 5s\n", "keepalive = 5s\nusername = floor1\n"
                            "password_file = %s\nprotocol = %s\n"
                            % (os.path.join(self.tmp, "passwords", "floor1"), protocol))
        text = text.replace("events_topic = helpdesk/+/events\n",
                            "events_topic = helpdesk/+/events, %s\n" % DENIED)
        with open(self.daemon.conf, "w") as f:
            f.write(text)
        self.daemon.start()
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 10, "board to connect")

    def tearDown(self):
        code = self.daemon.stop() if self.daemon else 0
        for u in self.users:
            u.close()
        self.broker.stop()
        result = getattr(self._outcome, "result", None)
        if result and any(t is self for t, _ in result.errors + result.failures):
            print("\n--- board log ---\n%s\n--- broker log ---\n%s"
                  % (self.daemon.read_log()[-3000:] if self.daemon else "",
                     self.broker.read_log()[-3000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(code, 0)

    def assert_refusal_reported(self, admin, refused=(DENIED,)):
        for f in refused:
            wait_for(lambda: "Broker refused subscription to '%s'" % f in self.daemon.read_log(),
                     5, "the warning about the refused subscription %s" % f)
        health = wait_for(lambda: [h for h in admin.on("teamboard/floor1/health")
                                   if len(h.get("subscriptions_refused", [])) == len(refused)],
                          5, "health naming the refused subscriptions")[-1]
        # Only the denied filters: the others were granted.
        self.assertEqual(health["subscriptions_refused"], list(refused))

    def test_boards_backend_and_admins_only_do_their_jobs(self):
        admin = self.user("admin-anna", ["teamboard/#"])
        self.start_board()
        self.check_roles(admin)
        self.assert_refusal_reported(admin)

    def test_refused_subscriptions_with_mqtt_311(self):
        # Take the fleet-wide commands from floor1's role: that filter is in
        # the board's second SUBSCRIBE (commands), and is named as such.
        subprocess.run(["mosquitto_ctrl", "-h", "127.0.0.1", "-p", str(self.broker.port),
                        "-u", "admin", "-P", "pw-dynsec-admin", "dynsec", "removeRoleACL",
                        "board-floor1", "subscribePattern", "teamboard/all/cmd/#"],
                       check=True, capture_output=True)
        admin = self.user("admin-anna", ["teamboard/#"])
        # 3.1.1 has one failure code (0x80) and no reason: still reported.
        self.start_board(protocol="3.1.1")
        self.assert_refusal_reported(admin, (DENIED, "teamboard/all/cmd/+"))
        self.assertIn("MQTT 3.1.1 gives no reason", self.daemon.read_log())
        # The board's own commands still work.
        admin.publish("teamboard/floor1/cmd/ping", {"transaction": "ok-311"})
        wait_for(lambda: admin.on("teamboard/floor1/reply/ping"), 5, "admin's reply")
