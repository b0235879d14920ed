"""The Debian package: built with CPack from the build under test, its
control data, its files, its unit (systemd-analyze verify), its postinst
(run on a scratch root), and the packaged binary started with the packaged
config, answering ctl with the cookie the postinst wrote and carrying
mosquitto_pub's message to mosquitto_sub.

This machine may not run systemd, so the package is not installed with
dpkg -i: it is unpacked with dpkg -x into a scratch root, and the postinst
runs there with DPKG_ROOT set, the system-changing tools it calls
(adduser, addgroup, getent, chown) replaced by stubs that record their
arguments. The node then runs from the scratch root with the packaged
config; only its data directory and ports are moved, by environment
variables, to temporary and free ones.
"""

import configparser
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import BIN, free_port, run, wait_until

BUILD = os.path.dirname(os.path.dirname(os.path.abspath(BIN)))

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >>"{log}"
case "$(basename "$0")" in getent) exit 2;; esac
exit 0
"""


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starling-package-")
        r = run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"),
                 "-B", cls.tmp], timeout=240)
        if r.returncode != 0:
            shutil.rmtree(cls.tmp, True)
            raise AssertionError(f"cpack failed:\n{r.stdout}\n{r.stderr}")
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(cls.tmp, debs[0])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def unpack(self):
        root = tempfile.mkdtemp(prefix="root-", dir=self.tmp)
        r = run(["dpkg", "-x", self.deb, root])
        self.assertEqual(r.returncode, 0, r.stderr)
        return root

    def field(self, name):
        r = run(["dpkg-deb", "-f", self.deb, name])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def postinst(self, root, *args):
        """Runs the package's postinst on `root`; returns the stubs' log."""
        control = tempfile.mkdtemp(prefix="control-", dir=self.tmp)
        self.assertEqual(run(["dpkg-deb", "-e", self.deb, control]).returncode, 0)
        stubs = tempfile.mkdtemp(prefix="stubs-", dir=self.tmp)
        log = os.path.join(stubs, "calls.log")
        open(log, "w").close()
        for tool in ("adduser", "addgroup", "getent", "chown"):
            path = os.path.join(stubs, tool)
            with open(path, "w") as f:
                f.write(STUB.format(log=log))
            os.chmod(path, 0o755)
        env = {**os.environ, "DPKG_ROOT": root, "PATH": stubs + ":" + os.environ["PATH"]}
        r = run(["sh", os.path.join(control, "postinst"), *args], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(log) as f:
            return f.read()

    def test_control_data(self):
        self.assertEqual(self.field("Package"), "starling")
        self.assertRegex(self.field("Version"), r"^\d+\.\d+\.\d+$")
        depends = self.field("Depends")
        for dep in ("adduser", "libc6", "libstdc++6", "libcaf-core0.17", "libcaf-io0.17",
                    "libssl3", "libsqlite3-0", "libboost-program-options1.74.0",
                    "libedit2", "libcpp-httplib0.11", "libjemalloc2"):
            self.assertRegex(depends, rf"(^|, ){re.escape(dep)}( \(|,|$)", depends)
        control = tempfile.mkdtemp(prefix="control-", dir=self.tmp)
        self.assertEqual(run(["dpkg-deb", "-e", self.deb, control]).returncode, 0)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/starling/starling.conf"])
        for script in ("postinst", "prerm", "postrm"):
            self.assertTrue(os.access(os.path.join(control, script), os.X_OK), script)

    def test_files(self):
        r = run(["dpkg-deb", "-c", self.deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {line.split()[-1] for line in r.stdout.splitlines()}
        for path in ("./usr/bin/starling", "./lib/systemd/system/starling.service",
                     "./etc/starling/starling.conf", "./var/lib/starling/",
                     "./usr/share/doc/starling/config.md"):
            self.assertIn(path, files)
        # Only the node's binary: not the probe, the tests or the benchmarks.
        self.assertEqual([f for f in files if "/bin/" in f and not f.endswith("/")],
                         ["./usr/bin/starling"])
        # No cookie in the package: postinst makes one per host.
        self.assertNotIn("./etc/starling/cookie", files)

    def test_packaged_config(self):
        root = self.unpack()
        conf = configparser.ConfigParser()
        conf.read(os.path.join(root, "etc/starling/starling.conf"))
        self.assertEqual(conf["node"]["data_dir"], "/var/lib/starling")
        self.assertEqual(conf["node"]["cookie_file"], "/etc/starling/cookie")
        self.assertEqual(conf["node"]["name"], "starling@127.0.0.1")
        self.assertEqual(conf["mqtt"]["listener.tcp"], "0.0.0.0:1883")
        self.assertNotIn("cookie", conf["node"])  # never a cookie in the file

    def test_unit(self):
        root = self.unpack()
        with open(os.path.join(root, "lib/systemd/system/starling.service")) as f:
            unit = f.read()
        for line in ("Type=simple", "User=starling",
                     "ExecStart=/usr/bin/starling -config /etc/starling/starling.conf",
                     "Restart=on-failure", "StandardError=journal",
                     "WantedBy=multi-user.target"):
            self.assertIn(line + "\n", unit)
        self.assertRegex(unit, r"\nLimitNOFILE=\d+\n")
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed: the unit was not verified")
        # verify checks that ExecStart's binary exists, so the copy it checks
        # points at the unpacked one; nothing else differs.
        check = tempfile.mkdtemp(prefix="unit-", dir=self.tmp)
        with open(os.path.join(check, "starling.service"), "w") as f:
            f.write(unit.replace("ExecStart=/usr/bin/starling",
                                 f"ExecStart={root}/usr/bin/starling"))
        r = run(["systemd-analyze", "verify", os.path.join(check, "starling.service")])
        # Warnings (an unknown key, a bad value) exit 0: nothing may be said.
        self.assertEqual((r.returncode, r.stderr.strip()), (0, ""), r.stderr)

    def test_postinst_writes_a_cookie_once(self):
        root = self.unpack()
        calls = self.postinst(root, "configure")
        cookie = os.path.join(root, "etc/starling/cookie")
        self.assertEqual(os.stat(cookie).st_mode & 0o777, 0o400)
        with open(cookie) as f:
            first = f.read()
        self.assertRegex(first, r"^[0-9a-f]{64}\n$")
        self.assertIn("adduser --quiet --system --no-create-home --ingroup starling "
                      "--home /var/lib/starling --shell /usr/sbin/nologin starling", calls)
        self.assertIn(f"chown starling:starling {root}/etc/starling/cookie.new", calls)
        self.assertIn(f"chown starling:starling {root}/var/lib/starling", calls)
        # An upgrade keeps the cookie; another host gets another one.
        self.postinst(root, "configure", "0.1.0")
        with open(cookie) as f:
            self.assertEqual(f.read(), first)
        other = self.unpack()
        self.postinst(other, "configure")
        with open(os.path.join(other, "etc/starling/cookie")) as f:
            self.assertNotEqual(f.read(), first)

    def test_packaged_binary_with_packaged_config(self):
        root = self.unpack()
        self.postinst(root, "configure")
        binary = os.path.join(root, "usr/bin/starling")
        r = run([binary, "version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^starling \d+\.\d+\.\d+ \(git \S+\)\n$")
        data = tempfile.mkdtemp(prefix="data-", dir=self.tmp)
        dist, mqtt = free_port(), free_port()
        cookie_file = os.path.join(root, "etc/starling/cookie")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        env.update(STARLING_NODE__DATA_DIR=data, STARLING_NODE__DIST_PORT=str(dist),
                   STARLING_NODE__DATA_PORT=str(free_port()),
                   STARLING_MQTT__LISTENER__TCP=f"127.0.0.1:{mqtt}",
                   STARLING_DASHBOARD__LISTENER__HTTP=f"127.0.0.1:{free_port()}",
                   STARLING_NODE__COOKIE_FILE=cookie_file)
        log_path = os.path.join(self.tmp, "node.log")
        with open(log_path, "w") as log:
            node = subprocess.Popen([binary, "-config", os.path.join(root, "etc/starling/starling.conf")],
                                    env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=log)

        def log_text():
            with open(log_path) as f:
                return f.read()
        try:
            wait_until(lambda: "node started" in log_text() or node.poll() is not None, 20,
                       "the packaged node to start")
            text = log_text()
            self.assertIn("node started", text)
            self.assertIn(f"data dir {data}", text)
            self.assertNotIn("default cookie", text)
            # ctl on the same host: no -cookie, the file the postinst wrote.
            target = f"starling@127.0.0.1:{dist}"
            r = run([binary, "ctl", "-node", target, "status"], env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Node 'starling@127.0.0.1'", r.stdout)
            # mosquitto_pub -> the node -> mosquitto_sub (retained, so the
            # subscriber that connects after it gets it at once).
            r = run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mqtt), "-t", "pkg/t",
                     "-m", "from-the-package", "-q", "1", "-r"])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mqtt), "-t", "pkg/#",
                     "-v", "-C", "1", "-W", "10"], timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "pkg/t from-the-package\n")
        finally:
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
            try:
                rc = node.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()
                rc = node.wait()
        self.assertEqual(rc, 0, log_text())


if __name__ == "__main__":
    unittest.main()
