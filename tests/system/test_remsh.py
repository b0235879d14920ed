"""remsh: a hidden node with an actor-inspection shell."""

import os
import subprocess
import tempfile
import time
import unittest

from harness import BIN, ClusterTest, parse_list, wait_until


class RemshTest(ClusterTest):
    def test_attached_remsh_is_hidden(self):
        a, b = self.node("core1"), self.node("core2")
        self.mesh(a, b)
        t0 = time.monotonic()
        shell = subprocess.Popen(
            [BIN, "remsh", a.target, "-cookie", a.cookie],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env={**os.environ, "HOME": self.tmp_home()})
        try:
            _, line = a.wait_log(rf"hidden node remsh-{shell.pid}@127\.0\.0\.1 authenticated",
                                 10, after=t0)
            hidden_name = line.split("hidden node ")[1].split(" ")[0]
            # While attached: not in nodes() anywhere, listed in nodes(hidden).
            self.assertEqual(a.nodes(), [b.name])
            self.assertEqual(b.nodes(), [a.name])
            self.assertIn(hidden_name, a.nodes(hidden=True))
            self.assertNotIn(hidden_name, a.cluster_status()["running_nodes"])
            out, _ = shell.communicate("node()\nnodes()\nquit\n", timeout=15)
            self.assertIn(f"'{a.name}'", out)
            self.assertIn(f"['{b.name}']", out)
        finally:
            if shell.poll() is None:
                shell.kill()
                shell.wait()
        # Detached: gone from nodes(hidden) too.
        a.wait_log(rf"hidden node {hidden_name} disconnected", 10)
        self.assertNotIn(hidden_name, a.nodes(hidden=True))

    def tmp_home(self):
        return tempfile.mkdtemp(prefix="starling-home-")

    def test_actors_lists_every_actor_with_mailbox_and_state(self):
        a, b, c = (self.node(f"core{i}") for i in (1, 2, 3))
        self.mesh(a, b, c)
        r = self.assertOk(a.eval("actors()"))
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "NAME", "KIND", "MAILBOX", "STATE"])
        rows = {l.split()[1]: l.split() for l in lines[1:] if l[:1].isdigit()}
        for name, kind in (("node_agent", "node_agent"), ("gatekeeper", "gatekeeper"),
                           ("shell", "shell"),
                           (f"monitor:{b.name}", "node_monitor"),
                           (f"monitor:{c.name}", "node_monitor")):
            self.assertIn(name, rows, r.stdout)
            self.assertEqual(rows[name][2], kind)
            self.assertTrue(rows[name][3].isdigit(), rows[name])
        self.assertIn("2 peers up", r.stdout)
        agent_id = rows["node_agent"][0]
        for key in (agent_id, "node_agent"):
            d = self.assertOk(a.eval(f"actor {key}"))
            self.assertIn("kind:    node_agent", d.stdout)
            self.assertIn("mailbox: ", d.stdout)
        self.assertFails(a.eval("actor 999999"), "no actor with id or name", 1)

    def test_actor_ids_never_repeat(self):
        # The message channel runs its own actor system, which numbers its
        # actors from 1 like the main one: its ids carry the link's label.
        a, b = self.node("core1"), self.node("core2")
        self.mesh(a, b)
        r = self.assertOk(a.eval("actors()"))
        lines = r.stdout.splitlines()
        self.assertIn("starling actors", lines[-1])
        rows = [l.split() for l in lines[1:-1]]
        ids = [row[0] for row in rows]
        self.assertEqual(len(ids), len(set(ids)),
                         f"ids repeat: {sorted(i for i in ids if ids.count(i) > 1)}\n{r.stdout}")
        by_kind = {row[2]: row[0] for row in rows}
        for kind in ("data_inbox", "data_outbox", "gatekeeper", "node_agent"):
            self.assertIn(kind, by_kind, r.stdout)
        self.assertRegex(by_kind["data_inbox"], r"^d0:\d+$")
        self.assertRegex(by_kind["node_agent"], r"^\d+$")
        # `actor <ref>` finds exactly the listed actor, in either system,
        # also when the bare number is some main-system actor's id too.
        inbox = by_kind["data_inbox"]
        d = self.assertOk(a.eval(f"actor {inbox}"))
        self.assertIn(f"id:      {inbox}\n", d.stdout)
        self.assertIn("kind:    data_inbox", d.stdout)
        bare = inbox.split(":")[1]
        if bare in ids:
            d = self.assertOk(a.eval(f"actor {bare}"))
            self.assertNotIn("kind:    data_inbox", d.stdout)
        self.assertFails(a.eval("actor d9:1"), "no actor with id or name", 1)

    def test_members_help_and_bad_commands(self):
        a, b = self.node("core1"), self.node("core2")
        self.mesh(a, b)
        r = self.assertOk(a.eval("members()"))
        self.assertIn(a.name, r.stdout)
        self.assertIn(b.name, r.stdout)
        self.assertIn("up", r.stdout)
        h = self.assertOk(a.eval("help"))
        for cmd in ("node()", "nodes()", "actors()", "actor <id|name>", "members()"):
            self.assertIn(cmd, h.stdout)
        self.assertFails(a.eval("frobnicate()"), "unknown command 'frobnicate'", 1)
        self.assertFails(a.eval("nodes("), "missing ')'", 1)
        self.assertFails(a.eval("actor"), "usage: actor <id|name>", 1)
        self.assertFails(a.eval("nodes(everything)"), "nodes() takes", 1)
        self.assertEqual(parse_list(a.eval("nodes(visible)").stdout), [b.name])


