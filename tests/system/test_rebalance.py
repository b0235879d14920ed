"""Rebalance and evacuation as an operator runs them (issue 17).

Three nodes with MQTT and HTTP. The fleet is `starling bench conn
--reconnect`: clients that come back after a disconnect through a
round-robin list of the nodes' ports, as they would behind a load balancer
(`--reconnect-to`), or to the MQTT 5 Server Reference they were given.
Independent MQTT 5 clients (paho) watch what a client is told. What a node
holds is read where an operator reads it: GET /api/v5/nodes and
/api/v5/clients, `ctl rebalance status`, the unauthenticated
availability check a load balancer polls."""

import json
import re
import shutil
import signal
import tempfile
import threading
import time
import unittest

from harness import BenchProcess, ClusterTest, wait_until
from mqtt_client import V5, V311, Client

PASSWORD = "rebalance-tests-1"


class Fleet(BenchProcess):
    """`starling bench conn --reconnect`: `count` MQTT clients that start on
    `hosts` and come back through `reconnect_to` (or to the Server Reference
    they were given) whenever they are disconnected."""

    def __init__(self, count, hosts, reconnect_to=None, version=5, prefix="fleet"):
        args = ["-c", count, "-V", version, "--reconnect", "-h", ",".join(hosts),
                "--prefix", prefix, "--duration", 300]
        if reconnect_to:
            args += ["--reconnect-to", ",".join(reconnect_to)]
        super().__init__("conn", *args)
        self.count = count

    def wait_all_connected(self, timeout):
        """Waits for a progress line, printed after now, with every client
        connected."""
        with self.cv:
            start = len(self.lines)
        self.wait_line(rf"connected {self.count}/{self.count}\b", timeout, start)

    def stop(self):
        """SIGINT, then the JSON summary (None if it wrote none)."""
        return self.summary(timeout=20, interrupt=True)[1]


class BalanceTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.fleets = []
        self.observers = []

    def tearDown(self):
        for c in self.observers:
            try:
                c.disconnect()
            except Exception:
                pass  # already disconnected by the broker
        for f in self.fleets:
            f.stop()
        super().tearDown()

    def fleet(self, *a, **kw):
        f = Fleet(*a, **kw)
        self.fleets.append(f)
        return f

    def observer(self, node, client_id, **kw):
        c = Client(node.mqtt_port, client_id, version=V5, **kw)
        self.observers.append(c)
        return c

    def cluster(self, *shorts, **kw):
        nodes = [self.node(s, mqtt=True, http=True, **kw.get(s, {})) for s in shorts]
        self.mesh(*nodes)
        self.wait_running(nodes)
        return nodes

    def login(self, node):
        """An API token; the default password is changed first."""
        def attempt(pw):
            st, body, _ = node.api("POST", "/api/v5/login",
                                   {"username": "admin", "password": pw})
            return body if st == 200 else None
        first = wait_until(lambda: attempt("public") or attempt(PASSWORD), 20,
                           "the default admin user")
        if first.get("must_change_password"):
            st, body, _ = node.api("POST", "/api/v5/users/admin/change_pwd",
                                   {"old_pwd": "public", "new_pwd": PASSWORD},
                                   token=first["token"])
            self.assertEqual(st, 204, body)
            first = wait_until(lambda: attempt(PASSWORD), 20, "the new password")
        self.token = first["token"]
        self.api_node = node
        return self.token

    def get(self, path, node=None):
        st, body, _ = (node or self.api_node).api("GET", path, token=self.token)
        self.assertEqual(st, 200, body)
        return body

    def counts(self):
        """{node name: (connections, sessions)} from GET /api/v5/nodes."""
        return {n["node"]: (n.get("connections", 0), n.get("sessions", 0))
                for n in self.get("/api/v5/nodes") if n.get("node_status") == "running"}

    def wait_total(self, total, what):
        """The counts once the running nodes hold `total` connections."""
        def check():
            c = self.counts()
            return c if sum(v[0] for v in c.values()) == total else None
        return wait_until(check, 20, what)

    def available(self, node):
        st, _, _ = node.api("GET", "/api/v5/load_rebalance/availability_check")
        return st

    def status(self, node):
        r = node.ctl("rebalance", "status", "--json")
        self.assertOk(r)
        return json.loads(r.stdout)

    def assertWithin(self, counts, abs_threshold, rel):
        """The busiest node within the thresholds of the least busy one."""
        hi, lo = max(counts), min(counts)
        self.assertTrue(hi <= lo + abs_threshold or hi <= lo * rel,
                        f"connections per node {counts} are not within "
                        f"{abs_threshold} or x{rel} of each other")


