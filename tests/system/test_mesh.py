"""Three nodes joined through one seed form a full mesh."""

import unittest

from harness import ClusterTest, wait_until


class MeshTest(ClusterTest):
    def test_three_nodes_joined_through_one_seed_form_a_full_mesh(self):
        a, b, c = self.node("core1"), self.node("core2"), self.node("core3")
        self.assertOk(b.join(a), "joined the cluster of core1@127.0.0.1")
        self.assertOk(c.join(a), "joined the cluster of core1@127.0.0.1")
        names = sorted(n.name for n in (a, b, c))
        for n in (a, b, c):
            want = [x for x in names if x != n.name]
            # core2 learns of core3 through core1's member_up: await it.
            wait_until(lambda: n.nodes() == want or None, 10,
                       f"nodes() on {n.name}")
        statuses = [n.cluster_status() for n in (a, b, c)]
        for s in statuses:
            self.assertEqual(s["running_nodes"], names)
            self.assertEqual(s["stopped_nodes"], [])
            self.assertEqual(sorted(m["node"] for m in s["members"]), names)
            self.assertTrue(all(m["status"] == "up" for m in s["members"]))
        # Every node agrees on who the oldest core is.
        oldest = {next(m["node"] for m in s["members"] if m["oldest_core"])
                  for s in statuses}
        self.assertEqual(len(oldest), 1)
        self.assertEqual(oldest, {a.name})

    def test_a_later_joiner_through_any_member_reaches_everyone(self):
        a, b, c, d = (self.node(f"core{i}") for i in range(1, 5))
        self.mesh(a, b, c)
        self.assertOk(d.join(c))
        names = sorted(n.name for n in (a, b, c, d))
        for n in (a, b, c, d):
            want = [x for x in names if x != n.name]
            wait_until(lambda: n.nodes() == want or None, 10,
                       f"nodes() on {n.name}")

    def test_join_refusals_are_clear(self):
        a, b = self.node("core1"), self.node("core2")
        self.assertFails(a.ctl("cluster", "join", a.target), "cannot join itself", 1)
        self.mesh(a, b)
        self.assertFails(b.join(a), "already in a cluster with core1@127.0.0.1", 1)
        r = b.ctl("cluster", "join", "nobody@127.0.0.1:1")
        self.assertFails(r, "cannot join nobody@127.0.0.1", 1)
        # The failed attempt did not break the existing cluster.
        self.assertEqual(a.nodes(), [b.name])

    def test_joining_another_cluster_leaves_the_old_one(self):
        a, b, c = self.node("core1"), self.node("core2"), self.node("core3")
        self.mesh(a, b)
        self.assertOk(b.join(c))
        wait_until(lambda: a.nodes() == [] or None, 10, "core1 to lose core2")
        self.assertEqual(b.nodes(), [c.name])
        self.assertEqual(a.cluster_status()["stopped_nodes"], [])


if __name__ == "__main__":
    unittest.main()
