"""Distribution and the message channel over mutual TLS (node.dist_tls):
three cores mesh with certificates from `starling ctl certs`, ctl and
remsh reach them with a client certificate, and an MQTT message crosses
the TLS message channel. A node whose certificate comes from another CA,
and one with the right cookie but no certificate, cannot join; a plain BASP
peer reaches no actor."""

import os
import unittest

from harness import PROBE, ClusterTest, run, wait_until
from mqtt_client import Client
from security_support import Pki


def tls_env(pki, name):
    return {"STARLING_NODE__DIST_TLS": "true",
            "STARLING_NODE__SSL__CERTFILE": pki.cert(name),
            "STARLING_NODE__SSL__KEYFILE": pki.key(name),
            "STARLING_NODE__SSL__CACERTFILE": pki.ca}


class DistTlsTest(ClusterTest):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki("core1", "core2", "core3", "operator", tag="dist")
        cls.rogue = Pki("core4", tag="dist-rogue")
        # ctl and remsh present the operator's certificate.
        cls.client = {**os.environ, **tls_env(cls.pki, "operator")}

    @classmethod
    def tearDownClass(cls):
        cls.pki.remove()
        cls.rogue.remove()

    def tls_node(self, short, pki=None, **kw):
        pki = pki or self.pki
        env = {**os.environ, **tls_env(pki, short)}
        return self.node(short, env=env, client_env=self.client, **kw)

    def test_three_cores_mesh_over_tls_and_carry_mqtt(self):
        a = self.tls_node("core1", mqtt=True)
        b = self.tls_node("core2")
        c = self.tls_node("core3", mqtt=True)
        a.wait_log(r"node started: .*message port \d+ \(mutual TLS\)", 1)
        self.mesh(a, b, c)
        self.wait_running([a, b, c])
        # The message channel is TLS too: a message crosses it.
        sub = Client(c.mqtt_port, "tls-sub")
        pub = Client(a.mqtt_port, "tls-pub")
        self.addCleanup(sub.disconnect)
        self.addCleanup(pub.disconnect)
        sub.subscribe("x/#", qos=1)
        wait_until(lambda: ("x/#", c.name) in a.routes() or None, 10, "the route on core1")
        pub.publish("x/1", b"over the TLS message channel", qos=1)
        self.assertEqual(sub.expect().payload, b"over the TLS message channel")

    def test_peers_without_a_certificate_from_the_ca_cannot_join(self):
        a = self.tls_node("core1")
        # A certificate from another CA.
        rogue = self.node("core4", env={**os.environ, **tls_env(self.rogue, "core4")},
                          client_env={**os.environ, **tls_env(self.rogue, "core4")})
        r = rogue.join(a)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        # The right cookie, no certificate (plain distribution).
        plain = self.node("core5")
        r = plain.join(a)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertEqual(a.nodes(), [])
        self.assertEqual(a.cluster_status()["running_nodes"], [a.name])
        # ctl without a certificate cannot talk to the node either, and is
        # told what it lacks.
        r = a.ctl("status", env={k: v for k, v in os.environ.items()
                                 if not k.startswith("STARLING_NODE__")})
        self.assertFails(r, "-ssl_certfile", 1)
        # With the operator's certificate it can (remsh too).
        self.assertOk(a.ctl("status"), "is started")
        self.assertOk(a.eval("node()"), a.name)

    def test_a_plain_basp_peer_reaches_no_actor(self):
        a = self.tls_node("core1")
        r = run([PROBE, "127.0.0.1", str(a.port), "40"], timeout=60)
        # Not even BASP's handshake: the TLS handshake fails first.
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("cannot connect", r.stderr)
        # The node is unaffected.
        self.assertOk(a.ctl("status"), "is started")


if __name__ == "__main__":
    unittest.main()