class RebalanceTest(BalanceTest):
    def test_clients_all_on_one_node_spread_over_three(self):
        n1, n2, n3 = self.cluster("rb1", "rb2", "rb3")
        self.login(n1)
        ports = [f"127.0.0.1:{n.mqtt_port}" for n in (n1, n2, n3)]
        fleet = self.fleet(3000, [ports[0]], reconnect_to=ports)
        fleet.wait_line(r": ready: 3000 connections", 60)
        wait_until(lambda: self.counts()[n1.name][0] == 3000 or None, 20,
                   "node 1 to count the 3,000 clients")
        for n in (n1, n2, n3):
            self.assertEqual(self.available(n), 200)

        r = self.assertOk(n1.ctl("rebalance", "start", "--wait-health-check", "2s",
                                 "--wait-takeover", "1s", "--conn-evict-rate", "500",
                                 "--abs-conn-threshold", "100",
                                 "--rel-conn-threshold", "1.1"))
        self.assertIn("wait_health_check", r.stdout)
        # The donor's health check fails at once, the recipients' does not.
        wait_until(lambda: self.available(n1) == 503 or None, 5,
                   "node 1's availability check to fail")
        self.assertEqual(self.available(n2), 200)
        self.assertEqual(self.available(n3), 200)
        st = self.status(n1)
        self.assertEqual(st["rebalance"]["donors"], [n1.name])
        self.assertEqual(sorted(st["rebalance"]["recipients"]), sorted([n2.name, n3.name]))

        n1.wait_log(r"rebalance: connections balanced", 60)
        n1.wait_log(r"rebalance finished", 30)
        st = self.status(n1)
        self.assertIsNone(st["rebalance"])
        self.assertEqual(st["last_rebalance"]["outcome"], "rebalance finished")
        self.assertEqual(self.available(n1), 200)
        # Every client is back, and the three nodes hold them evenly.
        fleet.wait_all_connected(30)
        counts = self.wait_total(3000, "the nodes to count 3,000 clients")
        per_node = [counts[n.name][0] for n in (n1, n2, n3)]
        self.assertWithin(per_node, 100, 1.1)
        # Node 1 takes clients again.
        c = self.observer(n1, "after-rebalance")
        self.assertEqual(c.connack_code(), 0)
        summary = fleet.stop()
        print(f"rebalance: connections per node {per_node}, "
              f"{summary['reconnects']} reconnects", flush=True)
        self.assertGreaterEqual(summary["reconnects"], 2000 - 100, summary)
        self.assertGreater(summary["moved"], 0, summary)  # DISCONNECT / CONNACK 0x9C

    def test_killed_donor_ends_the_rebalance_and_a_new_one_runs(self):
        n1, n2, n3 = self.cluster("kd1", "kd2", "kd3")
        self.login(n2)
        p1, p2, p3 = (f"127.0.0.1:{n.mqtt_port}" for n in (n1, n2, n3))
        # A weighted balancer: node 2 gets twice node 3's share.
        fleet = self.fleet(600, [p1], reconnect_to=[p1, p2, p2, p3])
        fleet.wait_line(r": ready: 600 connections", 30)
        # Coordinated by node 2; node 1 is the donor, evicting slowly.
        self.assertOk(n2.ctl("rebalance", "start", "--wait-health-check", "1s",
                             "--wait-takeover", "1s", "--conn-evict-rate", "20",
                             "--abs-conn-threshold", "10"))
        n1.wait_log(r"new clients are refused", 10)
        wait_until(lambda: self.counts()[n1.name][0] < 590 or None, 10,
                   "node 1 to evict clients")
        killed_at = time.monotonic()
        n1.signal(signal.SIGKILL)
        n1.proc.wait(10)
        n2.wait_log(rf"rebalance aborted: {re.escape(n1.name)} went down", 15,
                    after=killed_at)
        st = self.status(n2)
        self.assertIsNone(st["rebalance"])
        self.assertEqual(st["last_rebalance"]["outcome"],
                         f"rebalance aborted: {n1.name} went down")
        r = self.assertOk(n2.ctl("rebalance", "status"))
        self.assertIn(f"last rebalance coordinated here: rebalance aborted: "
                      f"{n1.name} went down", r.stdout)
        self.assertIsNone(self.status(n3)["donor"])
        self.assertEqual(self.available(n2), 200)
        self.assertEqual(self.available(n3), 200)
        # The fleet is back on the two nodes left, 2:1.
        fleet.wait_all_connected(30)
        self.assertOk(n2.ctl("cluster", "force-leave", n1.name))
        counts = self.wait_total(600, "nodes 2 and 3 to count the 600 clients")
        self.assertGreater(counts[n2.name][0], counts[n3.name][0] + 10, counts)
        # A new rebalance starts and finishes.
        r = self.assertOk(n2.ctl("rebalance", "start", "--wait-health-check", "1s",
                                 "--wait-takeover", "1s", "--conn-evict-rate", "200",
                                 "--abs-conn-threshold", "20"))
        self.assertIn("wait_health_check", r.stdout)
        n2.wait_log(r"rebalance finished", 60, after=killed_at)
        fleet.wait_all_connected(30)
        counts = self.wait_total(600, "nodes 2 and 3 to count the 600 clients")
        self.assertWithin([counts[n2.name][0], counts[n3.name][0]], 20, 1.0)


