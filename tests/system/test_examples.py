"""README.md and examples/ work as written.

Every ```sh block of README.md, read from the file itself so the README
cannot drift from what is tested, and every script in examples/ runs
verbatim under `bash -e`, from a scratch directory laid out like the
repository root after ./tools/setup: build/ links to the build under test,
examples/ is a copy of the checkout's. Nodes a block starts with their
default data directory (`data`) keep it there, not in the checkout. Each
block runs in a process group of its own; whatever it leaves running is a
failure, and the group is killed at the end in any case, pass or fail.

Not run here: README's first block, `./tools/run` (starts a node in the
foreground) and `./tools/test` (would run this suite again inside
itself), both checked by hand from a fresh clone on a fresh Debian 12; and
the "Installing" block, which installs the package system-wide and needs a
systemd host: system.package (test_package.py) builds the same package,
unpacks it and runs it instead.

The blocks use fixed ports (distribution 4371-4373 and 4381-4382, message
5371-5373 and 5381-5382, MQTT 1881-1885, HTTP 18081-18085). When one is taken (another run,
a developer's own nodes) the test is skipped naming the port, and ctest
reports it as skipped, not passed.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BIN

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PORTS = [4371, 4372, 4373, 4381, 4382, 5371, 5372, 5373, 5381, 5382,
         1881, 1882, 1883, 1884, 1885, 18081, 18082, 18083, 18084, 18085]
NODES = ["core1", "core2", "core3", "repl11", "repl12"]
BLOCK_TIMEOUT = 150


def readme_blocks():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    return re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)


def busy_port():
    """The first port of PORTS that cannot be bound, or None."""
    for port in PORTS:
        with socket.socket() as s:
            # As the nodes bind: SO_REUSEADDR, so TIME_WAIT is no conflict.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return port
    return None


def group_members(pgid):
    """Live (not zombie) processes of process group pgid."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


