"""Bad input to the node and to ctl: clear errors, non-zero exits, no hangs."""

import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, COOKIE, ClusterTest, free_port, run


class NodeStartupTest(ClusterTest):
    def start_fails(self, args, expect, env=None):
        r = run([BIN, *args], timeout=15, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(expect, r.stderr)

    def test_bad_values_are_rejected_naming_the_key(self):
        self.start_fails(["-name", "foo"], "invalid value for node.name: 'foo'")
        self.start_fails(["-name", "a@b@c"], "more than one '@'")
        self.start_fails(["-role", "boss"], "invalid value for node.role: 'boss'")
        self.start_fails(["-dist_port", "99999"], "node.dist_port")
        self.start_fails(["-tick_ms", "5"], "node.tick_ms")
        self.start_fails(["-frobnicate"], "unrecognised option")
        env = {**os.environ, "STARLING_NODE__ROLE": "leader"}
        self.start_fails([], "node.role: 'leader' (from environment variable STARLING_NODE__ROLE)", env)
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("[node]\ntick_ms = soon\n")
        try:
            self.start_fails(["-config", f.name], f"node.tick_ms: 'soon' (from config file {f.name})")
        finally:
            os.unlink(f.name)
        self.start_fails(["-config", "/nonexistent.conf"], "cannot read config file")

    def test_config_file_and_environment_are_applied(self):
        port = free_port()
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(f"[node]\nname = filenode@127.0.0.1\ndist_port = {port}\n"
                    "cookie = fromfile\n")
        try:
            env = {**os.environ, "STARLING_NODE__COOKIE": "fromenv"}
            p = subprocess.Popen([BIN, "-config", f.name], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            try:
                for _ in range(10):  # start-up lines before it, if any
                    line = p.stderr.readline()
                    if not line or "node started" in line:
                        break
                self.assertIn("node started", line)
                target = f"filenode@127.0.0.1:{port}"
                r = run([BIN, "ctl", "-node", target, "-cookie", "fromenv", "status"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("Node 'filenode@127.0.0.1'", r.stdout)
                r = run([BIN, "ctl", "-node", target, "-cookie", "fromfile", "status"])
                self.assertEqual(r.returncode, 1)
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
                p.stderr.close()
        finally:
            os.unlink(f.name)

    def test_default_cookie_warns(self):
        n = self.node("core1", cookie="starlingsecretcookie")
        # An explicit cookie equal to the default is not "the default"; the
        # warning is for a node started with no cookie at all.
        self.assertNotIn("default cookie", n.log_text())
        port = free_port()
        p = subprocess.Popen([BIN, "-name", "lonely@127.0.0.1", "-dist_port", str(port)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True,
                             env={**{k: v for k, v in os.environ.items()
                                     if k != "STARLING_NODE__COOKIE"},
                                  "STARLING_NODE__DATA_DIR": os.environ["STARLING_NODE__DATA_DIR"]})
        try:
            self.assertIn("using the built-in default cookie", p.stderr.readline())
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
            p.stderr.close()

    def test_port_in_use_is_a_clear_error(self):
        a = self.node("core1")
        r = run([BIN, "-name", "core1b@127.0.0.1", "-dist_port", str(a.port),
                 "-cookie", "x"], timeout=15)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot listen on distribution port {a.port}", r.stderr)

    def test_message_port_in_use_is_a_clear_error(self):
        # The start fails after the actors are spawned. An actor whose
        # start-up ran only after the node had cleared its shards used to
        # throw ("unhandled exception"): one start in four by hand with the
        # default config, rarer here, so a few starts are tried.
        a = self.node("core1")
        env = {**os.environ, "STARLING_NODE__DATA_PORT": str(a.data_port),
               "STARLING_DASHBOARD__LISTENER__HTTP": f"127.0.0.1:{free_port()}"}
        for _ in range(8):
            r = run([BIN, "-name", "core1c@127.0.0.1", "-dist_port", str(free_port()),
                     "-cookie", "x"], timeout=15, env=env)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(f"cannot listen on the message delivery port {a.data_port}",
                          r.stderr)
            self.assertNotIn("unhandled exception", r.stderr)

    def test_a_second_node_on_the_same_data_file_is_refused(self):
        # The same name on the same data dir (a node started twice): its
        # SQLite file is held by the running node, so the second start stops
        # with the reason, and the running node keeps its data.
        a = self.node("core1")
        self.assertEqual(a.ctl("db", "put", "kv", "k", "v").returncode, 0)
        env = {**os.environ, "STARLING_NODE__DATA_DIR": a.data_dir,
               "STARLING_NODE__DATA_PORT": str(free_port())}
        r = run([BIN, "-name", a.name, "-dist_port", str(free_port()), "-cookie", "x"],
                timeout=15, env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"cannot open database '{a.data_dir}/{a.name}.sqlite': database is "
                      "locked: another process has it open", r.stderr)
        got = a.ctl("db", "get", "kv", "k")
        self.assertEqual((got.returncode, got.stdout.strip()), (0, "v"), got.stderr)

    def test_derived_port_needs_no_flags(self):
        port = free_port()
        short = f"n{port - 4370}"  # derives exactly that free port
        p = subprocess.Popen([BIN, "-name", f"{short}@127.0.0.1", "-cookie", "c"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            line = p.stderr.readline()
            self.assertIn(f"distribution port {port}", line)
            r = run([BIN, "ctl", "-node", f"{short}@127.0.0.1", "-cookie", "c", "status"])
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
            p.stderr.close()

    def test_cpu_policy_applies_to_every_thread(self):
        def policies(n):
            return {os.sched_getscheduler(int(t))
                    for t in os.listdir(f"/proc/{n.proc.pid}/task")}
        n = self.node("core1")
        self.assertEqual(policies(n), {os.SCHED_BATCH})
        m = self.node("core2", env={**os.environ, "STARLING_NODE__CPU_POLICY": "normal"})
        self.assertEqual(policies(m), {os.SCHED_OTHER})
        # normal also undoes a policy the node inherited.
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        try:
            o = self.node("core3", env={**os.environ, "STARLING_NODE__CPU_POLICY": "normal"})
        finally:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        self.assertEqual(policies(o), {os.SCHED_OTHER})
        self.start_fails(["-name", "core4@127.0.0.1"], "node.cpu_policy: 'fifo'",
                         {**os.environ, "STARLING_NODE__CPU_POLICY": "fifo"})

    def test_max_throughput_is_checked(self):
        self.start_fails(["-name", "core4@127.0.0.1"], "node.max_throughput: '0'",
                         {**os.environ, "STARLING_NODE__MAX_THROUGHPUT": "0"})
        n = self.node("core1", env={**os.environ, "STARLING_NODE__MAX_THROUGHPUT": "1"})
        self.assertOk(n.ctl("status"))

    def test_sigterm_stops_the_node(self):
        n = self.node("core1")
        n.signal(signal.SIGTERM)
        self.assertEqual(n.proc.wait(10), 0)
        n.wait_log("stopping on SIGTERM", 5)


class VersionTest(ClusterTest):
    def test_version_in_three_spellings_and_in_the_start_line(self):
        lines = set()
        for spelling in ("version", "-version", "--version"):
            r = run([BIN, spelling])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^starling \d+\.\d+\.\d+ \(git ([0-9a-f]{7,}|unknown)\)\n$")
            lines.add(r.stdout.strip())
        self.assertEqual(len(lines), 1, lines)
        release, commit = re.match(r"starling (\S+) \(git (\S+)\)", lines.pop()).groups()
        n = self.node("core1")
        n.wait_log(rf"node started: .*version {re.escape(release)} \(git {commit}\)", 5)
        # Only alone: `starling -cookie x --version` is not a version request.
        self.assertEqual(run([BIN, "-cookie", "x", "--version"]).returncode, 2)


class StartLineTest(ClusterTest):
    def test_start_line_names_the_data_dir(self):
        core = self.node("core1")
        core.wait_log(rf"node started: .*, data dir {re.escape(core.data_dir)}, ", 5)
        repl = self.node("repl1", extra=["-role", "replicant"])
        # A replicant keeps its membership there (no disc tables).
        repl.wait_log(rf"node started: .*, data dir {re.escape(repl.data_dir)}, ", 5)


class CookieFileTest(ClusterTest):
    """node.cookie_file for the node; ctl and remsh read the same file when
    no cookie is given (/etc/starling/cookie unless STARLING_NODE__COOKIE_FILE
    names another)."""

    def setUp(self):
        super().setUp()
        fd, self.path = tempfile.mkstemp(prefix="starling-cookie-")
        os.write(fd, b"fr0m-a-file\n")
        os.close(fd)
        os.chmod(self.path, 0o400)
        self.addCleanup(os.unlink, self.path)
        self.env = {k: v for k, v in os.environ.items() if k != "STARLING_NODE__COOKIE"}
        self.env["STARLING_NODE__COOKIE_FILE"] = self.path

    def test_node_ctl_and_remsh_read_the_cookie_file(self):
        n = self.node("core1", cookie=None, env=self.env)
        self.assertNotIn("default cookie", n.log_text())
        n.cookie = None  # ctl and remsh get none on the command line either
        self.assertOk(n.ctl("status", env=self.env), "Node 'core1@127.0.0.1'")
        self.assertOk(n.eval("node()", env=self.env), "'core1@127.0.0.1'")
        # The file's text is the cookie: given explicitly, it works too.
        self.assertOk(n.ctl("status", cookie="fr0m-a-file"))
        # A cookie file that is not there: said, then the built-in default,
        # which this node refuses.
        env = {**self.env, "STARLING_NODE__COOKIE_FILE": "/nonexistent/cookie"}
        r = n.ctl("status", env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("warning: cannot read cookie file '/nonexistent/cookie'", r.stderr)
        self.assertIn("using the built-in default cookie", r.stderr)
        self.assertIn("refused", r.stderr)
        # STARLING_NODE__COOKIE still wins over the file, for ctl as for the node.
        r = n.ctl("status", env={**self.env, "STARLING_NODE__COOKIE": "other"})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("warning", r.stderr)

    def test_a_missing_cookie_file_stops_the_node(self):
        env = {**self.env, "STARLING_NODE__COOKIE_FILE": "/nonexistent/cookie"}
        r = run([BIN, "-name", "nocookie@127.0.0.1", "-dist_port", str(free_port())],
                timeout=15, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("invalid value for node.cookie_file: '/nonexistent/cookie'", r.stderr)
        self.assertIn("No such file or directory", r.stderr)


class CtlErrorTest(ClusterTest):
    def ctl(self, *args, timeout=20):
        return run([BIN, "ctl", *args], timeout=timeout)

    def test_unknown_command_prints_usage(self):
        r = self.ctl("-cookie", "x", "frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", r.stderr)
        self.assertIn("usage: starling ctl", r.stderr)
        r = self.ctl("-cookie", "x", "cluster", "join")
        self.assertEqual(r.returncode, 2)
        r = self.ctl("-cookie", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no command given", r.stderr)

    def test_malformed_node_names(self):
        for bad, why in (("foo", "expected name@host"), ("a@b@c", "more than one '@'")):
            r = self.ctl("-node", bad, "-cookie", "x", "status")
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(why, r.stderr)
        a = self.node("core1")
        r = a.ctl("cluster", "join", "a@b@c")
        self.assertEqual(r.returncode, 1)
        self.assertIn("more than one '@'", r.stderr)

    def test_unreachable_node_fails_fast(self):
        port = free_port()  # nothing listens here
        t0 = time.monotonic()
        r = self.ctl("-node", f"ghost@127.0.0.1:{port}", "-cookie", "x", "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot reach 127.0.0.1:{port}", r.stderr)
        self.assertLess(time.monotonic() - t0, 10)
        r = run([BIN, "remsh", f"ghost@127.0.0.1:{port}", "-cookie", "x", "-eval", "nodes()"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot attach to ghost@127.0.0.1", r.stderr)

    def test_wait_covers_a_node_that_is_still_starting(self):
        port = free_port()
        # ctl first, the node after: ctl keeps trying until the node is up.
        ctl = subprocess.Popen([BIN, "ctl", "-node", f"late@127.0.0.1:{port}",
                                "-cookie", COOKIE, "-wait", "20", "status"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            self.node("late", port=port)
            out, err = ctl.communicate(timeout=30)
        finally:
            if ctl.poll() is None:
                ctl.kill()
                ctl.communicate()
        self.assertEqual(ctl.returncode, 0, err)
        self.assertIn("Node 'late@127.0.0.1'", out)

    def test_wait_is_bounded(self):
        port = free_port()  # nothing listens here
        t0 = time.monotonic()
        r = self.ctl("-node", f"ghost@127.0.0.1:{port}", "-cookie", "x", "-wait", "1.5",
                     "status")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"cannot reach 127.0.0.1:{port}", r.stderr)
        self.assertIn("(waited 1500 ms)", r.stderr)
        self.assertGreater(elapsed, 1.2)
        self.assertLess(elapsed, 8)
        r = run([BIN, "remsh", f"ghost@127.0.0.1:{port}", "-cookie", "x", "-wait", "1",
                 "-eval", "node()"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("(waited 1 s)", r.stderr)
        r = self.ctl("-cookie", "x", "-wait", "soon", "status")
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid -wait 'soon'", r.stderr)

    def test_a_silent_port_is_bounded_by_the_timeout(self):
        # A listener that accepts but never speaks BASP: ctl must give up.
        import socket
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        try:
            t0 = time.monotonic()
            r = self.ctl("-node", f"mute@127.0.0.1:{port}", "-cookie", "x",
                         "-timeout", "2", "status")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertLess(time.monotonic() - t0, 8)
            self.assertIn("error:", r.stderr)
        finally:
            srv.close()

    def test_wrong_node_at_that_port(self):
        a = self.node("core1")
        r = self.ctl("-node", f"core7@127.0.0.1:{a.port}", "-cookie", a.cookie, "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("but found core1@127.0.0.1", r.stderr)


if __name__ == "__main__":
    unittest.main()
