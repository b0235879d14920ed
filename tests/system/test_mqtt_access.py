"""Authentication, authorization, bans and listener limits as an MQTT user
sees them, with paho clients (3.1.1 and 5): users from `starling ctl users`
and from a mosquitto_passwd file, failures logged with client id and peer,
failed attempts limited per address, EMQX acl.conf rules with %u/%c and
their reason codes, `ctl authz reload`, bans replicated to every node, and
max_connections / max_conn_rate."""

import os
import socket
import subprocess
import tempfile
import unittest

from harness import ClusterTest, wait_until
from mqtt_client import (V5, Client, connect_packet, encode_remaining_length,
                         mqtt_str, read_packet)

NOT_AUTHORIZED_V5, BAD_CREDENTIALS_V5, BANNED_V5 = 0x87, 0x86, 0x8A
BAD_CREDENTIALS_V3, NOT_AUTHORIZED_V3 = 4, 5

ACL = """%% dev1 publishes in its own subtree; every client reads its inbox.
{allow, {username, "dev1"}, publish, ["dev/%u/#"]}.
{allow, all, subscribe, ["inbox/%c", "open/#"]}.
{allow, all, publish, ["open/#"]}.
{allow, {username, "mosq"}, subscribe, ["dev/#"]}.
{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
{deny, all}.
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def raw_v5(port, client_id, user, password):
    """An MQTT 5 session on a raw socket (paho 1.6 does not report PUBACK
    reason codes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    vh = mqtt_str("MQTT") + bytes([5, 0xC2]) + (60).to_bytes(2, "big") + b"\x00"
    body = vh + mqtt_str(client_id) + mqtt_str(user) + mqtt_str(password)
    s.sendall(b"\x10" + encode_remaining_length(len(body)) + body)
    first, ack = read_packet(s)
    assert first == 0x20 and ack[1] == 0, ack
    return s


def puback_code(sock, topic, packet_id):
    body = mqtt_str(topic) + packet_id.to_bytes(2, "big") + b"\x00" + b"x"
    sock.sendall(b"\x32" + encode_remaining_length(len(body)) + body)
    first, ack = read_packet(sock)
    assert first == 0x40, first
    return ack[2] if len(ack) > 2 else 0


class Clients:
    def client(self, port, client_id, **kw):
        c = Client(port, client_id, **kw)
        self.addCleanup(c.disconnect)
        return c

    def refused(self, port, client_id, **kw):
        """The CONNACK code a refused client gets (paho keeps no session)."""
        c = Client(port, client_id, connect=False, **kw)
        self.addCleanup(c.c.loop_stop)
        c.connect()
        return c.connack_code()


class AuthnAuthzTest(ClusterTest, Clients):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="starling-access-")
        self.passwd = os.path.join(self.dir, "passwd")
        self.acl = os.path.join(self.dir, "acl.conf")
        r = subprocess.run(["mosquitto_passwd", "-b", "-c", self.passwd, "mosq",
                            "from-file"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        write(self.acl, ACL)
        self.n = self.node("core1", mqtt=True, mqtt_env={
            "STARLING_AUTHN__ALLOW_ANONYMOUS": "false",
            "STARLING_AUTHN__PASSWORD_FILE": self.passwd,
            "STARLING_AUTHZ__FILE": self.acl})
        self.port = self.n.mqtt_port
        self.assertOk(self.n.ctl("users", "add", "dev1", "pw-dev1"), "ok")
        self.assertOk(self.n.ctl("users", "add", "dev2", "pw-dev2"), "ok")
        wait_until(lambda: "dev2" in self.n.ctl("users", "list").stdout, 10,
                   "the users in the node's mirror")

    def tearDown(self):
        super().tearDown()
        for f in (self.passwd, self.acl):
            os.unlink(f)
        os.rmdir(self.dir)

    def test_right_and_wrong_passwords_v3_and_v5(self):
        for version in (4, V5):
            c = self.client(self.port, f"ok-{version}", version=version,
                            username="dev1", password="pw-dev1")
            self.assertEqual(c.connack_code(), 0)
            f = self.client(self.port, f"file-{version}", version=version,
                            username="mosq", password="from-file")
            self.assertEqual(f.connack_code(), 0)
        self.assertEqual(self.refused(self.port, "bad-v3", username="dev1",
                                      password="nope"), BAD_CREDENTIALS_V3)
        self.assertEqual(self.refused(self.port, "bad-v5", version=V5, username="dev1",
                                      password="nope"), BAD_CREDENTIALS_V5)
        # Anonymous clients are refused with allow_anonymous = false.
        self.assertEqual(self.refused(self.port, "anon-v5", version=V5),
                         NOT_AUTHORIZED_V5)
        # Logged with the client id and the peer.
        self.n.wait_log(r"MQTT client bad-v5 \(user dev1\) from 127\.0\.0\.1:\d+ on tcp "
                        r"refused \(bad user name or password\): wrong password", 5)
        # passwd changes it, delete removes the user.
        self.assertOk(self.n.ctl("users", "passwd", "dev1", "new-pw"), "ok")
        wait_until(lambda: self.refused(self.port, "again", username="dev1",
                                        password="pw-dev1") == BAD_CREDENTIALS_V3
                   or None, 10, "the old password to stop working")
        self.assertEqual(self.client(self.port, "new", username="dev1",
                                     password="new-pw").connack_code(), 0)
        self.assertOk(self.n.ctl("users", "delete", "dev2"), "ok")
        self.assertFails(self.n.ctl("users", "delete", "dev2"), "no user 'dev2'", 1)
        self.assertNotIn("dev2", self.n.ctl("users", "list").stdout)

    def test_acl_placeholders_and_reason_codes(self):
        dev1 = self.client(self.port, "d1", version=V5, username="dev1",
                           password="pw-dev1")
        dev2 = self.client(self.port, "d2", version=V5, username="dev2",
                           password="pw-dev2")
        v3 = self.client(self.port, "d3", username="dev2", password="pw-dev2")
        # %c: each client may read only its own inbox.
        self.assertEqual(dev1.subscribe("inbox/d1", qos=1), (1,))
        self.assertEqual(dev1.subscribe("inbox/d2", qos=1), (NOT_AUTHORIZED_V5,))
        self.assertEqual(v3.subscribe("inbox/d2", qos=1), (0x80,))
        self.assertEqual(dev2.subscribe("#", qos=0), (NOT_AUTHORIZED_V5,))
        # %u: dev1 may publish under dev/dev1/ only; a QoS 1 refusal is
        # PUBACK 0x87, and nothing is delivered.
        reader = self.client(self.port, "mosq-reader", version=V5, username="mosq",
                             password="from-file")
        self.assertEqual(reader.subscribe("open/#", qos=1), (1,))
        self.assertEqual(reader.subscribe("dev/#", qos=1), (1,))
        raw1 = raw_v5(self.port, "raw1", "dev1", "pw-dev1")
        raw2 = raw_v5(self.port, "raw2", "dev2", "pw-dev2")
        self.assertEqual(puback_code(raw1, "dev/dev1/t", 1), 0)
        self.assertEqual(reader.expect().topic, "dev/dev1/t")
        self.assertEqual(puback_code(raw2, "dev/dev1/t", 1), NOT_AUTHORIZED_V5)
        raw1.close()
        raw2.close()
        # QoS 0: dropped and counted (the QoS 1 refusal above is counted too).
        # The reader would get dev/dev2/t; the marker, published after it,
        # comes first (one publisher's messages keep their order).
        dev2.publish("dev/dev2/t", b"zero", qos=0)
        dev2.publish("open/after", b"marker", qos=1)
        self.assertEqual(reader.expect().payload, b"marker")
        self.assertOk(self.n.ctl("authz", "status"), "denied: 2 publish, 3 subscribe")

    def test_reload_without_restart(self):
        c = self.client(self.port, "r1", version=V5, username="dev1", password="pw-dev1")
        self.assertEqual(c.subscribe("news/x", qos=0), (NOT_AUTHORIZED_V5,))
        write(self.acl, '{allow, all, subscribe, ["news/#"]}.\n' + ACL)
        self.assertOk(self.n.ctl("authz", "reload"), "reloaded 7 rules")
        self.assertEqual(c.subscribe("news/x", qos=0), (0,))
        # A broken file is refused and the rules in force stay.
        write(self.acl, "{allow, all, subscribe, [\"news/#\"]\n")
        self.assertFails(self.n.ctl("authz", "reload"), "line 1", 1)
        self.assertEqual(c.subscribe("news/y", qos=0), (0,))


class FailureLimitTest(ClusterTest, Clients):
    def test_failed_attempts_are_limited_per_address(self):
        n = self.node("core1", mqtt=True, mqtt_env={
            "STARLING_AUTHN__ALLOW_ANONYMOUS": "false",
            "STARLING_AUTHN__MAX_FAILURES": "3"})
        self.assertOk(n.ctl("users", "add", "dev2", "pw-dev2"), "ok")
        wait_until(lambda: "dev2" in n.ctl("users", "list").stdout, 10,
                   "the user in the node's mirror")
        self.assertEqual(self.client(n.mqtt_port, "first", username="dev2",
                                     password="pw-dev2").connack_code(), 0)
        for i in range(3):
            self.assertEqual(self.refused(n.mqtt_port, f"guess{i}", username="dev2",
                                          password=f"guess{i}"), BAD_CREDENTIALS_V3)
        # Now even the right password is refused, without being checked.
        self.assertEqual(self.refused(n.mqtt_port, "right", username="dev2",
                                      password="pw-dev2"), BAD_CREDENTIALS_V3)
        n.wait_log(r"MQTT client right .*too many failed attempts from 127\.0\.0\.1", 5)



class ClusterAccessTest(ClusterTest, Clients):
    """A core and a replicant: users and bans are replicated."""

    def test_users_and_bans_reach_every_node(self):
        env = {"STARLING_AUTHN__ALLOW_ANONYMOUS": "false"}
        core = self.node("core1", mqtt=True, mqtt_env=env)
        seeds = {**os.environ, "STARLING_CLUSTER__STATIC__SEEDS": core.target}
        repl = self.node("repl1", mqtt=True, env=seeds, mqtt_env=env,
                         extra=("-role", "replicant"))
        self.wait_running([core, repl], 30)
        self.assertOk(core.ctl("users", "add", "alice", "wonderland"), "ok")
        wait_until(lambda: "alice" in repl.ctl("users", "list").stdout, 20,
                   "alice on the replicant")
        for n in (core, repl):
            self.assertEqual(self.client(n.mqtt_port, f"a-{n.short}", version=V5,
                                         username="alice",
                                         password="wonderland").connack_code(), 0)
        # A ban added on the replicant (forwarded to a core) holds everywhere.
        self.assertOk(repl.ctl("banned", "add", "clientid", "evil", "--until", "1h"), "ok")
        for n in (core, repl):
            wait_until(lambda: "evil" in n.ctl("banned", "list").stdout, 20,
                       f"the ban on {n.name}")
            self.assertEqual(self.refused(n.mqtt_port, "evil", version=V5,
                                          username="alice", password="wonderland"),
                             BANNED_V5)
            self.assertEqual(self.refused(n.mqtt_port, "evil", username="alice",
                                          password="wonderland"), NOT_AUTHORIZED_V3)
        core.wait_log(r"MQTT client evil .*refused \(banned\): banned \(clientid:evil", 5)
        self.assertOk(core.ctl("banned", "delete", "clientid", "evil"), "ok")
        wait_until(lambda: "evil" not in repl.ctl("banned", "list").stdout, 20,
                   "the ban gone from the replicant")
        self.assertEqual(self.client(repl.mqtt_port, "evil", username="alice",
                                     password="wonderland").connack_code(), 0)


class ListenerLimitsTest(ClusterTest, Clients):
    def test_max_connections(self):
        n = self.node("core1", mqtt=True, mqtt_env={
            "STARLING_MQTT__LISTENER__TCP__MAX_CONNECTIONS": "2"})
        a = self.client(n.mqtt_port, "a")
        b = self.client(n.mqtt_port, "b", version=V5)
        self.assertEqual((a.connack_code(), b.connack_code()), (0, 0))
        self.assertEqual(self.refused(n.mqtt_port, "c", version=V5), 0x97)
        self.assertEqual(self.refused(n.mqtt_port, "c3"), 3)
        n.wait_log(r"MQTT listener tcp refused c from 127\.0\.0\.1:\d+: max_connections", 5)
        r = n.eval("listeners()")
        self.assertOk(r, "2 connections (max_connections 2, max_conn_rate unlimited)")
        # One leaves: the next one gets in.
        a.disconnect()
        wait_until(lambda: "1 connections" in n.eval("listeners()").stdout or None,
                   10, "the listener to count the disconnect")
        self.assertEqual(self.client(n.mqtt_port, "d").connack_code(), 0)

    def test_max_conn_rate(self):
        n = self.node("core1", mqtt=True, mqtt_env={
            "STARLING_MQTT__LISTENER__TCP__MAX_CONN_RATE": "1"})
        # Five sockets at once against one token a second.
        socks = [socket.create_connection(("127.0.0.1", n.mqtt_port)) for _ in range(5)]
        codes = []
        for i, s in enumerate(socks):
            s.sendall(connect_packet(f"rate{i}", version=5))
        for s in socks:
            pkt = read_packet(s)
            self.assertIsNotNone(pkt)
            first, body = pkt
            self.assertEqual(first, 0x20)
            codes.append(body[1])
            s.close()
        self.assertIn(0x9F, codes)
        self.assertIn(0, codes)
        self.assertIn("max_conn_rate 1/s", n.eval("listeners()").stdout)


if __name__ == "__main__":
    unittest.main()
