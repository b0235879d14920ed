"""`starling bench` against a real node, and `tools/bench/compare --quick`
against Mosquitto and Starling: the load generator's accounting (counts,
loss, duplicates) and the comparison tool keep working."""

import json
import os
import re
import subprocess
import tempfile
import unittest

from harness import BIN, BenchProcess, MqttTest, free_port, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARE = os.path.join(ROOT, "tools", "bench", "compare")
CLUSTER_BENCH = os.path.join(ROOT, "tools", "bench", "cluster")
REPLICATION_BENCH = os.path.join(ROOT, "tools", "bench", "replication")
MOSQUITTO = "/usr/sbin/mosquitto"


def Bench(mode, port, *args):
    """`starling bench MODE -p PORT ARGS...` (harness.BenchProcess)."""
    return BenchProcess(mode, "-p", port, *args)


class BenchAgainstStarlingTest(MqttTest):
    def test_qos1_fan_in_and_out_counts_every_message_once(self):
        sub = Bench("sub", self.port, "-c", 3, "-t", "bt/+", "-q", 1,
                    "-L", 900, "--idle-exit", 3, "--duration", 30)
        sub.wait_ready()
        pub = Bench("pub", self.port, "-c", 2, "-t", "bt/%i", "-q", 1,
                    "-L", 300, "-r", 1000, "-s", 64, "--duration", 30)
        rc, p = pub.summary()
        self.assertEqual(rc, 0, p)
        self.assertEqual((p["sent"], p["acked"], p["connected"]), (300, 300, 2))
        rc, s = sub.summary()
        self.assertEqual(rc, 0, s)
        # Each of the 3 subscribers gets each of the 300 messages.
        self.assertEqual(s["received"], 900)
        self.assertEqual((s["lost"], s["duplicates"], s["out_of_order"]), (0, 0, 0))
        self.assertEqual(s["subscriptions"], 3)
        self.assertEqual(s["latency_us"]["count"], 900)
        self.assertGreater(s["latency_us"]["p99"], 0)
        self.assertLessEqual(s["latency_us"]["p50"], s["latency_us"]["max"])
        self.assertIsNone(s["error"])

    def test_paced_qos0_v5_loses_nothing(self):
        sub = Bench("sub", self.port, "-V", 5, "-t", "b0/#", "-L", 400,
                    "--idle-exit", 3, "--duration", 30)
        sub.wait_ready()
        pub = Bench("pub", self.port, "-V", 5, "-c", 4, "-t", "b0/%c",
                    "-I", 10, "-L", 400, "-s", 24, "--duration", 30)
        rc, p = pub.summary()
        self.assertEqual((rc, p["sent"]), (0, 400), p)
        rc, s = sub.summary()
        self.assertEqual((rc, s["received"], s["lost"], s["duplicates"]),
                         (0, 400, 0, 0), s)
        self.assertEqual(s["stopped_by"], "limit")

    def test_conn_mode_holds_connections_until_the_duration(self):
        c = Bench("conn", self.port, "-c", 50, "-R", 500, "--duration", 1.5)
        rc, s = c.summary()
        self.assertEqual((rc, s["connected"], s["ready"]), (0, 50, 50), s)
        self.assertEqual(s["stopped_by"], "duration")


