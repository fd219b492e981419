"""Home Assistant discovery (issue 5): off by default; when on, the board
announces itself as one device with lamps, counters, mute and buttons, the
buttons work, and discovery is sent again when Home Assistant comes online."""
import json

from tests.integration.harness import BOARD, BoardTest, Client, wait_for

PREFIX = "homeassistant"


def configs(client):
    with client.lock:
        return {t: json.loads(p) for t, p, r in client.messages
                if t.startswith(PREFIX + "/") and t.endswith("/config")}


class DiscoveryOff(BoardTest):
    def test_nothing_announced_by_default(self):
        ha = Client(self.broker.port, subscribe=(PREFIX + "/#",))
        try:
            # A command round trip after ha subscribed: anything the board
            # published on connect (retained) would have arrived by now.
            self.client.publish("teamboard/%s/cmd/ping" % BOARD, {"transaction": "p"})
            wait_for(lambda: self.client.on("teamboard/%s/reply/ping" % BOARD), 5, "reply")
            ha.publish(PREFIX + "/status", "online", retain=False)
            self.client.publish("teamboard/%s/cmd/ping" % BOARD, {"transaction": "p2"})
            wait_for(lambda: len(self.client.on("teamboard/%s/reply/ping" % BOARD)) == 2, 5,
                     "second reply")
            self.assertEqual(configs(ha), {})
        finally:
            ha.close()


class DiscoveryOn(BoardTest):
    daemon_conf = "[homeassistant]\ndiscovery = true\n"

    def test_one_device_with_entities_and_working_buttons(self):
        ha = Client(self.broker.port, subscribe=(PREFIX + "/#", "teamboard/#"))
        try:
            found = wait_for(lambda: len(configs(ha)) >= 15 and configs(ha), 5, "discovery")
            objects = {t.split("/")[1] + "/" + t.split("/")[3] for t in found}
            for want in ("sensor/lamp_red", "sensor/lamp_amber", "sensor/lamp_green",
                         "sensor/lamp_blue", "sensor/open", "sensor/unacked",
                         "sensor/breached", "binary_sensor/muted", "button/ack_all",
                         "button/silence", "button/lamp_test"):
                self.assertIn(want, objects)
            devices = {json.dumps(c["device"], sort_keys=True) for c in found.values()}
            self.assertEqual(len(devices), 1, "one device")
            self.assertEqual(json.loads(devices.pop())["identifiers"], ["teamboard-" + BOARD])
            self.assertEqual(len({c["unique_id"] for c in found.values()}), len(found))
            red = found["%s/sensor/%s/lamp_red/config" % (PREFIX, BOARD)]
            self.assertEqual(red["state_topic"], "teamboard/%s/state" % BOARD)
            self.assertEqual(red["availability_topic"], "teamboard/%s/status" % BOARD)

            # The templates' paths exist in the state document.
            state = wait_for(lambda: ha.on("teamboard/%s/state" % BOARD), 5, "state")[-1]
            self.assertIn(state["lamps"]["red"], ("off", "steady", "slow", "fast", "blind"))
            self.assertIn("unacked", state["counts"])
            self.assertIn("muted_until", state)

            # Pressing a button publishes its payload to its command topic.
            mute = found["%s/button/%s/mute_1h/config" % (PREFIX, BOARD)]
            ha.publish(mute["command_topic"], mute["payload_press"])
            wait_for(lambda: self.daemon.status()["muted_until"], 5, "mute from HA")
            unmute = found["%s/button/%s/unmute/config" % (PREFIX, BOARD)]
            ha.publish(unmute["command_topic"], unmute["payload_press"])
            wait_for(lambda: self.daemon.status()["muted_until"] is None, 5, "unmute from HA")
            ack = found["%s/button/%s/ack_all/config" % (PREFIX, BOARD)]
            self.assertEqual(json.loads(ack["payload_press"]), {"all": True, "agent": "homeassistant"})

            # Home Assistant restarts: its birth message brings discovery again.
            with ha.lock:
                before = len([m for m in ha.messages if m[0].endswith("/config")])
            ha.publish(PREFIX + "/status", "online")
            wait_for(lambda: len([m for m in list(ha.messages) if m[0].endswith("/config")])
                     >= before + len(found), 5, "discovery sent again")
        finally:
            ha.close()
