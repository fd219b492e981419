"""The core appliance, end to end (issue 2 §14): real teamboardd on the
simulated board, real mosquitto, assertions on what people see: lamps,
buzzer, MQTT messages and the ack log."""
import time

from tests.integration.harness import (BOARD, BoardTest, Client, event,
                                       now_iso, wait_for)

ACKS = "teamboard/%s/acks" % BOARD
ERRORS = "teamboard/%s/errors" % BOARD


class TicketLifecycle(BoardTest):
    def test_new_ticket_ack_and_reply(self):
        self.send(event("ticket.created", "T-1042", channel="facebook", priority="urgent",
                        public=True, subject="Order never arrived", customer="Ivan P.",
                        due={"first_response": now_iso(300)}))
        self.wait_lamp("amber", "slow")
        st = self.daemon.status()
        self.assertEqual(st["lamps"]["green"], "off")
        self.assertEqual(st["counts"]["unacked"], 1)
        self.assertEqual(st["alerts"][0]["ticket_id"], "T-1042")
        self.assertEqual(st["alerts"][0]["channel"], "facebook")
        wait_for(lambda: "chirp" in self.daemon.sounds(), 2, "chirp")

        self.press("ack1")
        self.wait_lamp("amber", "steady")
        self.wait_lamp("green", "steady")
        wait_for(lambda: "ack" in self.daemon.sounds(), 2, "ack beep")
        acks = wait_for(lambda: self.client.on(ACKS), 5, "ack record on MQTT")
        self.assertEqual(len(acks), 1)
        a = acks[0]
        self.assertEqual(a["ticket_id"], "T-1042")
        self.assertEqual(a["agent"], "anna")
        self.assertEqual(a["source"], "button")
        self.assertEqual(a["button"], "ack1")
        self.assertEqual(a["board"], BOARD)
        self.assertEqual(a["alert"], "ticket.created")
        self.assertTrue(a["id"].startswith(BOARD + "-"))
        self.assertGreaterEqual(a["latency_ms"], 0)
        logged = self.daemon.ok("acks")["acks"]
        self.assertEqual([x["id"] for x in logged], [a["id"]])
        self.assertEqual(logged[0], a)

        self.send(event("ticket.replied", "T-1042"))
        self.wait_lamp("amber", "off")
        self.assertEqual(self.daemon.lamps()["green"], "steady")

    def test_low_priority_does_not_chirp(self):
        self.send(event("ticket.created", "T-7", channel="email", priority="low"))
        self.wait_lamp("amber", "slow")
        self.assertNotIn("chirp", self.daemon.sounds())

    def test_short_press_with_nothing_to_ack_nacks(self):
        self.press("ack1")
        wait_for(lambda: "nack" in self.daemon.sounds(), 3, "nack beep")
        self.assertEqual(self.daemon.ok("acks")["acks"], [])


class BoardSlaClock(BoardTest):
    daemon_conf = "[alerts]\nwarn_at = 50%\n"

    def test_warning_then_breach_from_own_clock(self):
        self.send(event("ticket.created", "T-9", channel="twitter", priority="high",
                        public=True, due={"first_response": now_iso(4)}))
        self.wait_lamp("amber", "slow")
        self.wait_lamp("amber", "fast", timeout=4)       # warning at 50 % = 2 s
        self.assertEqual(self.daemon.lamps()["red"], "off")
        wait_for(lambda: "warn" in self.daemon.sounds(), 2, "warn beep")
        self.wait_lamp("red", "slow", timeout=4)          # breach at 4 s
        st = self.daemon.status()
        self.assertEqual(st["buzzer"], "alarm")
        self.assertEqual(st["counts"]["breached"], 1)
        self.assertEqual(st["alerts"][0]["kind"], "breached")

        self.press("ack1")
        self.wait_lamp("red", "steady")
        wait_for(lambda: self.daemon.status()["buzzer"] == "off", 2, "alarm to stop")
        acks = wait_for(lambda: self.client.on(ACKS), 5, "ack record")
        self.assertEqual(acks[0]["alert"], "sla.breached")


class Dedupe(BoardTest):
    def test_same_event_twice_and_restart(self):
        ev = event("ticket.created", "T-1", eid="evt-dup-1", channel="vk", priority="normal")
        self.send(ev)
        self.send(ev)
        self.wait_lamp("amber", "slow")
        # A later, distinct event proves both copies were processed.
        self.send(event("heartbeat"))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 1, 2, "one open ticket")
        time.sleep(0.3)
        self.assertEqual(self.daemon.status()["counts"]["open"], 1)
        self.assertEqual(self.daemon.sounds().count("chirp"), 1)

        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        st = wait_for(lambda: self.daemon.status(), 5, "status after restart")
        self.assertEqual(st["counts"]["open"], 1)
        self.assertEqual(st["alerts"][0]["ticket_id"], "T-1")
        self.assertEqual(st["alerts"][0]["state"], "unacked")
        self.wait_connected()
        self.send(ev)                                   # redelivered after restart
        self.send(event("ticket.created", "T-2", channel="vk", priority="normal"))
        wait_for(lambda: self.daemon.status()["counts"]["open"] == 2, 3, "second ticket")
        self.assertEqual(self.daemon.status()["counts"]["open"], 2)


class BadInput(BoardTest):
    def test_broken_event_next_to_good_one(self):
        bad = event("ticket.created", "T-bad", eid="evt-bad", channel="myspace", priority="urgent")
        good = event("ticket.created", "T-good", eid="evt-good", channel="telegram",
                     priority="urgent")
        self.send(bad, good)
        self.wait_lamp("amber", "slow")
        st = self.daemon.status()
        self.assertEqual([a["ticket_id"] for a in st["alerts"]], ["T-good"])
        errs = wait_for(lambda: self.client.on(ERRORS), 3, "error report")
        self.assertEqual(errs[0]["event_id"], "evt-bad")
        self.assertIn("channel", errs[0]["reason"])
        self.client.publish("helpdesk/support/events", b"\x00{not json")
        wait_for(lambda: len(self.client.on(ERRORS)) == 2, 3, "second error report")
        self.assertEqual(self.daemon.ok("ping"), {"pong": True})


class BrokerOutage(BoardTest):
    # The broker keeps the test subscriber's session across its restart, so
    # the ack is queued for it however the reconnects interleave.
    persistence = True
    client_id = "test-outage-subscriber"

    def test_ack_while_broker_down_is_delivered_once(self):
        self.send(event("ticket.created", "T-5", channel="chat", priority="high"))
        self.wait_lamp("amber", "slow")
        self.client.close()
        self.broker.stop()
        wait_for(lambda: self.daemon.status()["broker"] == "disconnected", 10, "disconnect")

        self.press("ack1")
        self.wait_lamp("amber", "steady")
        logged = self.daemon.ok("acks")["acks"]
        self.assertEqual(len(logged), 1)
        self.assertEqual(self.daemon.status()["outbox_depth"], 1)

        self.broker.start()
        self.client = Client(self.broker.port, client_id=self.client_id)
        # Backoff after two failed attempts is at most ~4.8 s.
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 15, "reconnect")
        acks = wait_for(lambda: self.client.on(ACKS), 10, "ack after reconnect")
        time.sleep(0.5)
        acks = self.client.on(ACKS)
        self.assertEqual([a["id"] for a in acks], [logged[0]["id"]])
        wait_for(lambda: self.daemon.status()["outbox_depth"] == 0, 5, "outbox drained")
