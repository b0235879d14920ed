"""The cookie handshake: wrong cookies are refused, logged and disconnected;
a raw BASP peer that skips the handshake reaches nothing."""

import json
import unittest

import subprocess

from harness import PROBE, ClusterTest, run, wait_until


def established(pid, port):
    """Whether process `pid` has an established TCP connection to `port`."""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          f"( dport = :{port} )"], capture_output=True,
                         text=True).stdout
    return f"pid={pid}," in out


class AuthTest(ClusterTest):
    def test_wrong_cookie_join_is_refused_and_logged(self):
        a, b = self.node("core1"), self.node("core2")
        self.mesh(a, b)
        intruder = self.node("core3", cookie="not-the-cookie")
        r = intruder.join(a)
        self.assertFails(r, "does not match the cookie of core1@127.0.0.1", 1)
        self.assertIn("cannot join core1@127.0.0.1", r.stderr)
        # Logged on the refusing node with the peer's address.
        _, line = a.wait_log(r"refused distribution connection from 127\.0\.0\.1:\d+", 5)
        self.assertIn("core3@127.0.0.1", line)
        # The refusing node closed the intruder's distribution connection.
        wait_until(lambda: not established(intruder.proc.pid, a.port) or None, 5,
                   "the intruder's connection to be closed")
        # Nobody lists the intruder, and it lists nobody.
        self.assertEqual(a.nodes(), [b.name])
        self.assertEqual(b.nodes(), [a.name])
        self.assertEqual(intruder.nodes(), [])
        self.assertNotIn(intruder.name, a.cluster_status()["running_nodes"])

    def test_ctl_with_wrong_cookie_fails_clearly(self):
        a = self.node("core1")
        r = a.ctl("status", cookie="wrong")
        self.assertFails(r, "does not match the cookie of core1@127.0.0.1", 1)
        r = a.eval("nodes()", cookie="wrong")
        self.assertFails(r, "cannot attach to core1@127.0.0.1", 1)
        a.wait_log(r"refused distribution connection from 127\.0\.0\.1:\d+: .*cookie of ctl-", 5)

    def test_a_peer_that_skips_the_handshake_reaches_nothing(self):
        a, b = self.node("core1"), self.node("core2")
        # A mesh and an attached operator put the agent and shell handles on
        # the wire, so CAF has them in its registry: the worst case.
        self.mesh(a, b)
        self.assertOk(a.eval("actors()"))
        r = run([PROBE, "127.0.0.1", str(a.port), "120"], timeout=60)
        self.assertIn(r.returncode, (0, 3), r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["reached"], [], report)
        self.assertFalse(any(report["named_lookups"].values()), report)
        # The probe did hit our actors and was refused, so this test can fail.
        self.assertGreaterEqual(report["refused"], 6, report)
        self.assertEqual(r.returncode, 0)
        # The cluster is unaffected.
        self.assertEqual(a.nodes(), [b.name])


if __name__ == "__main__":
    unittest.main()
