"""Sessions: persistence across disconnects, takeover, keepalive."""

import struct
import unittest

from harness import ClusterTest, wait_until
from mqtt_client import (V5, V311, Client, encode_remaining_length, mqtt_str,
                         raw_connect, read_packet, wait_closed)


class SessionTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.n = self.node("core1", mqtt=True)
        self.port = self.n.mqtt_port

    def test_persistent_session_gets_messages_queued_while_offline(self):
        for v in (V311, V5):
            cid = f"persist{v}"
            kw = {"version": v, "clean": False}
            if v == V5:
                kw["session_expiry"] = 300
            c = Client(self.port, cid, **kw)
            c.subscribe(f"p{v}/#", qos=1)
            c.disconnect()
            wait_until(lambda: f"{cid} " in self.n.eval("clients()").stdout
                       and "disconnected" in self.n.eval(f"client {cid}").stdout or None,
                       10, "session to be offline")
            pub = Client(self.port, f"pub{v}", version=v)
            for i in range(5):
                pub.publish(f"p{v}/x", f"m{i}".encode(), qos=1)
            pub.disconnect()
            c2 = Client(self.port, cid, **kw)
            self.assertTrue(c2.connack_flags["session present"])
            got = [m.payload for m in c2.expect_n(5)]
            self.assertEqual(got, [f"m{i}".encode() for i in range(5)])
            c2.disconnect()

    def test_clean_start_discards_the_session(self):
        c = Client(self.port, "cs", version=V311, clean=False)
        c.subscribe("cs/#", qos=1)
        c.disconnect()
        c2 = Client(self.port, "cs", version=V311, clean=True)
        self.assertFalse(c2.connack_flags["session present"])
        pub = Client(self.port, "cspub", version=V311)
        pub.publish("cs/x", b"1", qos=1)
        c2.expect_none(0.3)
        for x in (c2, pub):
            x.disconnect()

    def test_takeover_kicks_the_first_connection(self):
        first = Client(self.port, "dup", version=V5)
        second = Client(self.port, "dup", version=V5)
        rc, props = first.wait_disconnect()
        self.assertEqual(rc, 0x8E)  # session taken over
        self.assertEqual(second.connack_rc, 0)
        second.subscribe("k/#", qos=1)
        pub = Client(self.port, "kpub", version=V5)
        pub.publish("k/x", b"v", qos=1)
        self.assertEqual(second.expect().payload, b"v")
        for x in (second, pub):
            x.disconnect()

    def test_takeover_v311_closes_the_first(self):
        first = Client(self.port, "dup3", version=V311)
        Client(self.port, "dup3", version=V311)
        first.wait_disconnect()

    def test_keepalive_timeout_closes_and_publishes_the_will(self):
        sub = Client(self.port, "kasub", version=V311)
        sub.subscribe("ka/#", qos=1)
        # paho would answer keepalive itself; a raw socket goes silent.
        s = raw_connect(self.port)
        # CONNECT 3.1.1, clean session + will (QoS 1), keepalive 1 s.
        vh = mqtt_str("MQTT") + bytes([4, 0x02 | 0x04 | 0x08]) + struct.pack("!H", 1)
        body = vh + mqtt_str("silent") + mqtt_str("ka/silent") + mqtt_str(b"timeout")
        s.sendall(bytes([0x10]) + encode_remaining_length(len(body)) + body)
        first, _ = read_packet(s)
        self.assertEqual(first, 0x20)  # CONNACK
        self.assertTrue(wait_closed(s, timeout=5))  # 1.5 x 1 s keepalive
        m = sub.expect()
        self.assertEqual((m.topic, m.payload), ("ka/silent", b"timeout"))
        sub.disconnect()


if __name__ == "__main__":
    unittest.main()
