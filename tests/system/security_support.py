"""Shared by the security system tests: a development CA made with the real
`starling ctl certs` commands, and MQTT client helpers (mosquitto_pub/sub,
MQTT.js)."""

import os
import shutil
import subprocess
import tempfile

from harness import BIN, run


class Pki:
    """DIR/ca.pem + ca.key, and certificates NAME.pem/NAME.key in DIR."""

    def __init__(self, *names, tag="ca"):
        self.dir = tempfile.mkdtemp(prefix=f"starling-{tag}-")
        r = run([BIN, "ctl", "certs", "init", self.dir])
        assert r.returncode == 0, r.stderr
        self.ca = os.path.join(self.dir, "ca.pem")
        for n in names:
            self.issue(n)

    def issue(self, name):
        r = run([BIN, "ctl", "certs", "node", name, self.dir])
        assert r.returncode == 0, r.stderr
        return self.cert(name), self.key(name)

    def cert(self, name):
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        return os.path.join(self.dir, name + ".key")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def mosquitto(tool, port, *args, ca=None, cert=None, key=None, timeout=15):
    """Runs mosquitto_pub or mosquitto_sub against 127.0.0.1:port."""
    tls = []
    if ca:
        tls += ["--cafile", ca]
    if cert:
        tls += ["--cert", cert, "--key", key]
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port), *tls, *args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def start_mosquitto_sub(port, *args, ca=None, cert=None, key=None):
    tls = []
    if ca:
        tls += ["--cafile", ca]
    if cert:
        tls += ["--cert", cert, "--key", key]
    return subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port),
                             *tls, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def node_js(script, *args, timeout=30):
    """Runs a Node.js script with Debian's node-mqtt on the module path."""
    env = {**os.environ, "NODE_PATH": "/usr/share/nodejs"}
    return subprocess.run(["node", "-e", script, "--", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)
