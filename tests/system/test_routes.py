"""The cluster's route table (a merge table): a node's route for a filter
exists while it has a local subscriber, reaches every node (cores and
replicants), and vanishes everywhere when the node goes down. Observed
through `routes()` in remsh on every node; subscribers are real MQTT
clients (paho)."""

import os
import re
import signal

from harness import ClusterTest, wait_until
from mqtt_client import Client


def routes(node):
    """{(filter, node)} as remsh routes() prints them."""
    r = node.eval("routes()")
    assert r.returncode == 0, r.stderr
    rows = set()
    for line in r.stdout.splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 3:
            rows.add((parts[0], parts[1]))
    return rows


class RouteTableTest(ClusterTest):

    def start(self):
        c1 = self.node("c1", mqtt=True)
        seeds = {**os.environ, "STARLING_CLUSTER__STATIC__SEEDS": c1.target}
        c2 = self.node("c2", mqtt=True, env=seeds)
        r1 = self.node("r1", mqtt=True, env=seeds, extra=("-role", "replicant"))
        nodes = [c1, c2, r1]
        names = sorted(n.name for n in nodes)
        for n in nodes:
            wait_until(lambda: n.cluster_status()["running_nodes"] == names or None,
                       20, f"{n.name} in the cluster")
        return nodes

    def wait_routes(self, nodes, want, what):
        for n in nodes:
            wait_until(lambda: routes(n) == want or None, 10, f"{n.name}: {what}")

    def test_routes_follow_the_last_subscriber_and_the_node(self):
        c1, c2, r1 = nodes = self.start()
        on_c2 = Client(c2.mqtt_port, client_id="s-c2")
        self.addCleanup(on_c2.disconnect)
        on_c2.subscribe("t/#")
        on_c2.subscribe("$share/g/t/+/x")
        on_r1 = Client(r1.mqtt_port, client_id="s-r1")
        on_r1.subscribe("t/a")
        second = Client(r1.mqtt_port, client_id="s-r1-b")
        self.addCleanup(second.disconnect)
        second.subscribe("t/a")
        want = {("t/#", c2.name), ("$share/g/t/+/x", c2.name), ("t/a", r1.name)}
        self.wait_routes(nodes, want, "every route everywhere")

        # Not the last subscriber of t/a on r1: the route stays.
        on_r1.disconnect()
        self.wait_routes(nodes, want, "t/a kept for the second subscriber")
        # The last one: gone on every node; back when it resubscribes.
        second.c.unsubscribe("t/a")
        self.wait_routes(nodes, want - {("t/a", r1.name)}, "t/a removed")
        second.subscribe("t/a")
        self.wait_routes(nodes, want, "t/a back")

        # A node that dies takes its routes with it.
        c2.signal(signal.SIGKILL)
        self.wait_routes([c1, r1], {("t/a", r1.name)}, "c2's routes gone")