class ExamplesTest(unittest.TestCase):
    def setUp(self):
        port = busy_port()
        if port is not None:
            self.skipTest(f"port {port} is in use (another test run, or nodes of "
                          "yours?): the README and examples need 4371-4373, "
                          "4381-4382, 5371-5373, 5381-5382, 1881-1885 and 18081-18085")
        self.root = tempfile.mkdtemp(prefix="starling-readme-")
        self.addCleanup(shutil.rmtree, self.root, True)
        os.symlink(os.path.dirname(os.path.dirname(os.path.abspath(BIN))),
                   os.path.join(self.root, "build"))
        shutil.copytree(os.path.join(REPO, "examples"), os.path.join(self.root, "examples"))
        # The examples' logs, pid files and data directories.
        self.addCleanup(self.remove_example_files)
        # What a user's shell has: none of the harness's STARLING_* settings.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}

    def remove_example_files(self):
        for n in NODES:
            for suffix in (".log", ".pid"):
                try:
                    os.unlink(f"/tmp/starling-{n}{suffix}")
                except FileNotFoundError:
                    pass
            shutil.rmtree(f"/tmp/starling-{n}", ignore_errors=True)

    def run_bash(self, script, args=(), expect_rc=0, timeout=BLOCK_TIMEOUT):
        """Runs `script` with bash -e in its own process group; returns
        (stdout, stderr). Fails when it exits otherwise than expect_rc or
        leaves a process running; kills its group in any case. Output goes
        to files, not pipes: nodes left in the background would hold a
        pipe open after bash has ended."""
        with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
            p = subprocess.Popen(["bash", "-e", "-c", script, "block", *args],
                                 cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                 stdout=out_f, stderr=err_f, text=True,
                                 start_new_session=True)
            self.addCleanup(self.kill_group, p.pid)
            try:
                p.wait(timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            # A block stops what it started (and waits for it): nothing may
            # be left once it has returned, beyond a process in its last
            # moments.
            deadline = time.monotonic() + 5
            while group_members(p.pid) and time.monotonic() < deadline and not timed_out:
                time.sleep(0.05)
            left = [f"{pid}: {command_line(pid)}" for pid in group_members(p.pid)]
            self.kill_group(p.pid)
            p.wait(10)
            out_f.seek(0)
            err_f.seek(0)
            out, err = out_f.read(), err_f.read()
        what = f"\n{script}\nstdout:\n{out}\nstderr:\n{err}"
        if timed_out:
            self.fail(f"still running after {timeout}s:{what}")
        self.assertEqual(p.returncode, expect_rc, f"exit {p.returncode}:{what}")
        self.assertFalse(left, f"left running: {left}{what}")
        # bash reports a background job that crashed when it reaps it.
        self.assertNotRegex(err, r"Segmentation fault|core dumped|Aborted",
                            f"a process crashed:{what}")
        return out, err

    def kill_group(self, pgid):
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if not group_members(pgid):
                return
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)

    # -- what each block and script says it shows ---------------------------

    def check_running(self, out, names):
        want = "Cluster status: #{running_nodes => [" + ",".join(
            f"'{n}@127.0.0.1'" for n in names) + "], stopped_nodes => []}"
        self.assertIn(want, out)

    def check_actors(self, out):
        lines = out.splitlines()
        head = next(i for i, l in enumerate(lines) if l.split()[:2] == ["ID", "NAME"])
        end = next(i for i in range(head, len(lines)) if "starling actors;" in lines[i])
        ids = [l.split()[0] for l in lines[head + 1:end]]
        self.assertIn("node_agent", out)
        self.assertGreater(len(ids), 5, out)
        self.assertEqual(len(ids), len(set(ids)), f"actor ids repeat:\n{out}")

    def check_db(self, out):
        self.assertRegex(out, r"ok \(seqno \d+\)")
        self.assertRegex(out, r"(?m)^hello$")  # db get on core3

    def check_rlog(self, out):
        shards = re.findall(r"^(\w+_shard)\s+(\w+)\s+core\d@127\.0\.0\.1", out, re.M)
        self.assertTrue(shards, out)
        self.assertEqual({state for _, state in shards}, {"normal"}, out)

    def check_three_cores_block(self, out):
        for n in ("core1", "core2", "core3"):
            self.assertIn(f"Node '{n}@127.0.0.1' ", out)
        self.assertIn("joined the cluster of core1@127.0.0.1", out)
        self.check_running(out, ["core1", "core2", "core3"])
        self.check_actors(out)

    def check_db_block(self, out):
        self.check_running(out, NODES)
        self.check_db(out)
        self.check_rlog(out)

    def check_mqtt_block(self, out):
        self.check_running(out, NODES)
        self.assertRegex(out, r"(?m)^hello$")  # printed by mosquitto_sub
        self.assertRegex(out, r"(?m)^t/#\s+repl12@127\.0\.0\.1\s")  # routes() on core2
        self.assertIn("client s1: session on node repl12@127.0.0.1", out)

    def check_mgmt_block(self, out):
        self.check_running(out, ["core1", "core2", "core3"])
        self.assertIn("Node core1@127.0.0.1 is started; MQTT accepts clients", out)
        for n in ("core1", "core2", "core3"):
            self.assertRegex(out, rf"(?m)^{n}@127\.0\.0\.1 core running$")
        self.assertIn('"changed":{"max_inflight":64}', out)
        self.assertRegex(out, r"(?m)^64$")  # read back on core3

    def block_checks(self):
        """(what identifies a block, its check): every README block must
        have one, so a new block cannot go untested."""
        return [("cluster join", self.check_three_cores_block),
                ("db get kv greeting", self.check_db_block),
                ("mosquitto_pub", self.check_mqtt_block),
                ("change_pwd", self.check_mgmt_block)]

    # -- the tests -------------------------------------------------------------

    def test_readme_blocks(self):
        blocks = readme_blocks()
        self.assertIn("./tools/test", blocks[0])  # not run here (see above)
        installing = [b for b in blocks if "apt install" in b]
        self.assertEqual(len(installing), 1)  # not run here (see above)
        run_here = [b for b in blocks[1:] if b not in installing]
        self.assertGreaterEqual(len(run_here), 3)
        for block in run_here:
            checks = [c for key, c in self.block_checks() if key in block]
            self.assertEqual(len(checks), 1, f"no check (or several) for this README block:\n{block}")
            with self.subTest(block=block.splitlines()[0]):
                out, err = self.run_bash(block)
                checks[0](out)

    def test_example_scripts(self):
        scripts = sorted(f for f in os.listdir(os.path.join(REPO, "examples"))
                         if f.endswith(".sh") and f != "common.sh")
        checks = {"three-cores.sh": lambda out: self.check_running(out, ["core1", "core2", "core3"]),
                  "cores-and-replicants.sh": lambda out: (self.check_running(out, NODES),
                                                          self.assertRegex(out, r"ok \(seqno \d+\)"),
                                                          self.check_rlog(out))}
        self.assertEqual(sorted(checks), scripts, "every example script needs a check here")
        for script in scripts:
            with self.subTest(script=script):
                # The script leaves its nodes running for the user; `stop`
                # (run in the same group) must end every one of them.
                out, err = self.run_bash(f"examples/{script}; examples/{script} stop")
                checks[script](out)
                self.assertIn("stopped: ", out)
                for n in NODES:
                    self.assertFalse(os.path.exists(f"/tmp/starling-{n}.pid"), n)

    def test_an_example_node_that_cannot_start_is_named_with_its_log(self):
        # core2's MQTT port taken: the script fails at once, names core2,
        # shows why from its log, and stops the nodes it had started.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 1882))
            s.listen()
            t0 = time.monotonic()
            out, err = self.run_bash("examples/three-cores.sh", expect_rc=1)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertIn("three-cores.sh: core2@127.0.0.1 exited at start", err)
        self.assertIn("cannot listen for MQTT on 127.0.0.1:1882", err)
        self.assertIn("stopped: core1 core2 core3", err)

    def test_an_example_wait_is_bounded(self):
        # A node that never answers: the wait ends after WAIT_S with the
        # node's name and log. A stand-in binary that never opens its port
        # plays the silent node.
        fake = os.path.join(self.root, "silent-node")
        with open(fake, "w") as f:
            f.write("#!/usr/bin/python3\nimport sys, time\n"
                    "if sys.argv[1] == 'ctl':\n    sys.exit(1)\n"
                    "print('starting, slowly', file=sys.stderr, flush=True)\n"
                    "time.sleep(60)\n")
        os.chmod(fake, 0o755)
        self.env.update(STARLING_BIN=fake, WAIT_S="2")
        t0 = time.monotonic()
        out, err = self.run_bash("examples/three-cores.sh", expect_rc=1)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertIn("three-cores.sh: core1@127.0.0.1 did not answer within 2 s", err)
        self.assertIn("starting, slowly", err)


if __name__ == "__main__":
    unittest.main()
