"""A replicant that restarts has nothing on disk: it bootstraps the whole
shard (100k records here) in batches and ends with the core's contents."""

import json
import os
import signal

from harness import ClusterTest, wait_until
from harness import shard


class BootstrapTest(ClusterTest):

    def test_restarted_replicant_bootstraps_100k_records(self):
        core = self.node("c1")
        seeds = {"STARLING_CLUSTER__STATIC__SEEDS": core.target}
        env = {**os.environ, **seeds}
        r1 = self.node("r1", extra=("-role", "replicant"), env=env)
        r = core.ctl("db", "load", "kv", "100000", "--concurrency", "64",
                     timeout_s=300)
        self.assertOk(r)
        self.assertEqual(json.loads(r.stdout)["errors"], 0)
        r1.signal(signal.SIGKILL)
        r1.proc.wait(10)
        r1b = self.node("r1", port=r1.port, extra=("-role", "replicant"), env=env)
        mine = shard(core)
        theirs = wait_until(
            lambda: (lambda s: s if s["state"] == "normal"
                     and s["seqno"] == mine["seqno"] else None)(shard(r1b)),
            120, "the replicant to finish its bootstrap")
        self.assertEqual(theirs["records"], 100000)
        self.assertEqual(theirs["bootstrap_records"], 100000)
        self.assertEqual((theirs["seqno"], theirs["checksum"]),
                         (mine["seqno"], mine["checksum"]))
        self.assertEqual(theirs["bootstraps"], 1)
        print(f"\nbootstrap of 100000 records: {theirs['bootstrap_ms']} ms")


if __name__ == "__main__":
    import unittest
    unittest.main()