if __name__ == "__main__":
    unittest.main()


class RemshTerminalTest(ClusterTest):
    """The interactive shell in a real terminal (tmux): line editing and
    history come from libedit."""

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True,
                              text=True, timeout=10)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "remsh").stdout

    def test_line_editing_and_history(self):
        a, b = self.node("core1"), self.node("core2")
        self.mesh(a, b)
        home = tempfile.mkdtemp(prefix="starling-home-")
        self.sock = f"starling-test-{os.getpid()}"
        cmd = f"HOME={home} {BIN} remsh {a.target} -cookie {a.cookie}"
        self.assertEqual(self.tmux("new-session", "-d", "-s", "remsh", "-x", "150",
                                   "-y", "40", cmd).returncode, 0)
        try:
            wait_until(lambda: "(core1@127.0.0.1)1>" in self.screen(), 10, "prompt")
            # Type with a typo, fix it with Left/BackSpace editing, then run.
            self.tmux("send-keys", "-t", "remsh", "nodes(x", "BSpace", ")", "Left",
                      "Left", "BSpace", "Right", "Right", "Enter")
            # "nodes(x" -> BSpace -> "nodes(" + ")" = "nodes()"; two Lefts put the
            # cursor before "()", BSpace deletes "s": "node()", Rights to the end.
            wait_until(lambda: f"'{a.name}'" in self.screen(), 10, "node() output")
            # History: Up recalls the last line.
            self.tmux("send-keys", "-t", "remsh", "Up", "Enter")
            wait_until(lambda: self.screen().count(f"'{a.name}'") >= 2, 10,
                       "recalled command output")
            self.tmux("send-keys", "-t", "remsh", "nodes()", "Enter")
            wait_until(lambda: f"['{b.name}']" in self.screen(), 10, "nodes() output")
            self.tmux("send-keys", "-t", "remsh", "quit", "Enter")
            hist = os.path.join(home, ".starling_remsh_history")
            def history():
                if not os.path.exists(hist):
                    return ""
                with open(hist) as f:
                    return f.read()
            wait_until(lambda: "nodes()" in history(), 10, "history file")
        finally:
            self.tmux("kill-server")
