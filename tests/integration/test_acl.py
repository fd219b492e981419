"""Broker ACLs (issue 5): mosquitto runs with docs/examples/mosquitto-acl.conf
and a password file; the board logs in with mqtt.password_file. A board
cannot command another board nor fake the backend's events; the backend and
an admin can do their jobs; the password never shows in a log or a reply."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import uuid

import paho.mqtt.client as paho

from tests.integration.fleet import ConfBroker, NamedDaemon
from tests.integration.harness import ROOT, SLOW, event, wait_for

SECRET = "s3cret-" + uuid.uuid4().hex[:12]
USERS = {"floor1": SECRET, "floor2": "pw-floor2", "backend": "pw-backend",
         "admin-anna": "pw-admin"}


class User:
    """An MQTT client logged in as `user`; records what it receives."""

    def __init__(self, port, user, subscribe=()):
        self.messages = []
        self.c = paho.Client(client_id="t-%s-%s" % (user, uuid.uuid4().hex[:6]),
                             protocol=paho.MQTTv311)
        self.c.username_pw_set(user, USERS[user])
        self.ready = False
        self.rc = None

        def on_connect(c, u, flags, rc):
            self.rc = rc
            for t in subscribe:
                c.subscribe(t, qos=1)
            self.ready = True
        self.c.on_connect = on_connect
        self.c.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        wait_for(lambda: self.ready, 10, "%s to connect" % user)
        if self.rc != 0:
            raise AssertionError("%s refused by the broker: rc %s" % (user, self.rc))

    def publish(self, topic, payload):
        self.c.publish(topic, json.dumps(payload), qos=1).wait_for_publish()

    def on(self, topic):
        return [json.loads(p) for t, p in list(self.messages) if t == topic]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class RoleChecks:
    """What the broker's access control must give, whichever kind it is
    (acl_file here, dynamic security in test_dynsec): needs self.broker,
    self.users and a started board floor1."""

    def user(self, name, subscribe=()):
        u = User(self.broker.port, name, subscribe)
        self.users.append(u)
        return u

    def denied(self, user, topic):
        return wait_for(lambda: any(user in l and "'%s'" % topic in l for l in
                                    self.broker.read_log().splitlines()
                                    if "Denied PUBLISH" in l),
                        5, "broker to deny %s publishing %s" % (user, topic))

    def check_roles(self, admin):
        backend = self.user("backend")
        rogue = self.user("floor2")

        # Another board can neither command floor1 nor fake backend events.
        rogue.publish("teamboard/floor1/cmd/mute", {"transaction": "evil-1", "for": "1h"})
        self.denied("floor2", "teamboard/floor1/cmd/mute")
        rogue.publish("teamboard/all/cmd/mute", {"transaction": "evil-2", "for": "1h"})
        self.denied("floor2", "teamboard/all/cmd/mute")
        rogue.publish("helpdesk/support/events", event("ticket.created", "FAKE-1"))
        self.denied("floor2", "helpdesk/support/events")
        # Nor can the backend command a board.
        backend.publish("teamboard/floor1/cmd/unmute", {"transaction": "evil-3"})
        self.denied("backend", "teamboard/floor1/cmd/unmute")

        # The backend's events and the admin's commands get through.
        backend.publish("helpdesk/support/events",
                        event("ticket.created", "T-1", channel="email", priority="normal"))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 1, 5, "backend event")
        admin.publish("teamboard/floor1/cmd/ping", {"transaction": "ok-1"})
        reply = wait_for(lambda: admin.on("teamboard/floor1/reply/ping"), 5, "admin's reply")
        self.assertEqual(reply[0]["transaction"], "ok-1")

        st = self.daemon.status()
        self.assertIsNone(st["muted_until"])
        self.assertEqual([a["ticket_id"] for a in st["alerts"]], ["T-1"])
        self.assertEqual(admin.on("teamboard/floor1/reply/mute"), [])
        self.assertEqual(admin.on("teamboard/floor1/reply/unmute"), [])


class BrokerAcl(RoleChecks, unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-acl-")
        pwfile = os.path.join(self.tmp, "passwd")
        open(pwfile, "w").close()
        for user, pw in USERS.items():
            subprocess.run(["mosquitto_passwd", "-b", pwfile, user, pw], check=True,
                           capture_output=True)
        acl = os.path.join(ROOT, "docs", "examples", "mosquitto-acl.conf")
        self.broker = ConfBroker(self.tmp, "allow_anonymous false\npassword_file %s\n"
                                 "acl_file %s\n" % (pwfile, acl))
        self.broker.start()
        secret_file = os.path.join(self.tmp, "floor1.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret_file, 0o600)
        self.daemon = NamedDaemon(self.tmp, self.broker.port, "floor1")
        # [mqtt] is already in the file: append the credentials to it.
        with open(self.daemon.conf) as f:
            text = f.read()
        text = text.replace("keepalive = 5s\n", "keepalive = 5s\nusername = floor1\n"
                            "password_file = %s\n" % secret_file)
        with open(self.daemon.conf, "w") as f:
            f.write(text)
        self.daemon.start()
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 10, "board to connect")
        self.users = []
        self.stop_code = None

    def tearDown(self):
        code = self.daemon.stop()
        code = self.stop_code if code is None else code
        for u in self.users:
            u.close()
        self.broker.stop()
        result = getattr(self._outcome, "result", None)
        if result and any(t is self for t, _ in result.errors + result.failures):
            print("\n--- board log ---\n%s\n--- broker log ---\n%s"
                  % (self.daemon.read_log()[-3000:], self.broker.read_log()[-3000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(code, 0)

    def test_boards_backend_and_admins_only_do_their_jobs(self):
        admin = self.user("admin-anna", ["teamboard/#"])
        self.check_roles(admin)
        admin.publish("teamboard/floor1/cmd/config_get", {"transaction": "ok-2"})
        cfg = wait_for(lambda: admin.on("teamboard/floor1/reply/config_get"), 5, "config")[0]

        # The board logged in with the password from its file, which no log
        # line (daemon at debug level, broker at all levels) and no reply shows.
        self.assertEqual(cfg["data"]["mqtt.password_file"]["value"],
                         os.path.join(self.tmp, "floor1.secret"))
        self.assertNotIn(SECRET, json.dumps(cfg))
        self.stop_code = self.daemon.stop()
        self.assertNotIn(SECRET, self.daemon.read_log())
        self.assertNotIn(SECRET, self.broker.read_log())
        self.assertIn("floor1", self.broker.read_log())