class EvacuationTest(BalanceTest):
    SESSIONS = 200
    QUEUED = 10
    RATE = 200

    def test_evacuation_empties_the_node_and_survives_a_restart(self):
        data_dir = tempfile.mkdtemp(prefix="starling-ev1-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        n1, n2, n3 = self.cluster("ev1", "ev2", "ev3", ev1={"data_dir": data_dir})
        self.login(n2)
        # 200 persistent sessions on node 1, disconnected, 10 QoS 1
        # messages queued for each.
        ids = [f"ev-s{i}" for i in range(self.SESSIONS)]
        for cid in ids:
            c = Client(n1.mqtt_port, cid, version=V5, clean=False, session_expiry=3600)
            c.subscribe("ev/all", qos=1)
            c.disconnect()
        pub = Client(n1.mqtt_port, "ev-pub", version=V5)
        for k in range(self.QUEUED):
            pub.publish("ev/all", f"m{k}", qos=1)
        pub.disconnect()

        def sessions():
            body = self.get("/api/v5/clients?like_clientid=ev-s&limit=1000")
            return {c["clientid"]: c for c in body["data"]}

        def all_queued(on):
            s = sessions()
            ok = (len(s) == self.SESSIONS
                  and all(c["node"] in on and c["mqueue_len"] == self.QUEUED
                          and not c["connected"] for c in s.values()))
            return s if ok else None

        wait_until(lambda: all_queued({n1.name}), 20,
                   f"{self.QUEUED} messages queued in each session on node 1")
        # 800 connected clients: 794 from the fleet, 5 MQTT 5 observers and
        # an MQTT 3.1.1 one.
        fleet = self.fleet(794, [f"127.0.0.1:{n1.mqtt_port}"])
        fleet.wait_line(r": ready: 794 connections", 30)
        watchers = [self.observer(n1, f"ev-watch{i}") for i in range(5)]
        old = Client(n1.mqtt_port, "ev-watch-v311", version=V311)
        self.observers.append(old)
        wait_until(lambda: self.counts()[n1.name] == (800, 1000) or None, 20,
                   "node 1 to hold 800 connections and 1,000 sessions")

        # Node 1's connections, sampled while the evacuation runs.
        samples, done = [], threading.Event()

        def sample():
            while not done.is_set():
                st, body, _ = n1.api("GET", f"/api/v5/nodes/{n1.name}", token=self.token)
                if st == 200:
                    samples.append((time.monotonic(), body["connections"]))
                done.wait(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        self.addCleanup(done.set)

        redirect = f"127.0.0.1:{n2.mqtt_port}"
        st, body, _ = n2.api("POST", f"/api/v5/load_rebalance/{n1.name}/evacuation/start",
                             {"redirect_to": redirect, "migrate_to": [n2.name, n3.name],
                              "conn_evict_rate": self.RATE, "sess_evict_rate": 100,
                              "wait_health_check": 1, "wait_takeover": 1},
                             token=self.token)
        self.assertEqual(st, 200, body)
        self.assertEqual(self.available(n1), 503)
        # MQTT 5 clients are told where to go.
        for w in watchers:
            rc, props = w.wait_disconnect(timeout=30)
            self.assertEqual(rc.value if hasattr(rc, "value") else rc, 0x9C)
            self.assertEqual(getattr(props, "ServerReference", None), redirect)
        # MQTT 3 has no DISCONNECT from the server: the connection is closed.
        rc, _ = old.wait_disconnect(timeout=30)
        self.assertNotEqual(rc, 0)
        n1.wait_log(r"evacuation: every session moved", 60)
        done.set()
        sampler.join(5)
        # Node 1 is empty; the fleet followed the Server Reference to node 2.
        wait_until(lambda: self.counts()[n1.name] == (0, 0) or None, 20,
                   "node 1 to hold no connection and no session")
        fleet.wait_all_connected(30)
        counts = self.counts()
        self.assertGreaterEqual(counts[n2.name][0], 794, counts)
        # The eviction rate: from the first round's drop to the last one's.
        drops = [(t, c) for t, c in samples if c < 800]
        self.assertTrue(drops, samples)
        t_first, c_first = drops[0]
        t_last = next(t for t, c in drops if c == 0)
        rate = c_first / (t_last - t_first)
        print(f"evacuation: {rate:.0f} evictions/s observed, {self.RATE} configured",
              flush=True)
        self.assertLess(abs(rate - self.RATE) / self.RATE, 0.2,
                        f"observed {rate:.0f} evictions/s, configured {self.RATE}")
        # Every session is on node 2 or 3 with its queue.
        s = wait_until(lambda: all_queued({n2.name, n3.name}), 30,
                       "every session on node 2 or 3 with its queue")
        self.assertTrue({c["node"] for c in s.values()} == {n2.name, n3.name}, s)
        for cid in ids:
            holder = n2 if s[cid]["node"] == n2.name else n3
            c = Client(holder.mqtt_port, cid, version=V5, clean=False, session_expiry=3600)
            self.assertEqual(c.connack_flags["session present"], 1, cid)
            got = [m.payload.decode() for m in c.expect_n(self.QUEUED)]
            self.assertEqual(got, [f"m{k}" for k in range(self.QUEUED)], cid)
            c.disconnect()

        # Restarted, node 1 resumes the evacuation and keeps refusing.
        n1.stop()
        n1 = self.node("ev1", mqtt=True, http=True, data_dir=data_dir)
        late = Client(n1.mqtt_port, "ev-late", version=V5, connect=False)
        flags, rc, props = late.connect()
        self.assertEqual(late.connack_code(), 0x9C)
        self.assertEqual(getattr(props, "ServerReference", None), redirect)
        late.c.loop_stop()
        late3 = Client(n1.mqtt_port, "ev-late3", version=V311, connect=False)
        late3.connect()
        self.assertEqual(late3.connack_code(), 3)  # server unavailable
        late3.c.loop_stop()
        self.assertEqual(self.available(n1), 503)
        self.assertOk(n1.ctl("evacuation", "stop"))
        self.assertEqual(self.available(n1), 200)
        again = self.observer(n1, "ev-again")
        self.assertEqual(again.connack_code(), 0)


if __name__ == "__main__":
    unittest.main()
