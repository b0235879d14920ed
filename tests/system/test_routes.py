"""The cluster's route table (a merge table): a node's route for a filter
exists while it has a local subscriber, reaches every node (cores and
replicants), and vanishes everywhere when the node goes down. Observed
through `routes()` in remsh on every node; subscribers are real MQTT
clients (paho)."""

import os
import re
import signal
import socket

from harness import ClusterTest, free_port, wait_until
from mqtt_client import Client


class RoutesBase(ClusterTest):
    """Two cores and a replicant with MQTT listeners."""

    def start(self):
        c1 = self.node("c1", mqtt=True)
        seeds = {**os.environ, "STARLING_CLUSTER__STATIC__SEEDS": c1.target}
        c2 = self.node("c2", mqtt=True, env=seeds)
        r1 = self.node("r1", mqtt=True, env=seeds, extra=("-role", "replicant"))
        nodes = [c1, c2, r1]
        self.wait_running(nodes)
        return nodes

    def wait_routes(self, nodes, want, what):
        for n in nodes:
            seen = {}

            def same():
                seen["routes"] = n.routes()
                return seen["routes"] == want
            try:
                wait_until(same, 10, f"{n.name}: {what}")
            except AssertionError as e:
                events = [l for l in n.log_text().splitlines()
                          if re.search(r"nodeup|nodedown|merge tables|cannot reach|\[warn|\[error", l)]
                state = [m.eval(f"actor {a}").stdout for m in nodes
                         for a in ("merge_server", "mqtt_router")]
                raise AssertionError(f"{e}; its routes: {sorted(seen['routes'])}, "
                                     f"wanted {sorted(want)}; its membership events:\n"
                                     + "\n".join(events) + "\n" + "\n".join(state)) from None


class RouteTableTest(RoutesBase):

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

        # Not the last subscriber of t/a on r1: the route stays. A barrier
        # route from r1 made after the disconnect shows that r1's route
        # changes since then have reached every node.
        on_r1.disconnect()
        barrier = Client(r1.mqtt_port, client_id="s-r1-barrier")
        self.addCleanup(barrier.disconnect)
        barrier.subscribe("barrier/x")
        self.wait_routes(nodes, want | {("barrier/x", r1.name)},
                         "t/a kept for the second subscriber")
        barrier.disconnect()
        self.wait_routes(nodes, want, "the barrier route gone")
        # The last one: gone on every node; back when it resubscribes.
        second.c.unsubscribe("t/a")
        self.wait_routes(nodes, want - {("t/a", r1.name)}, "t/a removed")
        second.subscribe("t/a")
        self.wait_routes(nodes, want, "t/a back")

        # A node that dies takes its routes with it.
        c2.signal(signal.SIGKILL)
        self.wait_routes([c1, r1], {("t/a", r1.name)}, "c2's routes gone")


class ClusterPublishTest(RoutesBase):
    """Messages cross nodes through the message delivery channel."""

    def test_the_seeds_worked_example(self):
        # client1 on node1 publishes t/a; t/# is subscribed on node2 and t/a
        # on node3: each gets the message once, node1 has no subscriber.
        node1, node2, node3 = nodes = self.start()
        sub2 = Client(node2.mqtt_port, client_id="client2")
        self.addCleanup(sub2.disconnect)
        sub2.subscribe("t/#", qos=1)
        sub3 = Client(node3.mqtt_port, client_id="client3")
        self.addCleanup(sub3.disconnect)
        sub3.subscribe("t/a", qos=1)
        self.wait_routes(nodes, {("t/#", node2.name), ("t/a", node3.name)},
                         "both routes")
        client1 = Client(node1.mqtt_port, client_id="client1")
        self.addCleanup(client1.disconnect)
        client1.publish("t/a", "hello", qos=1)
        # Then an end marker: a second copy of "hello" would come before it.
        client1.publish("t/a", "end", qos=1)
        for s in (sub2, sub3):
            got = [(m.topic, m.payload, m.qos) for m in s.expect_n(2)]
            self.assertEqual(got, [("t/a", b"hello", 1), ("t/a", b"end", 1)])

    def test_order_qos_and_properties_survive_the_hop(self):
        from mqtt_client import V5
        import paho.mqtt.packettypes as pt
        import paho.mqtt.properties as pp
        c1, c2, r1 = nodes = self.start()
        sub = Client(r1.mqtt_port, client_id="far", version=V5)
        self.addCleanup(sub.disconnect)
        sub.subscribe("o/#", qos=1)
        self.wait_routes(nodes, {("o/#", r1.name)}, "o/# everywhere")
        pub = Client(c1.mqtt_port, client_id="near", version=V5)
        self.addCleanup(pub.disconnect)
        props = pp.Properties(pt.PacketTypes.PUBLISH)
        props.UserProperty = [("trace", "42")]
        props.ContentType = "text/plain"
        pub.publish("o/x", "first", qos=1, properties=props)
        m = sub.expect()
        self.assertEqual((m.topic, m.payload, m.qos), ("o/x", b"first", 1))
        self.assertEqual(m.properties.ContentType, "text/plain")
        self.assertEqual(m.properties.UserProperty, [("trace", "42")])
        for i in range(200):
            pub.publish("o/seq", str(i), qos=1, wait=False)
        got = [int(x.payload) for x in sub.expect_n(200)]
        self.assertEqual(got, list(range(200)), "per-topic order broken")

    def test_publishers_on_survivors_keep_working_after_a_node_dies(self):
        c1, c2, r1 = self.start()
        sub = Client(c1.mqtt_port, client_id="stay")
        self.addCleanup(sub.disconnect)
        sub.subscribe("k/#", qos=1)
        gone = Client(c2.mqtt_port, client_id="gone")
        gone.subscribe("k/#", qos=1)
        self.wait_routes([c1, r1], {("k/#", c1.name), ("k/#", c2.name)}, "routes")
        c2.signal(signal.SIGKILL)
        self.wait_routes([c1, r1], {("k/#", c1.name)}, "c2's route gone")
        pub = Client(r1.mqtt_port, client_id="pub")
        self.addCleanup(pub.disconnect)
        pub.publish("k/1", "after", qos=1)
        self.assertEqual(sub.expect().payload, b"after")


