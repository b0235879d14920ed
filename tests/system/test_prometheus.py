"""GET /api/v5/prometheus/stats from a real core and replicant: the text
passes Prometheus's own `promtool check metrics`, carries the Mria figures
of both roles labelled by node and shard, and its counters move when
messages flow."""

import re
import subprocess
import unittest

from harness import ClusterTest, wait_until
from mqtt_client import Client

PASSWORD = "pr0m-passw0rd"


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_]+)\{(.*)\} (\d+)$', line)
        assert m, f"unexpected sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        out[(m.group(1), labels)] = int(m.group(3))
    return out


class PrometheusTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.core = self.node("core1", http=True, mqtt=True)
        self.repl = self.node("repl1", http=True, mqtt=True, extra=["-role", "replicant"],
                              env={"STARLING_CLUSTER__STATIC__SEEDS": self.core.target,
                                   **__import__("os").environ})
        self.wait_running([self.core, self.repl])
        first = wait_until(lambda: self.login("public"), 20, "the default user")
        st, body, _ = self.core.api("POST", "/api/v5/users/admin/change_pwd",
                                    {"old_pwd": "public", "new_pwd": PASSWORD}, token=first)
        self.assertEqual(st, 204, body)
        self.token = self.login(PASSWORD)

    def login(self, pw):
        st, body, _ = self.core.api("POST", "/api/v5/login", {"username": "admin", "password": pw})
        return body["token"] if st == 200 else None

    def scrape(self, mode="all_nodes_unaggregated"):
        st, text, headers = self.core.api("GET", f"/api/v5/prometheus/stats?mode={mode}",
                                          token=self.token)
        self.assertEqual(st, 200, text)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        return text

    def test_promtool_accepts_it_and_counters_move(self):
        # The replicant's shards reach normal before its figures mean much.
        wait_until(lambda: 'starling_mria_lag{node="' + self.repl.name in self.scrape() or None,
                   20, "the replicant's Mria figures")
        before = self.scrape()
        check = subprocess.run(["promtool", "check", "metrics"], input=before,
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        s0 = samples(before)
        core, repl = self.core.name, self.repl.name
        for shard in ("kv_shard", "mgmt_shard", "conf_shard"):
            self.assertIn(("starling_mria_last_intercepted_trans",
                           frozenset({("node", core), ("shard", shard)})), s0)
            self.assertIn(("starling_mria_replicants", frozenset({("node", core), ("shard", shard)})), s0)
            self.assertIn(("starling_mria_lag", frozenset({("node", repl), ("shard", shard)})), s0)
            self.assertIn(("starling_mria_bootstrap_num_keys",
                           frozenset({("node", repl), ("shard", shard)})), s0)
        self.assertEqual(s0[("starling_mria_replicants",
                             frozenset({("node", core), ("shard", "kv_shard")}))], 1)

        sub = Client(self.repl.mqtt_port, "prom-sub")
        pub = Client(self.core.mqtt_port, "prom-pub")
        sub.connect()
        sub.subscribe("prom/#", qos=1)
        pub.connect()
        wait_until(lambda: any(r["node"] == repl for r in
                               self.core.api("GET", "/api/v5/routes", token=self.token)[1]["data"]),
                   10, "the route on the core")
        before = samples(self.scrape())
        for i in range(20):
            pub.publish(f"prom/{i}", b"x" * 100, qos=1)
        sub.expect_n(20)
        pub.disconnect()
        sub.disconnect()
        after = samples(self.scrape())

        def delta(name, node, **labels):
            key = (name, frozenset({("node", node), *labels.items()}))
            return after[key] - before.get(key, 0)
        self.assertEqual(delta("starling_messages_received_total", core, qos="1"), 20)
        self.assertEqual(delta("starling_messages_sent_total", repl, qos="1"), 20)
        self.assertGreaterEqual(delta("starling_bytes_received_total", core), 20 * 100)
        self.assertGreaterEqual(delta("starling_bytes_sent_total", repl), 20 * 100)
        # mode=node: this node's samples only.
        only = samples(self.scrape("node"))
        self.assertEqual({dict(l)["node"] for _, l in only}, {core})


if __name__ == "__main__":
    unittest.main()
