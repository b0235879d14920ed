"""nodedown detection: kill -9 within 1 s, SIGSTOP within 2 x tick; a
restarted node can join again, a thawed one rejoins by itself."""

import signal
import time
import unittest

from harness import ClusterTest, wait_until

TICK_MS = 1000


class FailureDetectionTest(ClusterTest):
    def three(self):
        nodes = [self.node(f"core{i}", tick_ms=TICK_MS) for i in (1, 2, 3)]
        self.mesh(*nodes)
        return nodes

    def test_kill_9_is_seen_within_one_second(self):
        a, b, c = self.three()
        t0 = time.monotonic()
        c.signal(signal.SIGKILL)
        for n in (a, b):
            t, _ = n.wait_log(rf"nodedown {c.name}", 5, after=t0)
            print(f"kill -9: {n.name} saw nodedown after {(t - t0) * 1000:.0f} ms")
            self.assertLess(t - t0, 1.0)
        for n in (a, b):
            s = n.cluster_status()
            self.assertEqual(s["stopped_nodes"], [c.name])
            self.assertNotIn(c.name, n.nodes())
        # Restarted, it can join again and the mesh is whole.
        c2 = self.node("core3", tick_ms=TICK_MS, port=c.port)
        self.assertOk(c2.join(a))
        for n, want in ((a, [b.name, c.name]), (b, [a.name, c.name]),
                        (c2, [a.name, b.name])):
            wait_until(lambda: n.nodes() == want or None, 10, f"{n.name} mesh")
        self.assertEqual(a.cluster_status()["stopped_nodes"], [])

    def test_sigstop_is_seen_within_two_ticks(self):
        a, b, c = self.three()
        t0 = time.monotonic()
        c.signal(signal.SIGSTOP)
        for n in (a, b):
            t, _ = n.wait_log(rf"nodedown {c.name}", 2 * TICK_MS / 1000 + 2, after=t0)
            print(f"SIGSTOP: {n.name} saw nodedown after {(t - t0) * 1000:.0f} ms")
            self.assertLess(t - t0, 2 * TICK_MS / 1000)
        thawed = time.monotonic()
        c.signal(signal.SIGCONT)
        # After thawing it finds its links closed and sees the others down;
        # the members dial each other again, and the mesh is whole with no
        # cluster join.
        c.wait_log(rf"nodedown ({a.name}|{b.name})", 5, after=t0)
        for n, want in ((a, [b.name, c.name]), (b, [a.name, c.name]),
                        (c, [a.name, b.name])):
            wait_until(lambda: n.nodes() == want or None, 15, f"{n.name} mesh")
        print(f"SIGCONT: the mesh was whole again after "
              f"{time.monotonic() - thawed:.1f} s")


if __name__ == "__main__":
    unittest.main()
