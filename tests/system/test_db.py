"""The replicated database with real processes: 3 cores and 2 replicants
found through cluster.static.seeds, writes from every node, a killed
sequencer/upstream under load, a restarted core recovering from SQLite,
merge tables cleaned when their owner dies. Contents are compared through
the per-shard checksum and seqno that `ctl rlog status --json` prints."""

import json
import os
import re
import signal
import subprocess
import tempfile
import shutil

from harness import BIN, ClusterTest, free_port, rlog, shard, wait_until
from mqtt_client import Client

SHARD = "kv_shard"


class DbCluster(ClusterTest):
    """Starts cores c1..cN and replicants r1..rM with static seeds."""

    def start_cluster(self, cores=3, replicants=2):
        self.data_dirs = {}
        self.ports = {f"c{i}": free_port() for i in range(1, cores + 1)}
        seeds = ",".join(f"{n}@127.0.0.1:{p}" for n, p in self.ports.items())
        self.seed_env = {"STARLING_CLUSTER__STATIC__SEEDS": seeds}
        self.cores = [self.start_core(n) for n in self.ports]
        self.replicants = [
            self.node(f"r{i}", extra=("-role", "replicant"), mqtt=True,
                      env={**self.base_env(), **self.seed_env})
            for i in range(1, replicants + 1)]
        everyone = self.cores + self.replicants
        self.wait_running(everyone)
        for n in everyone:
            self.wait_normal(n)
        return everyone

    def base_env(self):
        return dict(os.environ)

    def start_core(self, short):
        """Starts (or restarts) core `short` on its own data directory,
        which outlives the process."""
        if short not in self.data_dirs:
            self.data_dirs[short] = tempfile.mkdtemp(prefix=f"starling-{short}-")
            self.addCleanup(shutil.rmtree, self.data_dirs[short], True)
        return self.node(short, port=self.ports[short],
                         data_dir=self.data_dirs[short],
                         env={**self.base_env(), **self.seed_env})

    def wait_normal(self, node, shard_name=SHARD, timeout=20):
        return wait_until(
            lambda: (lambda s: s if s["state"] == "normal" else None)(
                shard(node, shard_name)),
            timeout, f"{node.name} {shard_name} in normal")

    def wait_converged(self, nodes, records, timeout=30):
        """Every node has the same seqno and checksum and `records` records."""
        seen = {}
        def same():
            states = [shard(n) for n in nodes]
            seen.update({n.name: (s["state"], s["seqno"], s["records"])
                         for n, s in zip(nodes, states)})
            views = {(s["seqno"], s["checksum"], s["records"]) for s in states}
            if len(views) == 1 and states[0]["records"] == records:
                return states[0]
            return None
        try:
            return wait_until(same, timeout, f"{[n.name for n in nodes]} to "
                                             f"converge on {records} records")
        except AssertionError as e:
            # (state, seqno, records) of each node at the last look, and
            # what the cores logged about the group, failover and healing.
            events = "\n".join(
                f"{n.name}: {l}" for n in self.cores for l in n.log_text().splitlines()
                if re.search(r"database group|sequencer on|branched|autoheal|discard|nodedown", l))
            raise AssertionError(f"{e}; nodes: {seen}; the cores' database events:\n"
                                 f"{events}") from None

    def load(self, node, count, prefix, concurrency=4):
        """Starts `db load` inside node; returns the running ctl process."""
        p = subprocess.Popen(
            [BIN, "ctl", "-node", node.target, "-cookie", node.cookie,
             "-timeout", "120", "db", "load", "kv", str(count), "--prefix",
             prefix, "--concurrency", str(concurrency)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # A failed test must not leave it running (stopped by its PID).
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        return p

    def finish(self, proc):
        out, err = proc.communicate(timeout=150)
        self.assertEqual(proc.returncode, 0, err)
        result = json.loads(out)
        self.assertEqual(result["errors"], 0, result)
        return result


class ReplicationTest(DbCluster):

    def test_writes_from_every_node_give_identical_contents(self):
        nodes = self.start_cluster()
        loads = [self.load(n, 300, f"{n.short}-") for n in nodes]
        for p in loads:
            self.finish(p)
        state = self.wait_converged(nodes, 5 * 300)
        # The database's actors are listed like every other actor.
        core_actors = self.cores[0].eval("actors()").stdout
        for name in ("db_manager", "shard_server:kv_shard", "merge_server",
                     "agent:kv_shard:"):
            self.assertIn(name, core_actors)
        self.assertIn("replica:kv_shard", self.replicants[0].eval("actors()").stdout)
        # remsh prints the same status as ctl.
        text = self.replicants[0].eval("rlog status").stdout
        self.assertRegex(text, r"kv_shard\s+normal\s+c\d@127.0.0.1\s+1500\s+0\s")
        # One history and one numbering on all five: 1500 transactions.
        self.assertEqual(state["seqno"], 1500)
        self.assertEqual(len({shard(n)["history"] for n in nodes}), 1)
        # A write forwarded by a replicant is readable on every node.
        self.assertOk(self.replicants[0].ctl("db", "put", "kv", "from-r1", "v1"),
                      "ok (seqno 1501)")
        for n in nodes:
            wait_until(lambda: n.ctl("db", "get", "kv", "from-r1").stdout.strip() == "v1"
                       or None, 10, f"{n.name} to read from-r1")

    def test_killed_upstream_under_load_resumes_on_another_core(self):
        nodes = self.start_cluster()
        r1 = self.replicants[0]
        before = shard(r1)
        upstream = before["upstream"]
        victim = next(c for c in self.cores if c.name == upstream)
        survivors = [n for n in nodes if n is not victim]
        # An MQTT client of the replicant must not notice the failover.
        sub = Client(r1.mqtt_port, client_id="watcher")
        self.addCleanup(sub.disconnect)
        sub.subscribe("alive/#", qos=1)
        writers = [n for n in survivors if n is not r1][:2] + [r1]
        loads = [self.load(n, 1500, f"{n.short}-") for n in writers]
        # Kill while the writes are flowing.
        wait_until(lambda: shard(r1)["seqno"] > 500 or None, 30, "writes to flow")
        victim.signal(signal.SIGKILL)
        for p in loads:
            self.finish(p)
        after = self.wait_normal(r1)
        self.assertNotEqual(after["upstream"], upstream)
        # Every write (unique keys) on every survivor, with one history:
        # same seqno and checksum everywhere.
        state = self.wait_converged(survivors, 3 * 1500)
        self.assertGreaterEqual(state["seqno"], 3 * 1500)
        after = shard(r1)
        # A resume, unless the dead sequencer had sent the replicant
        # transactions that no surviving core acknowledged (a replicant gets
        # them at commit, the cores' acknowledgements come later): then its
        # copy is ahead of or branched from every survivor's, and it must
        # bootstrap, as the core it subscribes to says.
        if after["bootstraps"] != before["bootstraps"]:
            ahead = [n.name for n in survivors if n is not r1
                     and re.search(rf"kv_shard: {re.escape(r1.name)} holds transactions after seqno",
                                   n.log_text())]
            self.assertTrue(ahead, "the replicant re-bootstrapped instead of resuming")
        else:
            self.assertGreater(after["resumes"], before["resumes"])
        self.assertTrue(sub.disconnects.empty(), "the MQTT client was dropped")
        sub.publish("alive/1", "still here", qos=1)
        self.assertEqual(sub.expect().payload, b"still here")

    def test_restarted_core_recovers_disc_tables_from_sqlite(self):
        nodes = self.start_cluster(cores=2, replicants=0)
        c1, c2 = self.cores
        self.finish(self.load(c1, 500, "x-"))
        self.wait_converged(nodes, 500)
        c2.signal(signal.SIGKILL)
        c2.proc.wait(10)
        self.finish(self.load(c1, 200, "y-"))  # written while c2 is down
        c2b = self.start_core("c2")
        c2b.wait_log(r"recovered shard kv_shard from .*: seqno 500, 500 records", 5)
        state = self.wait_converged([c1, c2b], 700)
        self.assertEqual(state["seqno"], 700)
        s = shard(c2b)
        self.assertEqual(s["bootstraps"], 0, "caught up by resuming, not bootstrap")
        self.assertGreaterEqual(s["resumes"], 1)

    def test_merge_records_are_local_writes_cleaned_when_the_owner_dies(self):
        nodes = self.start_cluster(cores=2, replicants=1)
        c1, c2 = self.cores
        r1 = self.replicants[0]
        for n in nodes:
            self.assertOk(n.ctl("db", "put", "routes", "t/#", n.short))
        want = sorted(f"{n.name}={n.short}" for n in nodes)
        for n in nodes:
            wait_until(lambda: sorted(n.ctl("db", "get", "routes", "t/#").stdout.split())
                       == want or None, 10, f"{n.name} to see every owner")
        r1.signal(signal.SIGKILL)
        gone = sorted(f"{n.name}={n.short}" for n in (c1, c2))
        for n in (c1, c2):
            wait_until(lambda: sorted(n.ctl("db", "get", "routes", "t/#").stdout.split())
                       == gone or None, 10, f"{n.name} to drop r1's record")

    def test_bad_requests_get_clear_errors(self):
        c1 = self.node("c1")
        self.assertFails(c1.ctl("db", "put", "nosuch", "k", "v"), "unknown table 'nosuch'")
        self.assertFails(c1.ctl("db", "get", "kv", "missing"), "no record for key 'missing'")
        self.assertFails(c1.ctl("db", "load", "kv", "many"), "COUNT must be a number", code=2)
        self.assertFails(c1.ctl("db", "load", "routes", "10"), "not a regular table")
        self.assertFails(c1.ctl("rlog", "stat"), "unknown command", code=2)
        r = self.node("r1", extra=("-role", "replicant"))
        self.assertFails(r.ctl("cluster", "join", c1.target), "refused on a replicant")
        # A replicant with no core forwards nothing and says so.
        self.assertFails(r.ctl("db", "put", "kv", "k", "v"), "no core is reachable")


class BackpressureTest(DbCluster):

    def test_a_replicant_too_far_behind_is_cut_and_catches_up(self):
        # A long tick so the frozen replicant is not declared down: its agent
        # must cut it for falling behind, not for dying.
        env = {**os.environ, "STARLING_RLOG__AGENT_QUEUE_LIMIT": "16"}
        core = self.node("c1", tick_ms=20000, env=env)
        r1 = self.node("r1", tick_ms=20000, extra=("-role", "replicant"),
                       env={**env, "STARLING_CLUSTER__STATIC__SEEDS": core.target})
        self.wait_normal(r1)
        r1.signal(signal.SIGSTOP)
        try:
            # 1000 in flight (the window) + 16 queued, then the cut.
            self.finish(self.load(core, 1500, "p-", concurrency=16))
            core.wait_log(r"cutting off r1@127.0.0.1 from shard kv_shard: 17 "
                          r"transactions queued \(rlog.agent_queue_limit\)", 10)
            agents = {a["node"]: a for a in shard(core)["agents"]}
            self.assertNotIn("r1@127.0.0.1", agents, "the agent was not stopped")
        finally:
            r1.signal(signal.SIGCONT)
        self.wait_converged([core, r1], 1500)
        r1.wait_log(r"cut off by c1@127.0.0.1", 5)


if __name__ == "__main__":
    import unittest
    unittest.main()