class ClusterRetainedTest(RoutesBase):

    def test_retained_messages_are_cluster_wide(self):
        c1, c2, r1 = self.start()
        pub = Client(c1.mqtt_port, client_id="retainer")
        self.addCleanup(pub.disconnect)
        pub.publish("r/1", "kept", qos=1, retain=True)

        def retained_on(node, cid):
            """The retained message a new subscriber of r/# on `node` gets,
            or None: its own non-retained marker, published after SUBACK,
            comes after anything retained (the router sends those first)."""
            sub = Client(node.mqtt_port, client_id=cid)
            try:
                sub.subscribe("r/#", qos=1)
                sub.publish("r/marker", cid, qos=1)
                m = sub.expect()
                if m.topic == "r/marker":
                    return None
                return (m.topic, m.payload, m.retain)
            finally:
                sub.disconnect()

        # A subscriber on the replicant gets the message published on a core.
        got = wait_until(lambda: retained_on(r1, "late-r1"), 10,
                         "the retained message on the replicant")
        self.assertEqual(got, ("r/1", b"kept", True))
        # Cleared on another node: gone everywhere.
        clearer = Client(c2.mqtt_port, client_id="clearer")
        self.addCleanup(clearer.disconnect)
        clearer.publish("r/1", "", qos=1, retain=True)
        for n, cid in ((c1, "late-c1"), (r1, "late-r1b")):
            wait_until(lambda: retained_on(n, cid) is None or None, 10,
                       f"the retained message cleared on {n.name}")


def two_free_ports():
    """A port p with p + 1 free as well (a pool of two links)."""
    for _ in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise AssertionError("no two consecutive free ports")


class DataPoolTest(ClusterTest):
    """node.data_pool_size 2: two links per pair of nodes; each topic keeps
    one link (and its order), different topics use both."""

    def test_two_links_carry_every_message_in_order(self):
        pool = {"STARLING_NODE__DATA_POOL_SIZE": "2"}
        a = self.node("pa", mqtt=True, env={
            **os.environ, **pool,
            "STARLING_NODE__DATA_PORT": str(two_free_ports())})
        b = self.node("pb", mqtt=True, env={
            **os.environ, **pool,
            "STARLING_NODE__DATA_PORT": str(two_free_ports()),
            "STARLING_CLUSTER__STATIC__SEEDS": a.target})
        self.wait_running([a, b])
        sub = Client(b.mqtt_port, client_id="pool-sub")
        self.addCleanup(sub.disconnect)
        sub.subscribe("p/#", qos=1)
        wait_until(lambda: ("p/#", b.name) in a.routes() or None, 10, "p/# on a")
        pub = Client(a.mqtt_port, client_id="pool-pub")
        self.addCleanup(pub.disconnect)
        topics = [f"p/{i}" for i in range(16)]
        for i in range(400):
            pub.publish(topics[i % 16], str(i), qos=1, wait=False)
        got = sub.expect_n(400, timeout=20)
        per_topic = {}
        for m in got:
            per_topic.setdefault(m.topic, []).append(int(m.payload))
        for t in topics:
            want = [i for i in range(400) if topics[i % 16] == t]
            self.assertEqual(per_topic.get(t), want, f"order on {t}")
        # Both links of a carried messages.
        listing = a.eval("actors()").stdout
        sent = {name: int(n) for name, n in re.findall(
            r"(data_outbox(?::1)?)\s.*?(\d+) sent in", listing)}
        self.assertEqual(set(sent), {"data_outbox", "data_outbox:1"}, listing)
        self.assertEqual(sum(sent.values()), 400, listing)
        self.assertTrue(all(n > 0 for n in sent.values()), sent)