class BenchErrorsTest(unittest.TestCase):
    def test_usage_errors_exit_2_with_a_reason(self):
        r = run([BIN, "bench", "pub", "-t", "a", "-s", "10"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("-s/--size 10 is too small", r.stderr)
        r = run([BIN, "bench", "flood"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown mode 'flood'", r.stderr)
        r = run([BIN, "bench", "sub", "-t", "a/%x"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown placeholder '%x'", r.stderr)

    def test_connection_refused_is_a_clear_failure(self):
        r = run([BIN, "bench", "conn", "-p", str(free_port()), "--duration", "5"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cannot connect: Connection refused", r.stderr)


@unittest.skipUnless(os.access(MOSQUITTO, os.X_OK), "mosquitto is not installed")
class CompareQuickTest(unittest.TestCase):
    def test_quick_run_has_figures_for_both_brokers(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "compare.json")
            r = subprocess.run([COMPARE, "--quick", "--json", out],
                               capture_output=True, text=True, timeout=120,
                               env={**os.environ, "STARLING_BIN": BIN})
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(out) as f:
                report = json.load(f)
        text = r.stdout
        for needle in ("== 1  QoS 0 flood", "delivered msg/s", "mosquitto",
                       "starling", "msgs per broker CPU-s",
                       "RSS per connection", "with/without",
                       "== 7  two Starling nodes"):
            self.assertIn(needle, text)
        by_id = {s["id"]: s for s in report["scenarios"]}
        # Scenario 7: the messages crossed from one node to the other.
        two = by_id["7"]["raw"]["two nodes"]
        self.assertNotIn("error", two)
        self.assertEqual(two["paced"]["received"], two["paced"]["latency_us"]["count"])
        self.assertGreater(two["flood"]["received"], 0)
        self.assertEqual(two["paced"]["lost"], 0)
        for sid in ("1", "2", "3", "4a", "4b", "6"):
            self.assertFalse(by_id[sid].get("errors"), by_id[sid])
            for broker in ("mosquitto", "starling"):
                raw = by_id[sid]["raw"][broker]
                if sid == "6":
                    raw = raw["after"]
                self.assertGreater(raw["sub"]["receive_rate"], 0, (sid, broker))
                self.assertGreater(raw["cpu"], 0, (sid, broker))
        for broker in ("mosquitto", "starling"):
            # QoS 1 and paced QoS 0 at a low rate: everything arrives once.
            for sid in ("2", "3"):
                raw = by_id[sid]["raw"][broker]
                self.assertEqual(raw["sub"]["received"], raw["pub"]["sent"],
                                 (sid, broker))
                self.assertEqual(raw["sub"]["duplicates"], 0, (sid, broker))
            paced = by_id["2"]["raw"][broker]["sub"]["latency_us"]
            self.assertGreater(paced["p99"], 0)
            self.assertLessEqual(paced["p50"], paced["p99"])
            idle = by_id["5-200"]["raw"][broker]
            self.assertEqual(idle["held"], 200, broker)
            self.assertGreater(idle["per_conn"], 0, broker)
        # Scenario 0: every pair of the generator and the independent
        # client delivered every message through each broker, and the
        # report says how the pairs agree (rates are not asserted: a test
        # of CI's machine load would be a timed assertion).
        gen = report["generator"]
        self.assertEqual(set(gen), {"mosquitto", "mosquitto, set_tcp_nodelay true",
                                    "starling"})
        for broker, figures in gen.items():
            for run in figures["runs"]:
                self.assertNotIn("error", run, broker)
                for pair, r in run.items():
                    self.assertEqual(r["received"], scenario_size("gen_n"),
                                     (broker, pair))
                # `starling bench sub` counts rawmqtt's payloads (no bench
                # stamp) as unstamped, not as lost.
                self.assertEqual(run["rawmqtt>bench"]["lost"], 0, broker)
            for pair in ("rawmqtt>rawmqtt", "bench>bench", "bench>rawmqtt",
                         "rawmqtt>bench"):
                self.assertGreater(figures[pair]["rate"], 0, (broker, pair))
        self.assertIn("rawmqtt > rawmqtt", text)
        # The generator reports its own load in every flood.
        flood = by_id["1"]["raw"]["starling"]
        for side in ("pub", "sub"):
            self.assertGreater(flood[side]["cpu_s"], 0, side)
            self.assertIn("saturated", flood[side])
        self.assertIn("generator busiest thread", text)


def scenario_size(key):
    import sys
    sys.path.insert(0, os.path.dirname(COMPARE))
    import scenarios
    return scenarios.QUICK[key]


class ClusterBenchQuickTest(unittest.TestCase):
    """The cluster and replication benchmarks' own scripts work (their
    figures are not asserted: a test of this machine's load would be a
    timed assertion)."""

    def test_cluster_quick_run_delivers_every_message_across_nodes(self):
        r = subprocess.run([CLUSTER_BENCH, "--quick", "--replicants", "0,1"],
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "STARLING_BIN": BIN})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        text = r.stdout
        self.assertIn("3 cores + 0 replicants, 200 clients per node (600 in all)", text)
        self.assertIn("3 cores + 1 replicants, 200 clients per node (800 in all)", text)
        # Every publisher's message acknowledged and delivered, in both runs.
        runs = re.findall(r"(\d+) QoS 1 messages acknowledged of (\d+), (\d+) delivered",
                          text)
        self.assertEqual(len(runs), 2, text)
        for acked, sent, delivered in runs:
            self.assertEqual(acked, sent, text)
            self.assertEqual(delivered, sent, text)
            self.assertGreater(int(sent), 0)
        self.assertIn("cores' idle CPU as replicants are added", text)

    def test_replication_quick_run_has_a_row_per_replicant_count(self):
        r = subprocess.run([REPLICATION_BENCH, "--quick", "--no-bootstrap",
                            "--replicants", "0,1"],
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "STARLING_BIN": BIN})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = [l.split() for l in r.stdout.splitlines() if l[:10].strip().isdigit()]
        self.assertEqual([(row[0], row[2]) for row in rows],
                         [("0", "1"), ("0", "16"), ("1", "1"), ("1", "16")], r.stdout)
        # The replicant follows the following core, not the sequencer.
        self.assertEqual([row[1] for row in rows], ["0", "0", "0", "0"], r.stdout)


if __name__ == "__main__":
    unittest.main()
