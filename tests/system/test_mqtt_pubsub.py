"""Single-node MQTT with independent clients (paho, mosquitto_pub/sub)."""

import subprocess
import unittest

from harness import MqttTest, run, wait_until
from mqtt_client import V5, V31, V311, Client


class PubSubTest(MqttTest):
    node_env = {"STARLING_MQTT__SYS_INTERVAL_MS": "300"}

    def test_connect_every_version(self):
        for v in (V31, V311, V5):
            c = self.client(f"c{v}", version=v)
            self.assertEqual(c.connack_rc, 0)

    def test_qos_0_1_2_both_versions(self):
        for v in (V311, V5):
            sub = self.client(f"sub{v}", version=v)
            pub = self.client(f"pub{v}", version=v)
            self.assertEqual(sub.subscribe(f"t{v}/q", qos=2), (2,))
            for qos in (0, 1, 2):
                pub.publish(f"t{v}/q", f"m{qos}".encode(), qos=qos)
                m = sub.expect()
                self.assertEqual((m.topic, m.payload, m.qos), (f"t{v}/q", f"m{qos}".encode(), qos))

    def test_qos_downgraded_to_granted(self):
        sub = self.client("sub", version=V311)
        pub = self.client("pub", version=V311)
        sub.subscribe("down/#", qos=1)
        pub.publish("down/x", b"hi", qos=2)
        self.assertEqual(sub.expect().qos, 1)

    def test_wildcards_and_sys_rule(self):
        sub = self.client("sub", version=V311)
        sub.subscribe("a/+/c", qos=0)
        sub.subscribe("#", qos=0)
        pub = self.client("pub", version=V311)
        pub.publish("a/b/c", b"1", qos=1)
        got = sub.expect()
        # Overlapping subscriptions deliver one copy.
        self.assertEqual((got.topic, got.payload), ("a/b/c", b"1"))
        pub.publish("x", b"2", qos=1)
        self.assertEqual(sub.expect().topic, "x")

    def test_mosquitto_clients(self):
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port),
                                "-t", "mq/#", "-q", "1", "-C", "3", "-v", "-i", "msub"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: "msub" in self.n.eval("clients()").stdout or None, 10,
                       "mosquitto_sub connected")
            for i in range(3):
                r = run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port),
                         "-t", f"mq/{i}", "-m", f"hello{i}", "-q", str(i)])
                self.assertEqual(r.returncode, 0, r.stderr)
            out, err = sub.communicate(timeout=15)
            self.assertEqual(out.splitlines(), ["mq/0 hello0", "mq/1 hello1", "mq/2 hello2"], err)
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()

    def test_retained(self):
        pub = self.client("pub", version=V311)
        pub.publish("r/1", b"kept", qos=1, retain=True)
        sub = self.client("sub", version=V311)
        sub.subscribe("r/#", qos=1)
        m = sub.expect()
        self.assertEqual((m.topic, m.payload, m.retain), ("r/1", b"kept", True))
        pub.publish("r/1", b"", qos=1, retain=True)  # deletes
        late = self.client("late", version=V311)
        late.subscribe("r/#", qos=1)
        late.expect_none(0.5)

    def test_will_on_abrupt_close(self):
        sub = self.client("sub", version=V311)
        sub.subscribe("will/#", qos=1)
        dying = Client(self.port, "dying", version=V311, will=("will/dying", b"gone", 1, False))
        dying.abort()
        m = sub.expect()
        self.assertEqual((m.topic, m.payload), ("will/dying", b"gone"))

    def test_no_will_on_normal_disconnect(self):
        sub = self.client("sub", version=V311)
        sub.subscribe("will/#", qos=1)
        polite = Client(self.port, "polite", version=V311, will=("will/polite", b"x", 1, False))
        polite.disconnect()
        # Prove the broker processed the disconnect, then check no will came.
        wait_until(lambda: "polite" not in self.n.eval("clients()").stdout or None, 10,
                   "polite to be gone")
        sub.expect_none(0.3)

    def test_shared_subscription_round_robin(self):
        a = self.client("ga", version=V5)
        b = self.client("gb", version=V5)
        a.subscribe("$share/g/s/#", qos=1)
        b.subscribe("$share/g/s/#", qos=1)
        pub = self.client("spub", version=V5)
        for i in range(10):
            pub.publish("s/x", str(i).encode(), qos=1)
        got_a = a.expect_n(5)
        got_b = b.expect_n(5)
        self.assertEqual(sorted(int(m.payload) for m in got_a + got_b), list(range(10)))
        a.expect_none(0.2)

    def test_sys_topics(self):
        sub = self.client("sys", version=V311)
        sub.subscribe("$SYS/brokers/+/version", qos=0)
        m = sub.expect()  # retained: arrives at once
        self.assertEqual(m.topic, f"$SYS/brokers/{self.n.name}/version")
        self.assertRegex(m.payload.decode(), r"^\d+\.\d+\.\d+$")
        # The periodic publication (every 300 ms here) counts this client.
        sub.subscribe("$SYS/brokers/+/stats/connections/count", qos=0)
        sub.expect_on("/connections/count", lambda m: int(m.payload) >= 1)
        sub.subscribe("$SYS/brokers/+/metrics/messages/received", qos=0)
        pub = self.client("syspub", version=V311)
        pub.publish("anything", b"x", qos=1)
        sub.expect_on("/messages/received", lambda m: int(m.payload) >= 1)

if __name__ == "__main__":
    unittest.main()
