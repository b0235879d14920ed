"""cluster leave and cluster force-leave remove the node everywhere."""

import unittest

from harness import ClusterTest, wait_until


class LeaveTest(ClusterTest):
    def test_leave_removes_the_node_everywhere(self):
        a, b, c = (self.node(f"core{i}") for i in (1, 2, 3))
        self.mesh(a, b, c)
        self.assertOk(c.ctl("cluster", "leave"), "left the cluster")
        # The leaver waits for every peer to confirm before it answers.
        self.assertEqual(a.nodes(), [b.name])
        self.assertEqual(b.nodes(), [a.name])
        self.assertEqual(c.nodes(), [])
        for n in (a, b):
            s = n.cluster_status()
            self.assertNotIn(c.name, [m["node"] for m in s["members"]])
        self.assertEqual(c.cluster_status()["running_nodes"], [c.name])
        # A node alone cannot leave.
        self.assertFails(c.ctl("cluster", "leave"), "not in a cluster", 1)
        # And it can come back.
        self.assertOk(c.join(b))
        wait_until(lambda: a.nodes() == [b.name, c.name] or None, 10, "rejoin")

    def test_force_leave_removes_a_live_node_everywhere(self):
        a, b, c = (self.node(f"core{i}") for i in (1, 2, 3))
        self.mesh(a, b, c)
        self.assertOk(a.ctl("cluster", "force-leave", b.name), "removed")
        self.assertEqual(a.nodes(), [c.name])
        wait_until(lambda: c.nodes() == [a.name] or None, 5, "core3 to drop core2")
        wait_until(lambda: b.nodes() == [] or None, 5, "core2 to be told")
        b.wait_log(r"removed from the cluster by core1@127.0.0.1", 5)

    def test_force_leave_of_a_dead_node_and_bad_targets(self):
        a, b = self.node("core1"), self.node("core2")
        self.mesh(a, b)
        b.stop()
        a.wait_log(rf"nodedown {b.name}", 5)
        self.assertEqual(a.cluster_status()["stopped_nodes"], [b.name])
        self.assertOk(a.ctl("cluster", "force-leave", b.name))
        self.assertEqual(a.cluster_status()["stopped_nodes"], [])
        self.assertFails(a.ctl("cluster", "force-leave", "ghost@127.0.0.1"),
                         "ghost@127.0.0.1 is not a member", 1)
        self.assertFails(a.ctl("cluster", "force-leave", a.name),
                         "use 'cluster leave'", 1)

    def test_an_old_removal_gives_way_to_an_operators_join(self):
        # core1 force-leaves core2, then leaves; core2 rejoins through
        # core3, and core1 joins core3's cluster again. core1 still holds
        # its old removal of core2: the join must take core2 in, not tell
        # it that it is out.
        a, b, c = (self.node(f"core{i}") for i in (1, 2, 3))
        self.mesh(a, b, c)
        self.assertOk(a.ctl("cluster", "force-leave", b.name), "removed")
        wait_until(lambda: b.nodes() == [] or None, 5, "core2 to be told")
        self.assertOk(a.ctl("cluster", "leave"), "left the cluster")
        self.assertOk(b.join(c))
        wait_until(lambda: c.nodes() == [b.name] or None, 10, "core2 back with core3")
        told = b.log_text().count("removed from the cluster by")
        self.assertOk(a.join(c))
        self.wait_running([a, b, c])
        self.assertEqual(b.log_text().count("removed from the cluster by"), told)
        self.assertNotIn(b.name, [r["node"] for r in a.cluster_status()["removed"]])


if __name__ == "__main__":
    unittest.main()
