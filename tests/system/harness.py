"""Starts real starling nodes on 127.0.0.1 and talks to them through the
real CLI (ctl, remsh). Every process is started here, tracked by PID and
stopped by PID. Waiting is on events (a log line, a condition becoming true)
with a deadline, never a fixed sleep."""

import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from mqtt_client import Client

BIN = os.environ.get("STARLING_BIN", "starling")
# Every node a test starts gets an ephemeral MQTT port unless the test picks
# one, so nodes never collide on the default 1883 (or with a broker the
# developer runs).
os.environ.setdefault("STARLING_MQTT__LISTENER__TCP", "127.0.0.1:0")
# The management HTTP listener (default 18083) is off unless a test asks
# for it (Node(http=True) picks a free port), so nodes never collide on it.
os.environ.setdefault("STARLING_DASHBOARD__LISTENER__HTTP", "0")
# Nodes started without the Node class (some CLI tests) keep their SQLite
# files here instead of ./data; removed when the test process ends.
_SESSION_DATA = tempfile.mkdtemp(prefix="starling-tests-")
atexit.register(shutil.rmtree, _SESSION_DATA, True)
os.environ.setdefault("STARLING_NODE__DATA_DIR", _SESSION_DATA)
PROBE = os.environ.get("STARLING_PROBE", "starling-basp-probe")
COOKIE = "s3cret"


def parse_routes(text):
    """{(topic filter, node)} from the table remsh routes() prints."""
    rows = set()
    for line in text.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 3 and parts[0] != "TOPIC FILTER":
            rows.add((parts[0], parts[1]))
    return rows


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_GIVEN = set()


def free_port():
    """A port free now and outside the kernel's ephemeral range: a port
    from that range (bind to 0) can be taken by any outgoing connection,
    the nodes' own among them, before the node binds it (seen once in CI:
    "cannot listen for MQTT"). Never the same port twice in one process."""
    lo, _ = _ephemeral_range()
    first = 10000 if lo > 12000 else 1024
    for _ in range(1000):
        port = random.randrange(first, lo)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port in {first}..{lo - 1}")


def wait_until(predicate, timeout, what):
    """Re-evaluates predicate until it returns a truthy value or the deadline
    passes; returns that value or fails with `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def run(args, timeout=20, env=None):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def http_request(port, method, path, body=None, token=None, basic=None,
                 raw=None, timeout=15):
    import base64
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{basic[0]}:{basic[1]}".encode()).decode()
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        text = r.read().decode()
        ctype = r.getheader("Content-Type", "")
        value = json.loads(text) if text and ctype.startswith("application/json") else text
        return r.status, value, dict(r.getheaders())
    finally:
        conn.close()


def parse_list(text):
    """Parses the shell's Erlang-style list: ['a@h', 'b@h']."""
    return re.findall(r"'([^']*)'", text)


