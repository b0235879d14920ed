"""Network partitions on real network namespaces: cores on their own hosts
joined by a bridge, links cut and restored, the cluster healing by itself.

What a user checks: after the network comes back there is one cluster
again with no `cluster join` typed, every core holds the same data (the
per-shard checksums of `rlog status` are equal), what the losing side
wrote is listed by `cluster heal-report`, and `cluster status` says what
happened. Each test makes its own namespaces (netns.Net) and removes them,
and stops every node it started, even when it fails."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import netns
from harness import ClusterTest, free_port, wait_until
from nettest import NetTest


class PartitionTest(NetTest):
    def test_one_core_cut_off_heals_and_reports_what_it_discarded(self):
        (h1, h2, h3), (c1, c2, c3) = self.cores(3)
        self.put(c1, "before", "x")
        t0 = time.monotonic()
        self.net.cut(h3)
        self.wait_down(c1, [c3], t0)
        self.wait_down(c3, [c1, c2], t0)
        # Both sides keep accepting writes (availability, as in EMQX).
        self.put(c1, "side", "a")
        self.put(c2, "only_a", "1")
        self.put(c3, "side", "b")
        self.put(c3, "only_b", "1")
        self.assertEqual(self.get(c3, "side"), "b")
        restored = time.monotonic()
        self.net.restore(h3)
        self.wait_healed([c1, c2, c3], restored, "one core cut off")
        for n in (c1, c2, c3):
            self.assertEqual(self.get(n, "side"), "a", n.name)
            self.assertEqual(self.get(n, "only_a"), "1", n.name)
            self.assertIsNone(self.get(n, "only_b"), n.name)
            self.assertEqual(self.get(n, "before"), "x", n.name)
        # The last heal, as every node reports it.
        for n in (c1, c2, c3):
            last = wait_until(lambda: n.cluster_status()["last_heal"], 10,
                              f"{n.name} to know the last heal")
            self.assertEqual(last["winner"], sorted([c1.name, c2.name]))
            self.assertEqual(last["losers"], [c3.name])
            self.assertEqual(last["outcome"], "healed")
            self.assertGreaterEqual(last["discarded"], 2)
        # What c3 wrote during the split, asked on any node.
        r = self.assertOk(c2.ctl("cluster", "heal-report", "--json"))
        lines = json.loads(r.stdout)["lines"]
        kv = {(l["key"], l["value"]) for l in lines
              if l.get("table") == "kv" and l.get("op") == "write"}
        self.assertIn(("side", "b"), kv)
        self.assertIn(("only_b", "1"), kv)
        self.assertNotIn(("side", "a"), kv)
        self.assertTrue(all(l["node"] == c3.name for l in lines), lines)
        text = self.assertOk(c1.ctl("cluster", "heal-report")).stdout
        self.assertIn("only_b", text)
        status = self.assertOk(c1.ctl("cluster", "status")).stdout
        self.assertIn("Last heal: round", status)
        self.assertIn("Partition alarm: none", status)


    def test_one_one_one_split_heals_to_the_oldest_core(self):
        hosts, (c1, c2, c3) = self.cores(3)
        t0 = time.monotonic()
        self.net.cut(*hosts)
        for n, others in ((c1, [c2, c3]), (c2, [c1, c3]), (c3, [c1, c2])):
            self.wait_down(n, others, t0)
        for n, v in ((c1, "1"), (c2, "2"), (c3, "3")):
            self.put(n, "who", v)
            self.put(n, f"only{v}", v)
        restored = time.monotonic()
        self.net.restore(*hosts)
        self.wait_healed([c1, c2, c3], restored, "1-1-1 split")
        for n in (c1, c2, c3):
            self.assertEqual(self.get(n, "who"), "1", n.name)
            self.assertEqual(self.get(n, "only1"), "1", n.name)
            self.assertIsNone(self.get(n, "only2"), n.name)
            self.assertIsNone(self.get(n, "only3"), n.name)
        last = wait_until(lambda: c1.cluster_status()["last_heal"], 10, "last heal")
        self.assertEqual(last["winner"], [c1.name])
        self.assertEqual(last["losers"], sorted([c2.name, c3.name]))
        lines = json.loads(self.assertOk(
            c1.ctl("cluster", "heal-report", "--json")).stdout)["lines"]
        lost = {(l["node"], l["key"]) for l in lines if l.get("table") == "kv"}
        self.assertEqual(lost, {(c2.name, "who"), (c2.name, "only2"),
                                (c3.name, "who"), (c3.name, "only3")})

    def stable_groups(self, want, seconds, since):
        """The database groups stay `want` (node -> members) for `seconds`,
        and nothing is discarded meanwhile: no flapping."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for n, members in want.items():
                self.assertEqual(n.cluster_status()["db_group"]["members"],
                                 sorted(m.name for m in members), f"{n.name} flapped")
            time.sleep(0.5)
        for n in want:
            self.assertNotRegex("\n".join(l for t, l in n.lines if t >= since),
                                "discarding|this node lost", f"{n.name} healed while cut")

    def wait_groups(self, want):
        for n, members in want.items():
            names = sorted(m.name for m in members)
            wait_until(lambda: n.cluster_status()["db_group"]["members"] == names
                       or None, 10, f"{n.name} in the group {names}")

    def test_asymmetric_split_with_the_oldest_in_the_middle_stays_one_database(self):
        (h1, h2, h3), (c1, c2, c3) = self.cores(3)
        t0 = time.monotonic()
        self.net.block(h2, h3)  # c1 still sees both; c2 and c3 lose each other
        c2.wait_log(rf"nodedown {c3.name}", 10, after=t0)
        c3.wait_log(rf"nodedown {c2.name}", 10, after=t0)
        # Each core leaves out what it sees as down: c1 and c2 form {c1, c2},
        # c3 forms {c1, c3}; all of them follow c1, so nothing diverges.
        want = {c1: [c1, c2], c2: [c1, c2], c3: [c1, c3]}
        self.wait_groups(want)
        for n, k in ((c1, "k1"), (c2, "k2"), (c3, "k3")):
            self.put(n, k, n.short)
        for n in (c1, c2, c3):
            for k, v in (("k1", "core1"), ("k2", "core2"), ("k3", "core3")):
                wait_until(lambda: self.get(n, k) == v or None, 10, f"{n.name} {k}")
        settle = time.monotonic()
        self.stable_groups(want, 8, settle)
        for n in (c1, c2, c3):
            self.assertFalse(n.cluster_status()["partition"]["alarm"], n.name)
        restored = time.monotonic()
        self.net.unblock(h2)
        self.wait_healed([c1, c2, c3], restored, "asymmetric split (no divergence)")
        self.wait_groups({n: [c1, c2, c3] for n in (c1, c2, c3)})
        self.assertIsNone(c1.cluster_status()["last_heal"])  # nothing to heal

    def test_asymmetric_split_that_diverges_settles_on_a_clique_without_flapping(self):
        (h1, h2, h3), (c1, c2, c3) = self.cores(3)
        t0 = time.monotonic()
        # c3 (the youngest) sees both; the oldest, c1, and c2 lose each other:
        # c2 cannot reach c1 and sequences for itself and c3's side of it.
        self.net.block(h1, h2)
        c1.wait_log(rf"nodedown {c2.name}", 10, after=t0)
        c2.wait_log(rf"nodedown {c1.name}", 10, after=t0)
        self.put(c1, "k1", "1")
        self.put(c3, "k3", "3")
        self.put(c2, "k2", "2")
        # c3 follows c1 (the best clique {c1, c3} holds the oldest core); c2's
        # writes branched: the alarm is up, but c2 cannot join the winners
        # ({c1, c3}) while it cannot reach c1, so nobody heals (no flapping).
        wait_until(lambda: c3.cluster_status()["partition"]["alarm"] or None, 15,
                   "the partition alarm on c3")
        want = {c1: [c1, c3], c3: [c1, c3], c2: [c2]}
        self.wait_groups(want)
        self.stable_groups(want, 8, time.monotonic())
        self.assertEqual(self.get(c2, "k2"), "2")
        self.assertEqual(self.get(c3, "k1"), "1")
        restored = time.monotonic()
        self.net.unblock(h1)
        self.wait_healed([c1, c2, c3], restored, "asymmetric split (diverged)")
        for n in (c1, c2, c3):
            self.assertEqual(self.get(n, "k1"), "1")
            self.assertEqual(self.get(n, "k3"), "3")
            self.assertIsNone(self.get(n, "k2"))
        last = wait_until(lambda: c1.cluster_status()["last_heal"], 10, "last heal")
        self.assertEqual(last["losers"], [c2.name])
        lines = json.loads(self.assertOk(
            c1.ctl("cluster", "heal-report", "--json")).stdout)["lines"]
        self.assertIn(("k2", "2"), {(l["key"], l["value"]) for l in lines
                                    if l.get("table") == "kv"})

    def test_leader_killed_during_the_heal(self):
        self.leader_lost_during_the_heal(signal.SIGKILL)

    def test_leader_frozen_during_the_heal(self):
        self.leader_lost_during_the_heal(signal.SIGSTOP)

    def leader_lost_during_the_heal(self, sig):
        # A longer quiet period, so the leader is surely mid-heal when it
        # goes: it has the reports and waits.
        env = {"STARLING_CLUSTER__AUTOHEAL_DELAY_MS": "3000"}
        (h1, h2, h3), (c1, c2, c3) = self.cores(3, env=env)
        t0 = time.monotonic()
        self.net.cut(h3)
        self.wait_down(c1, [c3], t0)
        self.wait_down(c3, [c1, c2], t0)
        self.put(c2, "side", "a")
        self.put(c3, "side", "b")
        restored = time.monotonic()
        self.net.restore(h3)
        c1.wait_log(rf"partition reported by", 20, after=restored)
        self.assertEqual(c1.cluster_status()["autoheal"]["phase"], "waiting")
        c1.signal(sig)
        # c2 is the oldest running core now: it runs the heal. c3 loses
        # ({c2} and {c3} tie at one core; c2 is older).
        self.wait_healed([c2, c3], restored,
                         f"leader lost ({signal.Signals(sig).name}) mid-heal")
        for n in (c2, c3):
            self.assertEqual(self.get(n, "side"), "a")
        last = wait_until(lambda: c2.cluster_status()["last_heal"], 10, "last heal")
        self.assertEqual(last["leader"], c2.name)
        self.assertEqual(last["losers"], [c3.name])
        if sig == signal.SIGSTOP:
            # Thawed, the old leader finds its links closed and comes back.
            thawed = time.monotonic()
            c1.signal(signal.SIGCONT)
            self.wait_healed([c1, c2, c3], thawed, "the frozen leader thawed")


