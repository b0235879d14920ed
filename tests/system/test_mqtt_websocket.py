"""MQTT over WebSocket (ws) and WebSocket over TLS (wss) with independent
clients: MQTT.js from Debian's node-mqtt and paho-mqtt with
transport="websockets". Each publishes and receives at QoS 0, 1 and 2; a
client on the wrong path is refused with an HTTP error and the refusal is
logged."""

import json
import socket
import unittest

from harness import ClusterTest, free_port
from mqtt_client import V5, Client
from security_support import Pki, node_js

# Subscribes to js/# at QoS 2, publishes one message at each QoS, and prints
# what came back as JSON once all three did.
MQTTJS = r"""
const mqtt = require('mqtt');
const fs = require('fs');
const [url, ca, version] = process.argv.slice(1);
const opts = {protocolVersion: Number(version), clientId: 'js-' + version,
              connectTimeout: 10000, reconnectPeriod: 0};
if (ca) opts.ca = fs.readFileSync(ca);
const c = mqtt.connect(url, opts);
const got = [];
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail('timed out; got ' + JSON.stringify(got)), 15000);
c.on('error', (e) => fail('error: ' + e.message));
c.on('connect', () => {
  c.subscribe('js/#', {qos: 2}, (err, granted) => {
    if (err) fail('subscribe: ' + err.message);
    for (const q of [0, 1, 2]) c.publish('js/q' + q, 'm' + q, {qos: q});
  });
});
c.on('message', (topic, payload, packet) => {
  got.push({topic, payload: payload.toString(), qos: packet.qos});
  if (got.length === 3) {
    console.log(JSON.stringify(got.sort((a, b) => a.qos - b.qos)));
    c.end(false, () => process.exit(0));
  }
});
"""

WANT = [{"topic": f"js/q{q}", "payload": f"m{q}", "qos": q} for q in (0, 1, 2)]


class WebSocketTest(ClusterTest):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki("core1@127.0.0.1", tag="ws")

    @classmethod
    def tearDownClass(cls):
        cls.pki.remove()

    def setUp(self):
        super().setUp()
        self.ws, self.wss = free_port(), free_port()
        self.n = self.node("core1", mqtt=True, mqtt_env={
            "STARLING_MQTT__LISTENER__WS": f"127.0.0.1:{self.ws}",
            "STARLING_MQTT__LISTENER__WSS": f"127.0.0.1:{self.wss}",
            "STARLING_MQTT__SSL__CERTFILE": self.pki.cert("core1@127.0.0.1"),
            "STARLING_MQTT__SSL__KEYFILE": self.pki.key("core1@127.0.0.1")})

    def mqttjs(self, url, version, ca=""):
        r = node_js(MQTTJS, url, ca, version)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), WANT)

    def test_mqttjs_over_ws_and_wss(self):
        self.mqttjs(f"ws://127.0.0.1:{self.ws}/mqtt", 4)
        self.mqttjs(f"ws://127.0.0.1:{self.ws}/mqtt", 5)
        self.mqttjs(f"wss://127.0.0.1:{self.wss}/mqtt", 4, self.pki.ca)

    def paho_roundtrip(self, port, tls, version):
        kw = {"transport": "websockets", "version": version}
        if tls:
            kw["tls"] = {"ca_certs": self.pki.ca}
        sub = Client(port, f"paho-sub-{port}-{version}", **kw)
        pub = Client(port, f"paho-pub-{port}-{version}", **kw)
        try:
            self.assertEqual(sub.connack_code(), 0)
            self.assertEqual(sub.subscribe("py/#", qos=2), (2,))
            for q in (0, 1, 2):
                pub.publish(f"py/q{q}", f"m{q}".encode(), qos=q)
            got = sorted((m.topic, m.payload, m.qos) for m in sub.expect_n(3))
            self.assertEqual(got, [(f"py/q{q}", f"m{q}".encode(), q) for q in (0, 1, 2)])
        finally:
            sub.disconnect()
            pub.disconnect()

    def test_paho_websockets_over_ws_and_wss(self):
        self.paho_roundtrip(self.ws, False, 4)
        self.paho_roundtrip(self.ws, False, V5)
        self.paho_roundtrip(self.wss, True, 4)

    def test_wrong_path_is_refused_with_http_404(self):
        s = socket.create_connection(("127.0.0.1", self.ws), timeout=10)
        s.sendall(b"GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
        reply = s.recv(4096)
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 404"), reply)
        self.n.wait_log(r"MQTT listener ws: WebSocket upgrade refused: path /other "
                        r".*\(peer 127\.0\.0\.1:\d+\)", 10)
        # The listener still serves WebSocket clients.
        self.mqttjs(f"ws://127.0.0.1:{self.ws}/mqtt", 4)


if __name__ == "__main__":
    unittest.main()
