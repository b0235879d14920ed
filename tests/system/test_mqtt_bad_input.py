"""Malformed and hostile input: the right reason code, no crash, no hang."""

import socket
import struct
import unittest

from harness import ClusterTest, wait_until
from mqtt_client import (V5, V311, Client, connect_packet, encode_remaining_length,
                         mqtt_str, raw_connect, read_packet, wait_closed)


class BadInputTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.n = self.node("core1", mqtt=True, mqtt_env={
            "STARLING_MQTT__MAX_PACKET_SIZE": "4096",
            "STARLING_MQTT__CONNECT_TIMEOUT_MS": "1000"})
        self.port = self.n.mqtt_port

    def connected(self, version, cid="raw"):
        s = raw_connect(self.port)
        s.sendall(connect_packet(cid, version=version))
        first, body = read_packet(s)
        self.assertEqual(first, 0x20)
        return s

    def assertAlive(self):
        c = Client(self.port, "probe", version=V311)
        c.disconnect()
        self.assertIsNone(self.n.proc.poll())

    def test_v5_malformed_packet_gets_disconnect_0x81(self):
        s = self.connected(5)
        s.sendall(bytes([0x82, 0x03, 0x00, 0x01, 0x00]))  # SUBSCRIBE, bad body
        first, body = read_packet(s)
        self.assertEqual(first, 0xE0)  # DISCONNECT
        self.assertIn(body[0], (0x81, 0x82))
        self.assertTrue(wait_closed(s))
        self.assertAlive()

    def test_v5_wildcard_publish_topic_gets_0x90(self):
        s = self.connected(5)
        body = mqtt_str("a/+") + b"\x00" + b"x"
        s.sendall(bytes([0x30]) + encode_remaining_length(len(body)) + body)
        first, body = read_packet(s)
        self.assertEqual((first, body[0]), (0xE0, 0x90))
        self.assertTrue(wait_closed(s))

    def test_v3_protocol_violation_just_closes(self):
        s = self.connected(4)
        s.sendall(bytes([0x30 | 0x06, 0x03, 0x00, 0x01, 0x61]))  # PUBLISH QoS 3
        self.assertTrue(wait_closed(s))
        self.assertAlive()

    def test_second_connect_is_a_protocol_error(self):
        s = self.connected(5)
        s.sendall(connect_packet("again", version=5))
        first, body = read_packet(s)
        self.assertEqual((first, body[0]), (0xE0, 0x82))
        self.assertTrue(wait_closed(s))

    def test_publish_before_connect_closes(self):
        s = raw_connect(self.port)
        s.sendall(bytes([0x30, 0x05]) + mqtt_str("a") + b"x")
        self.assertTrue(wait_closed(s))
        self.assertAlive()

    def test_oversized_packet_gets_0x95(self):
        s = self.connected(5)
        body = mqtt_str("big") + b"\x00" + b"x" * 5000
        s.sendall(bytes([0x30]) + encode_remaining_length(len(body)) + body[:100])
        first, body = read_packet(s)
        self.assertEqual((first, body[0]), (0xE0, 0x95))
        self.assertTrue(wait_closed(s))

    def test_unsupported_protocol_version(self):
        s = raw_connect(self.port)
        s.sendall(connect_packet("v9", version=9))
        first, body = read_packet(s)
        self.assertEqual(first, 0x20)
        self.assertEqual(body[1], 0x01)  # 3.1.1 return code: unacceptable version
        self.assertTrue(wait_closed(s))

    def test_silent_socket_is_closed_after_connect_timeout(self):
        s = raw_connect(self.port)
        self.assertTrue(wait_closed(s, timeout=5))

    def test_connect_timeout_is_per_socket(self):
        # One listener timer serves every socket (the oldest deadline first):
        # a socket opened later still gets its own second, and a client
        # that sent CONNECT in time is not closed by it.
        first = raw_connect(self.port)
        ok = self.connected(4, cid="in-time")
        self.assertTrue(wait_closed(first, timeout=5))
        second = raw_connect(self.port)
        second.settimeout(0.5)
        with self.assertRaises(socket.timeout):  # not closed at once
            second.recv(1)
        self.assertTrue(wait_closed(second, timeout=5))
        ok.sendall(bytes([0xC0, 0x00]))  # PINGREQ
        self.assertEqual(read_packet(ok)[0], 0xD0)  # PINGRESP

    def test_garbage_does_not_hurt(self):
        for blob in (b"\xff" * 64, b"\x10\xff\xff\xff\xff\xff", b"GET / HTTP/1.1\r\n\r\n"):
            s = raw_connect(self.port)
            s.sendall(blob)
            self.assertTrue(wait_closed(s))
        self.assertAlive()


if __name__ == "__main__":
    unittest.main()
