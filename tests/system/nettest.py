"""Shared by the tests that run nodes on hosts of their own (network
namespaces, see netns.py): the base class and the checks they share."""

import os
import time
import unittest

import netns
from harness import ClusterTest, rlog, wait_until

TICK_MS = 1000
HEAL_ENV = {"STARLING_CLUSTER__AUTOHEAL_DELAY_MS": "1000"}
HEAL_BOUND_S = 60


@unittest.skipIf(netns.available(), netns.available() or "")
class NetTest(ClusterTest):
    """Nodes on hosts of their own (netns.Net), removed with the test."""

    def setUp(self):
        super().setUp()
        self.net = netns.Net()
        # Cleanups run last in, first out: the nodes (added later) stop
        # before the namespaces go.
        self.addCleanup(self.net.close)

    def core(self, host, short, env=None, **kw):
        return self.node(short, host=host, tick_ms=TICK_MS, mqtt=kw.pop("mqtt", False),
                         env={**os.environ, **HEAL_ENV, **(env or {})},
                         **kw)

    def cores(self, n, **kw):
        hosts = [self.net.host(f"c{i}") for i in range(1, n + 1)]
        nodes = [self.core(h, f"core{i}", **kw) for i, h in enumerate(hosts, 1)]
        for n_ in nodes[1:]:
            self.assertOk(n_.join(nodes[0]), "joined the cluster")
        self.wait_running(nodes)
        return hosts, nodes

    def put(self, node, key, value):
        self.assertOk(node.ctl("db", "put", "kv", key, value))

    def get(self, node, key):
        r = node.ctl("db", "get", "kv", key)
        return r.stdout.strip() if r.returncode == 0 else None

    def wait_down(self, node, others, after):
        for o in others:
            node.wait_log(rf"nodedown {o.name}", 10, after=after)

    def wait_healed(self, nodes, since, what, running=None):
        """One cluster (`running`, default `nodes`), every shard with equal
        seqno and checksum on every node of `nodes`, no partition alarm;
        returns the seconds it took."""
        names = sorted(n.name for n in (running or nodes))

        def healed():
            for n in nodes:
                s = n.cluster_status()
                if s["running_nodes"] != names or s["partition"]["alarm"]:
                    return None
            states = [rlog(n) for n in nodes]
            for shard_name in {s["shard"] for s in states[0]["shards"]}:
                views = set()
                for st in states:
                    for s in st["shards"]:
                        if s["shard"] == shard_name:
                            if s["state"] != "normal":
                                return None
                            views.add((s["seqno"], s["checksum"]))
                if len(views) != 1:
                    return None
            return True

        wait_until(healed, HEAL_BOUND_S, what)
        took = time.monotonic() - since
        print(f"{what}: healed {took:.1f} s after the network was restored")
        return took