def rlog(node):
    """`ctl rlog status --json` of `node`, parsed."""
    r = node.ctl("rlog", "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def shard(node, name="kv_shard"):
    """One shard's entry of rlog(node)."""
    for s in rlog(node)["shards"]:
        if s["shard"] == name:
            return s
    raise AssertionError(f"{node.name} has no shard {name}")


class Node:
    def __init__(self, short, cookie=COOKIE, tick_ms=1000, port=None,
                 extra=(), env=None, wait=True, mqtt=False, mqtt_env=None,
                 data_dir=None, host=None, name_host=None, client_env=None,
                 http=False):
        """`host`: a netns.Host to run in (its own network namespace and
        address); the node's ctl and remsh calls run there too. `name_host`:
        the host part of its name, when not its address (a DNS name).
        `client_env`: the environment of this node's ctl and remsh calls
        (e.g. the TLS files of a node with node.dist_tls)."""
        self.client_env = client_env
        self.short = short
        self.host = host
        self.prefix = host.prefix() if host else []
        ip = name_host or (host.ip if host else "127.0.0.1")
        # Each node keeps its SQLite file in its own directory, removed at
        # stop, unless the test passes one (to restart a node on its data).
        self.own_data_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix=f"starling-{short}-")
        # The message delivery port is the distribution port + 1000 by
        # default: a free one is picked so parallel runs never collide.
        self.data_port = free_port()
        env = {"STARLING_NODE__DATA_PORT": str(self.data_port),
               **(env or os.environ), "STARLING_NODE__DATA_DIR": self.data_dir}
        self.name = f"{short}@{ip}"
        self.port = port or free_port()
        self.target = f"{self.name}:{self.port}"
        self.cookie = cookie
        self.tick_ms = tick_ms
        self.lines = []
        self.cv = threading.Condition()
        self.mqtt_port = None
        if mqtt:
            self.mqtt_port = free_port()
            env = {**(env or os.environ),
                   "STARLING_MQTT__LISTENER__TCP": f"127.0.0.1:{self.mqtt_port}",
                   **(mqtt_env or {})}
        self.http_port = None
        if http:
            self.http_port = free_port()
            env = {**(env or os.environ),
                   "STARLING_DASHBOARD__LISTENER__HTTP": f"127.0.0.1:{self.http_port}"}
        # cookie=None: none on the command line (node.cookie_file, env).
        args = [*self.prefix, BIN, "-name", self.name, *self._cookie_args(cookie),
                "-dist_port", str(self.port), "-tick_ms", str(tick_ms), *extra]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True,
                                     errors="backslashreplace", env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if wait:
            self.wait_log(r"node started", 15)

    def _read(self):
        for line in self.proc.stderr:
            with self.cv:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def log_text(self):
        with self.cv:
            return "\n".join(l for _, l in self.lines)

    def log_tail(self, n):
        with self.cv:
            return "\n".join(l for _, l in self.lines[-n:])

    def wait_log(self, pattern, timeout, after=0.0):
        """Waits for a log line matching pattern that arrived after the
        monotonic time `after`; returns (arrival time, line)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, line in self.lines:
                    if t >= after and rx.search(line):
                        return t, line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(
                        f"{self.name}: no log line /{pattern}/ within {timeout}s:\n"
                        + "\n".join(l for _, l in self.lines[-30:]))
                self.cv.wait(min(left, 0.2))

    @staticmethod
    def _cookie_args(cookie):
        return ["-cookie", cookie] if cookie is not None else []

    def api(self, method, path, body=None, token=None, basic=None, raw=None,
            timeout=15):
        """One request to this node's HTTP API: (status, parsed JSON or
        text, headers). `token`: a login token; `basic`: (key, secret)."""
        return http_request(self.http_port, method, path, body, token, basic,
                            raw, timeout)

    def ctl(self, *args, cookie=None, timeout_s=10, env=None):
        cmd = [*self.prefix, BIN, "ctl", "-node", self.target,
               *self._cookie_args(cookie or self.cookie),
               "-timeout", str(timeout_s), *args]
        return run(cmd, timeout=timeout_s + 10, env=env or self.client_env)

    def eval(self, command, cookie=None, env=None):
        return run([*self.prefix, BIN, "remsh", self.target,
                    *self._cookie_args(cookie or self.cookie), "-eval", command],
                   env=env or self.client_env)

    def nodes(self, hidden=False):
        r = self.eval("nodes(hidden)" if hidden else "nodes()")
        assert r.returncode == 0, r.stderr
        return sorted(parse_list(r.stdout))

    def routes(self):
        """The cluster's route table as this node sees it."""
        r = self.eval("routes()")
        assert r.returncode == 0, r.stderr
        return parse_routes(r.stdout)

    def cluster_status(self):
        r = self.ctl("cluster", "status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def join(self, other):
        return self.ctl("cluster", "join", other.target)

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self):
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                # Longer than node.shutdown_timeout (10 s), so a stop that
                # hangs ends by itself and logs the step it was stuck in.
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                print(f"harness: {self.name} did not stop within 15 s of SIGTERM; "
                      f"killed. The end of its log:\n{self.log_tail(20)}", flush=True)
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        self.reader.join(5)
        if not self.reader.is_alive():
            self.proc.stderr.close()
        if "shutdown did not finish" in self.log_text():
            # The test may pass; the hang is still worth a line in CI's output.
            print(f"harness: {self.name} needed node.shutdown_timeout to stop. "
                  f"The end of its log:\n{self.log_tail(20)}", flush=True)
        if self.own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class BenchProcess:
    """A `starling bench MODE --json FILE ARGS...` process, its stderr (the
    progress and ready lines) collected by a thread; waits are on those
    lines. Stopped by PID."""

    def __init__(self, mode, *args):
        self.json = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
        self.lines = []
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(
            [BIN, "bench", mode, "--json", self.json, *[str(a) for a in args]],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cv:
                self.lines.append(line.rstrip())
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, pattern, timeout, after=0):
        """The first line matching pattern at index >= after: (index, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(after, len(self.lines)):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(f"bench: no line /{pattern}/ within "
                                         f"{timeout}s:\n" + "\n".join(self.lines[-20:]))
                self.cv.wait(min(left, 0.2))

    def wait_ready(self, timeout=10):
        return self.wait_line(r": ready:", timeout)

    def summary(self, timeout=30, interrupt=False):
        """Waits for the exit (after SIGINT with `interrupt`: bench prints
        its summary then) and returns (exit code, JSON summary or None)."""
        if interrupt and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise
        finally:
            self.reader.join(5)
            self.proc.stderr.close()
        try:
            with open(self.json) as f:
                return self.proc.returncode, json.load(f)
        except (OSError, ValueError):
            return self.proc.returncode, None
        finally:
            if os.path.exists(self.json):
                os.unlink(self.json)


class ClusterTest(unittest.TestCase):
    """Base class: nodes started through self.node() are stopped at the end."""

    def setUp(self):
        self.started = []

    def tearDown(self):
        for n in self.started:
            n.stop()
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not outcome.success
        if os.environ.get("STARLING_TEST_LOGS"):  # for debugging a test
            for n in self.started:
                print(f"----- {n.name}\n{n.log_text()}")
        elif failed:
            # What the nodes said, for a failure seen only in CI's output.
            for n in self.started:
                print(f"----- {n.name} (last 60 lines)\n{n.log_tail(60)}", flush=True)

    def node(self, short, **kw):
        n = Node(short, **kw)
        self.started.append(n)
        # Also stopped when setUp fails half-way (tearDown does not run then).
        self.addCleanup(n.stop)
        return n

    def wait_running(self, nodes, timeout=20):
        """Waits until every node of `nodes` sees exactly them running."""
        names = sorted(n.name for n in nodes)
        for n in nodes:
            wait_until(lambda: n.cluster_status()["running_nodes"] == names or None,
                       timeout, f"{n.name} to run with {names}")

    def assertOk(self, result, contains=None):
        self.assertEqual(result.returncode, 0,
                         f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
        if contains:
            self.assertIn(contains, result.stdout)
        return result

    def assertFails(self, result, contains, code=None):
        self.assertNotEqual(result.returncode, 0, f"unexpected success: {result.stdout}")
        if code is not None:
            self.assertEqual(result.returncode, code, result.stderr)
        self.assertIn(contains, result.stderr)
        return result

    def mesh(self, *nodes):
        """Joins every node to the first and waits for a full mesh."""
        for n in nodes[1:]:
            self.assertOk(n.join(nodes[0]), "joined the cluster")
        names = sorted(n.name for n in nodes)
        for n in nodes:
            want = [x for x in names if x != n.name]
            wait_until(lambda: n.nodes() == want or None, 10,
                       f"{n.name} to see {want}")


class MqttTest(ClusterTest):
    """One MQTT node (`self.n`, `self.port`); clients made with
    `self.client()` are disconnected at the end."""

    node_env = {}
    version = None  # default protocol for self.client()

    def setUp(self):
        super().setUp()
        self.n = self.node("core1", mqtt=True, mqtt_env=self.node_env)
        self.port = self.n.mqtt_port
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:
                pass  # already gone: kicked, aborted or never connected
        super().tearDown()

    def client(self, *a, **kw):
        if self.version is not None:
            kw.setdefault("version", self.version)
        c = Client(self.port, *a, **kw)
        self.clients.append(c)
        return c
