"""MQTT over TLS with real clients: mosquitto_pub/sub with --cafile (and
--cert/--key for verify_peer), certificates from `starling ctl certs`.
A client that trusts another CA is refused, a bad handshake is logged with
the peer and costs only that connection, and peer_cert_as_username = cn
gives the ACL the certificate's common name."""

import os
import socket
import tempfile
import unittest

from harness import ClusterTest, free_port, wait_until
from mqtt_client import connect_packet, wait_closed
from security_support import Pki, mosquitto, start_mosquitto_sub


class TlsTest(ClusterTest):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki("core1@127.0.0.1", "device-7", tag="tls")
        cls.rogue = Pki("device-7", tag="rogue")

    @classmethod
    def tearDownClass(cls):
        cls.pki.remove()
        cls.rogue.remove()

    def tls_node(self, **extra):
        self.ssl_port = free_port()
        env = {"STARLING_MQTT__LISTENER__SSL": f"127.0.0.1:{self.ssl_port}",
               "STARLING_MQTT__SSL__CERTFILE": self.pki.cert("core1@127.0.0.1"),
               "STARLING_MQTT__SSL__KEYFILE": self.pki.key("core1@127.0.0.1"),
               "STARLING_MQTT__SSL__CACERTFILE": self.pki.ca, **extra}
        return self.node("core1", mqtt=True, mqtt_env=env)

    def pubsub(self, *tls_args, sub_tls=None, **tls):
        """One message from mosquitto_pub to mosquitto_sub over TLS."""
        sub = start_mosquitto_sub(self.ssl_port, "-t", "tls/#", "-C", "1",
                                  "-W", "15", "-v", *tls_args, **(sub_tls or tls))
        self.addCleanup(sub.kill)
        # The subscription is in place once the router lists it.
        wait_until(lambda: "tls/#" in self.n.eval("subscriptions()").stdout, 10,
                   "mosquitto_sub's subscription")
        pub = mosquitto("mosquitto_pub", self.ssl_port, "-t", "tls/a", "-m",
                        "over tls", "-q", "1", *tls_args, **tls)
        self.assertEqual(pub.returncode, 0, pub.stderr)
        out, err = sub.communicate(timeout=15)
        self.assertEqual(sub.returncode, 0, err)
        return out

    def test_tls_12_and_13_with_cafile(self):
        self.n = self.tls_node()
        self.assertEqual(self.pubsub(ca=self.pki.ca), "tls/a over tls\n")
        self.assertEqual(self.pubsub("--tls-version", "tlsv1.2", ca=self.pki.ca),
                         "tls/a over tls\n")

    def test_client_trusting_another_ca_is_refused_and_logged(self):
        self.n = self.tls_node()
        bad = mosquitto("mosquitto_pub", self.ssl_port, "-t", "x", "-m", "m",
                        ca=self.rogue.ca)
        self.assertNotEqual(bad.returncode, 0)
        self.n.wait_log(r"MQTT listener ssl: TLS handshake failed.*unknown ca"
                                  r".*\(peer 127\.0\.0\.1:\d+\)", 10)
        # Plain MQTT on the TLS port: that connection only is closed.
        s = socket.create_connection(("127.0.0.1", self.ssl_port))
        s.sendall(connect_packet("plain"))
        self.assertTrue(wait_closed(s))
        s.close()
        self.n.wait_log(r"MQTT listener ssl: TLS handshake failed.*\(peer 127", 10)
        # The listener goes on serving good clients.
        self.assertEqual(self.pubsub(ca=self.pki.ca), "tls/a over tls\n")

    def test_verify_peer_client_certificates_and_cn_as_username(self):
        acl = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        acl.write('{allow, {username, "device-7"}, all, ["dev/%u/#", "tls/#"]}.\n'
                  '{deny, all}.\n')
        acl.close()
        self.addCleanup(os.unlink, acl.name)
        self.n = self.tls_node(STARLING_MQTT__SSL__VERIFY="verify_peer",
                               STARLING_MQTT__SSL__FAIL_IF_NO_PEER_CERT="true",
                               STARLING_MQTT__SSL__PEER_CERT_AS_USERNAME="cn",
                               STARLING_AUTHZ__FILE=acl.name)
        me = dict(ca=self.pki.ca, cert=self.pki.cert("device-7"),
                  key=self.pki.key("device-7"))
        # The CN is the username the ACL sees: tls/# is allowed for device-7.
        self.assertEqual(self.pubsub(**me), "tls/a over tls\n")
        # A subscription the ACL gives device-7 only under dev/device-7/.
        denied = mosquitto("mosquitto_sub", self.ssl_port, "-t", "dev/other/#",
                           "-C", "1", "-W", "5", "-V", "5", **me)
        self.assertIn("All subscription requests were denied", denied.stderr)
        # No certificate, or one from another CA: refused in the handshake.
        none = mosquitto("mosquitto_pub", self.ssl_port, "-t", "tls/a", "-m", "m",
                         ca=self.pki.ca)
        self.assertNotEqual(none.returncode, 0)
        self.n.wait_log(r"TLS handshake failed.*peer did not return a certificate", 10)
        rogue = mosquitto("mosquitto_pub", self.ssl_port, "-t", "tls/a", "-m", "m",
                          ca=self.pki.ca, cert=self.rogue.cert("device-7"),
                          key=self.rogue.key("device-7"))
        self.assertNotEqual(rogue.returncode, 0)
        self.n.wait_log(r"TLS handshake failed.*certificate verify failed", 10)

    def test_bad_certificate_file_stops_the_node_naming_the_key(self):
        n = self.node("core2", mqtt=True, wait=False, mqtt_env={
            "STARLING_MQTT__LISTENER__SSL": f"127.0.0.1:{free_port()}",
            "STARLING_MQTT__SSL__CERTFILE": "/nonexistent/cert.pem",
            "STARLING_MQTT__SSL__KEYFILE": self.pki.key("core1@127.0.0.1")})
        self.assertEqual(n.proc.wait(15), 2)
        n.wait_log(r"invalid value for mqtt\.ssl\.certfile: '/nonexistent/cert\.pem' "
                   r"\(from environment variable STARLING_MQTT__SSL__CERTFILE\)", 5)


if __name__ == "__main__":
    unittest.main()