class MqttAcrossSplitTest(NetTest):
    """3 cores + 2 replicants, QoS 1 subscribers on both sides of a split."""

    CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ns_mqtt.py")

    def start_client(self, node, *args):
        p = subprocess.Popen([*node.prefix, sys.executable, self.CLIENT, *args,
                              "--port", str(node.mqtt_port)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
        self.addCleanup(self.stop_client, p)
        q = queue.Queue()
        threading.Thread(target=lambda: [q.put(json.loads(l)) for l in p.stdout],
                         daemon=True).start()
        return p, q

    @staticmethod
    def stop_client(p):
        if p.poll() is None:
            p.terminate()
            p.wait(10)

    def next_event(self, q, ev, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {ev} event within {timeout}s")
            try:
                e = q.get(timeout=left)
            except queue.Empty:
                continue
            if e["ev"] == ev:
                return e

    def subscribe(self, node, cid):
        p, q = self.start_client(node, "sub", "--id", cid, "--topic", "p/#")
        self.next_event(q, "sub")
        return p, q

    def publish(self, node, topic, payload):
        r = subprocess.run([*node.prefix, sys.executable, self.CLIENT, "pub",
                            "--topic", topic, "--payload", payload,
                            "--port", str(node.mqtt_port)],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def received(self, q, want, timeout=20):
        """The payloads of the next `want` messages, then checks that no
        further message arrives for a moment (exactly once)."""
        got = [self.next_event(q, "msg", timeout)["payload"] for _ in range(want)]
        try:
            extra = q.get(timeout=0.5)
            if extra["ev"] == "msg":
                got.append(extra["payload"])
        except queue.Empty:
            pass
        return got

    def test_mqtt_across_a_split(self):
        hosts = [self.net.host(n) for n in ("c1", "c2", "c3", "r1", "r2")]
        seeds = ",".join(f"core{i}@{hosts[i - 1].ip}" for i in (1, 2, 3))
        env = {"STARLING_CLUSTER__STATIC__SEEDS": seeds}
        cores = [self.core(hosts[i - 1], f"core{i}", env=env, mqtt=True,
                           port=4370 + i) for i in (1, 2, 3)]
        reps = [self.core(hosts[2 + i], f"repl{i}", env=env, mqtt=True,
                          port=4380 + i, extra=("-role", "replicant"))
                for i in (1, 2)]
        c1, c2, c3 = cores
        r1, r2 = reps
        everyone = cores + reps
        self.wait_running(everyone, timeout=30)
        subs = {n.short: self.subscribe(n, f"sub-{n.short}") for n in everyone}
        for n in everyone:  # every node routes p/# to every subscriber
            wait_until(lambda: len({node for f, node in n.routes() if f == "p/#"})
                       == 5 or None, 20, f"{n.name} to see five routes")
        side_a, side_b = [c1, c2, r1], [c3, r2]
        t0 = time.monotonic()
        self.net.split([hosts[0], hosts[1], hosts[3]], [hosts[2], hosts[4]])
        for n in side_b:
            for o in side_a:
                n.wait_log(rf"nodedown {o.name}", 10, after=t0)
        # Each side delivers locally.
        for side, other in ((side_a, side_b), (side_b, side_a)):
            wait_until(lambda: all(len({node for f, node in n.routes()
                                        if f == "p/#"}) == len(side)
                                   for n in side) or None,
                       20, f"routes of {[n.short for n in side]} only")
            tag = "during-" + side[0].short
            self.publish(side[0], "p/split", tag)
            for n in side:
                self.assertEqual(self.received(subs[n.short][1], 1), [tag], n.name)
        # The same client id on both sides at once: the winning side keeps it.
        twin_a = self.start_client(c2, "sub", "--id", "twin", "--topic", "t/#")
        twin_b = self.start_client(c3, "sub", "--id", "twin", "--topic", "t/#")
        self.next_event(twin_a[1], "sub")
        self.next_event(twin_b[1], "sub")
        restored = time.monotonic()
        self.net.join([hosts[2], hosts[4]])
        self.wait_healed(everyone, restored, "MQTT across a split")
        # The twin on the losing side is told to use its session elsewhere.
        gone = self.next_event(twin_b[1], "disconnect", 30)
        self.assertEqual(gone["rc"], 0x8E)
        self.assertIsNone(twin_a[0].poll(), "the winning side's twin stays")
        # Routes are the live subscriptions, the same on every node.
        want = {("p/#", n.name) for n in everyone} | {("t/#", c2.name)}
        for n in everyone:
            wait_until(lambda: n.routes() == want or None, 20,
                       f"{n.name} routes to be {want}")
        # Every client id is registered once, on the node holding it.
        for cid, holder in [(f"sub-{n.short}", n.name) for n in everyone] \
                + [("twin", c2.name)]:
            for n in everyone:
                wait_until(lambda: n.ctl("db", "get", "session_registry", cid)
                           .stdout.strip() == holder or None, 20,
                           f"{n.name}: {cid} registered on {holder}")
        # A publish on any node reaches every subscriber exactly once.
        for n in everyone:
            self.publish(n, "p/after", "from-" + n.short)
            for m in everyone:
                self.assertEqual(self.received(subs[m.short][1], 1),
                                 ["from-" + n.short], f"{m.name} from {n.name}")
        for p, q in subs.values():
            self.assertIsNone(p.poll(), "a subscriber was disconnected")


@unittest.skipIf(netns.available(), netns.available() or "")
class RestartAndAutocleanTest(ClusterTest):
    """On loopback: a core restarted on its data directory rejoins by
    itself; autoclean removes a member down for longer than its time, and
    not before, and refuses its automatic rejoin."""

    def test_a_restarted_core_rejoins_without_cluster_join(self):
        dirs = {}
        for s in ("a1", "a2", "a3"):
            dirs[s] = tempfile.mkdtemp(prefix=f"starling-{s}-")
            self.addCleanup(shutil.rmtree, dirs[s], True)
        ports = {s: free_port() for s in dirs}
        a1, a2, a3 = (self.node(s, port=ports[s], data_dir=dirs[s]) for s in dirs)
        for n in (a2, a3):
            self.assertOk(n.join(a1))
        self.wait_running([a1, a2, a3])
        self.assertOk(a1.ctl("db", "put", "kv", "k", "v"))
        a3.stop()
        t0 = time.monotonic()
        again = self.node("a3", port=ports["a3"], data_dir=dirs["a3"])
        again.wait_log(r"rejoining the cluster: 2 members", 10)
        self.wait_running([a1, a2, again])
        print(f"restart: rejoined {time.monotonic() - t0:.1f} s after start")
        self.assertEqual(again.ctl("db", "get", "kv", "k").stdout.strip(), "v")

    def test_autoclean_removes_a_dead_core_after_its_time(self):
        env = {**os.environ, "STARLING_CLUSTER__AUTOCLEAN": "4s"}
        d3 = tempfile.mkdtemp(prefix="starling-b3-")
        self.addCleanup(shutil.rmtree, d3, True)
        p3 = free_port()
        b1 = self.node("b1", env=env)
        b2 = self.node("b2", env=env)
        b3 = self.node("b3", env=env, port=p3, data_dir=d3)
        for n in (b2, b3):
            self.assertOk(n.join(b1))
        self.wait_running([b1, b2, b3])
        killed = time.monotonic()
        b3.signal(signal.SIGKILL)
        for n in (b1, b2):
            n.wait_log(rf"nodedown {b3.name}", 5, after=killed)
        for n in (b1, b2):
            t, _ = n.wait_log(rf"{b3.name} removed from the cluster: autoclean", 15,
                              after=killed)
            print(f"autoclean: {n.name} removed {b3.name} {t - killed:.1f} s "
                  f"after kill -9 (autoclean 4 s)")
            self.assertGreaterEqual(t - killed, 4.0)
            s = n.cluster_status()
            self.assertNotIn(b3.name, [m["node"] for m in s["members"]])
            self.assertIn(b3.name, [r["node"] for r in s["removed"]])
        # Started again on its data, it dials its old members and is refused;
        # or a member still dialling it from before the removal reaches it
        # first and tells it that it was removed.
        b3b = self.node("b3", env=env, port=p3, data_dir=d3)
        b3b.wait_log(r"(was removed from the cluster|removed from the cluster by \S+) "
                     r"\(autoclean", 15)
        wait_until(lambda: b3b.cluster_status()["running_nodes"] == [b3b.name]
                   or None, 10, "b3 alone")
        self.assertNotIn(b3.name, b1.cluster_status()["running_nodes"])
        # An operator's cluster join takes it back.
        self.assertOk(b3b.join(b1), "joined the cluster")
        self.wait_running([b1, b2, b3b])


if __name__ == "__main__":
    unittest.main()
