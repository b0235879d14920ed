"""A subscriber that stops reading: QoS 0 is dropped (counted) above the
high watermark, and past the hard limit the client is disconnected; the
broker's memory stays bounded either way."""

import re
import socket
import struct
import unittest

from harness import ClusterTest, wait_until
from mqtt_client import (V311, Client, connect_packet, encode_remaining_length,
                         mqtt_str, raw_connect, read_packet, wait_closed)

HIGH = 64 * 1024
HARD = 1024 * 1024


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class BackpressureTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.n = self.node("core1", mqtt=True, mqtt_env={
            "STARLING_MQTT__WRITE_BUFFER__HIGH_WATERMARK": str(HIGH),
            "STARLING_MQTT__WRITE_BUFFER__HARD_LIMIT": str(HARD)})
        self.port = self.n.mqtt_port

    def stalled_subscriber(self, cid, qos):
        """Subscribes on a raw socket with a tiny receive buffer, then never
        reads again."""
        s = raw_connect(self.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(connect_packet(cid, version=4, keepalive=0))
        self.assertEqual(read_packet(s)[0], 0x20)
        body = struct.pack("!H", 1) + mqtt_str("flood/#") + bytes([qos])
        s.sendall(bytes([0x82]) + encode_remaining_length(len(body)) + body)
        self.assertEqual(read_packet(s)[0], 0x90)  # SUBACK
        return s

    def conn_state(self, cid):
        r = self.n.eval(f"actor conn:{cid}")
        return r.stdout if r.returncode == 0 else ""

    def test_qos0_is_dropped_and_counted_not_buffered(self):
        s = self.stalled_subscriber("slow0", 0)
        pub = Client(self.port, "flooder", version=V311)
        before = rss_kb(self.n.proc.pid)
        payload = b"x" * 1024
        for i in range(30000):  # 30 MB, far beyond every buffer on the way
            pub.publish("flood/a", payload, qos=0, wait=False)
        # The PUBACK says the flooder's 30 MB went through the broker; on a
        # loaded 2-CPU machine that took over 10 s once, so wait up to 60.
        try:
            pub.publish("flood/a", payload, qos=1, timeout=60)
        except AssertionError as e:
            raise AssertionError(f"{e}; the flooder's connection: "
                                 f"{self.conn_state('flooder')!r}") from None
        dropped = wait_until(
            lambda: int(m.group(1)) if (m := re.search(r"qos0 dropped (\d+)",
                                                       self.conn_state("slow0")))
            and int(m.group(1)) > 0 else None, 20, "QoS 0 drops to be counted")
        self.assertGreater(dropped, 0)
        # Still connected: dropping QoS 0 is the remedy, not disconnecting.
        self.assertIn("unsent", self.conn_state("slow0"))
        grown_mb = (rss_kb(self.n.proc.pid) - before) / 1024
        self.assertLess(grown_mb, 25, f"broker grew {grown_mb:.1f} MB")
        pub.disconnect()
        s.close()

    def test_past_the_hard_limit_the_client_is_disconnected(self):
        s = self.stalled_subscriber("slow1", 1)
        pub = Client(self.port, "flooder1", version=V311)
        payload = b"y" * 200 * 1024
        for i in range(60):  # QoS 1: window of 32 x 200 KB > hard limit
            pub.publish("flood/b", payload, qos=1)
        self.assertTrue(wait_closed(s, timeout=20))
        self.n.wait_log(r"\(slow1\) closed: slow consumer: \d+ bytes unsent "
                        rf"\(limit {HARD}\)", 10)
        wait_until(lambda: "slow1" not in self.n.eval("clients()").stdout
                   or "disconnected" in self.n.eval("client slow1").stdout or None,
                   10, "slow1 to be disconnected")
        pub.disconnect()



class InboundFlowControlTest(ClusterTest):
    """Default write limits: only the inbound side is under test here."""

    def test_a_flooding_publisher_is_slowed_not_buffered(self):
        self.n = self.node("core1", mqtt=True)
        self.port = self.n.mqtt_port
        sub = Client(self.port, "fsub", version=V311)
        sub.subscribe("in/#", qos=0)
        s = raw_connect(self.port)
        s.sendall(connect_packet("flooder2", version=4, keepalive=0))
        self.assertEqual(read_packet(s)[0], 0x20)
        n = 50000
        packets = bytearray()
        for i in range(n):
            body = mqtt_str("in/x") + str(i).encode()
            packets += bytes([0x30]) + encode_remaining_length(len(body)) + body
        s.sendall(packets)  # far more than the session may have unprocessed
        got = [int(m.payload) for m in sub.expect_n(n, timeout=60)]
        self.assertEqual(got, list(range(n)))  # flow control loses nothing
        state = self.n.eval("actor conn:flooder2").stdout
        m = re.search(r"reads paused (\d+)", state)
        self.assertIsNotNone(m)
        self.assertGreater(int(m.group(1)), 0)
        s.close()
        sub.disconnect()


if __name__ == "__main__":
    unittest.main()
