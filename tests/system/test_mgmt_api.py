"""The management HTTP API against a real cluster of 3 cores and 1
replicant: every endpoint answers as docs/api.md says, on any node for the
whole cluster; requests without credentials get 401 and bad input 400 with
a sentence; kicking a client disconnects a real mosquitto_sub; online
configuration set on one core is in force on the replicant."""

import os
import subprocess
import time
import unittest

import harness
from harness import Node, wait_until, run, BIN
from mqtt_client import (Client, V5, connect_packet, encode_remaining_length, mqtt_str,
                         raw_connect, read_packet)

PASSWORD = "n3w-passw0rd"


class MgmtApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.nodes = []
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        env = {**os.environ,
               # A short lock, so the rate-limit test does not lock the
               # other tests out of the replicant for long.
               "STARLING_DASHBOARD__UNSUCCESSFUL_LOGIN_LOCK_DURATION": "3s"}
        cores = [Node(f"core{i}", http=True, mqtt=True, env=env) for i in (1, 2, 3)]
        cls.nodes += cores
        seeds = ",".join(n.target for n in cores)
        cls.repl = Node("repl1", http=True, mqtt=True, extra=["-role", "replicant"],
                        env={**env, "STARLING_CLUSTER__STATIC__SEEDS": seeds})
        cls.nodes.append(cls.repl)
        cls.core1, cls.core2, cls.core3 = cores
        for n in cores[1:]:
            r = n.join(cores[0])
            assert r.returncode == 0, r.stderr
        names = sorted(n.name for n in cls.nodes)
        for n in cls.nodes:
            wait_until(lambda: sorted(n.cluster_status()["running_nodes"]) == names or None,
                       30, f"{n.name} to run with {names}")
        # The default user appears once mgmt_shard is replicated; its
        # password must be changed before anything else is allowed.
        def login(node, pw):
            st, body, _ = node.api("POST", "/api/v5/login", {"username": "admin", "password": pw})
            return body if st == 200 else None
        first = wait_until(lambda: login(cls.core2, "public"), 20, "the default user")
        assert first["must_change_password"] is True, first
        st, body, _ = cls.core2.api("GET", "/api/v5/nodes", token=first["token"])
        assert st == 403 and body["code"] == "PASSWORD_CHANGE_REQUIRED", (st, body)
        st, body, _ = cls.core2.api("POST", "/api/v5/users/admin/change_pwd",
                                    {"old_pwd": "public", "new_pwd": PASSWORD},
                                    token=first["token"])
        assert st == 204, (st, body)
        # The new password is replicated: any node accepts it (the
        # replicant once its replica has the record).
        cls.token = wait_until(lambda: (login(cls.repl, PASSWORD) or {}).get("token"), 20,
                               "the new password on the replicant")

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            n.stop()

    def get(self, node, path, **kw):
        st, body, _ = node.api("GET", path, token=self.token, **kw)
        self.assertEqual(st, 200, body)
        return body

    def assertError(self, result, status, code=None, message=None):
        st, body, _ = result
        self.assertEqual(st, status, body)
        self.assertIn("code", body)
        self.assertIn("message", body)
        if code:
            self.assertEqual(body["code"], code)
        if message:
            self.assertIn(message, body["message"])
        return body

    # -- health and credentials -------------------------------------------------

    def test_health_check_needs_no_credentials(self):
        for n in self.nodes:
            for path in ("/status", "/api/v5/status"):
                st, body, _ = n.api("GET", path)
                self.assertEqual(st, 200)
                self.assertEqual(body, f"Node {n.name} is started; MQTT accepts clients\n")

    def test_every_other_path_needs_credentials(self):
        for path in ("/api/v5/nodes", "/api/v5/cluster", "/api/v5/clients",
                     "/api/v5/subscriptions", "/api/v5/routes", "/api/v5/topics",
                     "/api/v5/stats", "/api/v5/metrics", "/api/v5/alarms",
                     "/api/v5/mria/status", "/api/v5/prometheus/stats",
                     "/api/v5/configs/mqtt", "/api/v5/api_key", "/api/v5/users"):
            with self.subTest(path=path):
                self.assertError(self.core3.api("GET", path), 401, "UNAUTHORIZED")
        self.assertError(self.core3.api("POST", "/api/v5/publish", {"topic": "a"}), 401)
        self.assertError(self.core3.api("GET", "/api/v5/nodes", token="x.1.y.z"), 401, "BAD_TOKEN")
        self.assertError(self.core3.api("GET", "/api/v5/nodes", basic=("k", "s")), 401,
                         "BAD_API_KEY_OR_SECRET")

    def test_failed_logins_are_rate_limited(self):
        bad = {"username": "admin", "password": "wrong"}
        for _ in range(4):
            self.assertError(self.repl.api("POST", "/api/v5/login", bad), 401, "BAD_USERNAME_OR_PWD")
        self.assertError(self.repl.api("POST", "/api/v5/login", bad), 429, "LOGIN_LOCKED")
        good = {"username": "admin", "password": PASSWORD}
        st, _, headers = self.repl.api("POST", "/api/v5/login", good)
        self.assertEqual(st, 429)
        self.assertIn("Retry-After", headers)
        wait_until(lambda: self.repl.api("POST", "/api/v5/login", good)[0] == 200, 10,
                   "the lock to end")

    def test_api_keys_work_with_basic_auth(self):
        st, key, _ = self.core1.api("POST", "/api/v5/api_key", {"name": "ci", "desc": "tests"},
                                    token=self.token)
        self.assertEqual(st, 200, key)
        cred = (key["api_key"], key["api_secret"])
        # Written on core1, usable on every node once replicated.
        st = wait_until(lambda: self.repl.api("GET", "/api/v5/nodes", basic=cred)[0] == 200 or None,
                        10, "the key on the replicant")
        self.assertError(self.core2.api("GET", "/api/v5/nodes", basic=(cred[0], "nope")), 401,
                         "BAD_API_KEY_OR_SECRET")
        listed = self.get(self.core3, "/api/v5/api_key")
        self.assertIn("ci", [k["name"] for k in listed])
        self.assertNotIn("api_secret", listed[0])
        self.assertError(self.core1.api("POST", "/api/v5/api_key", {"name": "ci"}, token=self.token),
                         409, "ALREADY_EXISTS")
        self.assertError(self.core1.api("POST", "/api/v5/api_key", {"name": "x", "color": 1},
                                        token=self.token), 400, "BAD_REQUEST", "unknown field 'color'")

    # -- the cluster -------------------------------------------------------------

    def test_nodes_cover_the_cluster_from_any_node(self):
        for n in (self.core3, self.repl):
            nodes = {x["node"]: x for x in self.get(n, "/api/v5/nodes")}
            self.assertEqual(sorted(nodes), sorted(x.name for x in self.nodes))
            for x in nodes.values():
                self.assertEqual(x["node_status"], "running")
                self.assertEqual(x["version"], "0.1.0")
                self.assertGreater(x["memory_used"], 1 << 20)
                self.assertIn("connections", x)
                self.assertIn("mgmt_shard", [s["shard"] for s in x["rlog"]])
            self.assertEqual(nodes[self.repl.name]["role"], "replicant")
            self.assertEqual(nodes[self.core1.name]["role"], "core")
        one = self.get(self.core1, f"/api/v5/nodes/{self.repl.name}")
        self.assertEqual(one["role"], "replicant")
        self.assertEqual({s["state"] for s in one["rlog"]}, {"normal"})
        body = self.assertError(self.core1.api("GET", "/api/v5/nodes/nope@127.0.0.1",
                                               token=self.token), 404, "NOT_FOUND")
        self.assertIn("node 'nope@127.0.0.1' is not a member of this cluster", body["message"])
        self.assertIn(self.repl.name, body["message"])

    def test_cluster_status(self):
        c = self.get(self.repl, "/api/v5/cluster")
        self.assertEqual(sorted(c["running_nodes"]), sorted(n.name for n in self.nodes))
        self.assertEqual(c["stopped_nodes"], [])
        self.assertIn("partition", c)
        self.assertIn("last_heal", c)

    def test_stats_metrics_alarms_and_mria_status(self):
        stats = self.get(self.core2, "/api/v5/stats")
        self.assertEqual(sorted(s["node"] for s in stats), sorted(n.name for n in self.nodes))
        self.assertIn("connections.count", stats[0])
        total = self.get(self.core2, "/api/v5/stats?aggregate=true")
        self.assertNotIn("node", total)
        self.assertError(self.core2.api("GET", "/api/v5/stats?aggregate=maybe", token=self.token), 400,
                         message="'aggregate' must be true or false")
        metrics = self.get(self.core2, "/api/v5/metrics")
        self.assertIn("messages.qos1.received", metrics[0])
        alarms = self.get(self.core1, "/api/v5/alarms")
        self.assertEqual(alarms["data"], [])  # no partition, no node down
        self.assertIn("last_heal", alarms)
        mria = {m["node"]: m for m in self.get(self.core3, "/api/v5/mria/status")}
        self.assertEqual(len(mria), 4)
        repl = mria[self.repl.name]
        self.assertEqual(repl["role"], "replicant")
        for s in repl["shards"]:
            self.assertEqual(s["state"], "normal", s)
            self.assertIn(s["upstream"], [c.name for c in (self.core1, self.core2, self.core3)])
        self.assertError(self.core3.api("GET", "/api/v5/mria/status?node=zz@h", token=self.token), 404)

    # -- clients ----------------------------------------------------------------

    def test_clients_listed_cluster_wide_and_kick_disconnects_mosquitto_sub(self):
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(self.core2.mqtt_port), "-V", "5",
                                "-i", "kick-me", "-u", "alice", "-t", "k/#", "-v"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def listed():
                page = self.get(self.repl, "/api/v5/clients?clientid=kick-me")
                return page["data"][0] if page["data"] else None
            c = wait_until(listed, 10, "kick-me in the cluster's client list")
            self.assertEqual(c["node"], self.core2.name)
            self.assertEqual(c["conn_state"], "connected")
            self.assertEqual(c["username"], "alice")
            self.assertEqual(c["proto_ver"], 5)
            page = self.get(self.core1, "/api/v5/clients?like_clientid=kick&limit=1")
            self.assertEqual(page["meta"]["limit"], 1)
            self.assertGreaterEqual(page["meta"]["count"], 1)
            detail = self.get(self.core3, "/api/v5/clients/kick-me")
            self.assertEqual(detail["subscriptions_cnt"], 1)
            self.assertError(self.core1.api("GET", "/api/v5/clients?limit=0", token=self.token), 400,
                             message="query parameter 'limit' must be a whole number between 1 and 10000")
            self.assertError(self.core1.api("GET", "/api/v5/clients?conn_state=up", token=self.token), 400)
            self.assertError(self.core1.api("GET", "/api/v5/clients?node=x@y", token=self.token), 404)
            # Kicked from another node than the one holding it.
            st, body, _ = self.core3.api("DELETE", "/api/v5/clients/kick-me", token=self.token)
            self.assertEqual(st, 204, body)
            sub.wait(10)  # mosquitto_sub ends when the broker disconnects it
            self.assertNotEqual(sub.returncode, None)
            wait_until(lambda: self.core1.api("GET", "/api/v5/clients/kick-me",
                                              token=self.token)[0] == 404 or None,
                       10, "kick-me to be gone")
            self.assertError(self.core1.api("DELETE", "/api/v5/clients/kick-me", token=self.token),
                             404, "CLIENTID_NOT_FOUND")
        finally:
            if sub.poll() is None:
                sub.kill()
            sub.wait()
            sub.stdout.close()
            sub.stderr.close()

    def test_subscriptions_routes_topics_and_publish(self):
        c = Client(self.repl.mqtt_port, "watcher", version=V5)
        c.connect()
        try:
            c.subscribe("api/+/x", qos=1)
            subs = wait_until(lambda: self.get(self.core1, "/api/v5/subscriptions?clientid=watcher")["data"],
                              10, "the subscription")
            self.assertEqual(subs[0]["topic"], "api/+/x")
            self.assertEqual(subs[0]["qos"], 1)
            self.assertEqual(subs[0]["node"], self.repl.name)
            wait_until(lambda: any(r["node"] == self.repl.name for r in
                                   self.get(self.core1, "/api/v5/routes?topic=api/%2B/x")["data"]),
                       10, "the route on core1")
            topics = self.get(self.core2, "/api/v5/topics?topic=api/%2B/x")["data"]
            wait_until(lambda: self.get(self.core2, "/api/v5/topics?topic=api/%2B/x")["data"], 10,
                       "the topic on core2")
            st, body, _ = self.core1.api("POST", "/api/v5/publish",
                                         {"topic": "api/1/x", "payload": "hi", "qos": 1},
                                         token=self.token)
            self.assertEqual(st, 200, body)
            m = c.expect()
            self.assertEqual((m.topic, m.payload), ("api/1/x", b"hi"))
            self.assertError(self.core1.api("POST", "/api/v5/publish", {"topic": "a", "qos": 3},
                                            token=self.token), 400,
                             message="field 'qos' must be between 0 and 2, not 3")
            self.assertError(self.core1.api("POST", "/api/v5/publish", raw="{nope",
                                            token=self.token), 400,
                             message="the body is not valid JSON")
            self.assertError(self.core1.api("POST", "/api/v5/publish", {"topic": "a/#"},
                                            token=self.token), 400, message="field 'topic'")
        finally:
            c.disconnect()

    # -- configuration ----------------------------------------------------------

    def test_online_config_reaches_the_replicant(self):
        st, body, _ = self.core1.api("PUT", "/api/v5/configs/mqtt", {"max_inflight": 7},
                                     token=self.token)
        self.assertEqual(st, 200, body)
        wait_until(lambda: self.get(self.repl, "/api/v5/configs/mqtt")["max_inflight"] == 7, 10,
                   "max_inflight 7 on the replicant")
        self.repl.wait_log(r"configuration: mqtt.max_inflight = 7 \(cluster configuration\)", 5)
        # In force on the replicant: a new subscriber that never
        # acknowledges gets 7 QoS 1 messages in flight, the rest queued.
        sock = raw_connect(self.repl.mqtt_port)
        try:
            sock.sendall(connect_packet("window-check", version=5))
            self.assertEqual(read_packet(sock)[0], 0x20)  # CONNACK
            body = b"\x00\x01" + b"\x00" + mqtt_str("win/#") + b"\x01"
            sock.sendall(bytes([0x82]) + encode_remaining_length(len(body)) + body)
            self.assertEqual(read_packet(sock)[0], 0x90)  # SUBACK
            wait_until(lambda: any(r["node"] == self.repl.name for r in
                                   self.get(self.core1, "/api/v5/routes?topic=win/%23")["data"]),
                       10, "the route on core1")
            pub = Client(self.core1.mqtt_port, "window-pub")
            pub.connect()
            for i in range(20):
                pub.publish("win/x", str(i), qos=1)
            pub.disconnect()
            c = wait_until(lambda: (lambda d: d if d["inflight_cnt"] + d["mqueue_len"] == 20 else None)(
                self.get(self.core2, "/api/v5/clients/window-check")), 10, "20 messages at the client")
            self.assertEqual((c["inflight_cnt"], c["mqueue_len"]), (7, 13))
        finally:
            sock.close()
        # Refused: out of range, a restart-only key, an unknown key; nothing changes.
        self.assertError(self.core2.api("PUT", "/api/v5/configs/mqtt", {"max_inflight": 0},
                                        token=self.token), 400, "BAD_REQUEST",
                         "invalid value for mqtt.max_inflight: '0': expected a whole number between 1 and 65535")
        self.assertError(self.core2.api("PUT", "/api/v5/configs/mqtt", {"listener": {"tcp": "1999"}},
                                        token=self.token), 400, "RESTART_REQUIRED")
        self.assertError(self.core2.api("PUT", "/api/v5/configs/mqtt", {"max_infligth": 1},
                                        token=self.token), 400, message="unknown field 'max_infligth'")
        self.assertError(self.core2.api("GET", "/api/v5/configs/nope", token=self.token), 404)
        self.assertEqual(self.get(self.core3, "/api/v5/configs/mqtt")["max_inflight"], 7)
        # ctl conf set on another core, read back on the replicant.
        r = self.core2.ctl("conf", "set", "mqtt.max_inflight", "9")
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: self.repl.ctl("conf", "get", "mqtt.max_inflight").stdout.strip() == "9",
                   10, "9 on the replicant")
        r = self.core2.ctl("conf", "set", "mqtt.max_inflight", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid value for mqtt.max_inflight", r.stderr)
        r = self.core2.ctl("conf", "set", "node.tick_ms", "500")
        self.assertIn("cannot change while the node runs", r.stderr)
        # cluster.autoclean is applied by every node agent.
        st, body, _ = self.core3.api("PUT", "/api/v5/configs/cluster", {"autoclean": "1h"},
                                     token=self.token)
        self.assertEqual(st, 200, body)
        wait_until(lambda: self.core1.cluster_status()["autoclean_ms"] == 3600000, 10,
                   "autoclean on core1")

    # -- invite and force-leave (changes the cluster: runs last, by name) -------

    def test_zz_invite_and_force_leave(self):
        st, body, _ = self.core3.api("PUT", "/api/v5/configs/cluster", {"autoclean": "2h"},
                                     token=self.token)
        self.assertEqual(st, 200, body)
        extra = Node("core4", http=True)
        self.nodes.append(extra)
        self.assertError(self.core1.api("POST", "/api/v5/cluster/bad%20name/invite", token=self.token),
                         400, message="'bad name' is not a node name")
        st, body, _ = self.core1.api("POST", f"/api/v5/cluster/{extra.target}/invite",
                                     token=self.token)
        self.assertEqual(st, 200, body)
        wait_until(lambda: extra.name in self.core3.cluster_status()["running_nodes"] or None, 20,
                   "core4 in the cluster")
        # A node joining later gets the cluster's configuration.
        wait_until(lambda: extra.api("GET", "/api/v5/configs/cluster", token=self.token)[1]
                   .get("autoclean") == "2h" or None, 20, "the cluster's autoclean on core4")
        st, body, _ = self.core2.api("DELETE", f"/api/v5/cluster/{extra.name}/force_leave",
                                     token=self.token)
        self.assertEqual(st, 204, body)
        wait_until(lambda: extra.name not in [m["node"] for m in self.get(self.core1, "/api/v5/cluster")["members"]]
                   or None, 10, "core4 removed")
        self.assertError(self.core2.api("DELETE", "/api/v5/cluster/ghost@127.0.0.1/force_leave",
                                        token=self.token), 404, message="is not a member")


if __name__ == "__main__":
    unittest.main()
