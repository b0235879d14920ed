"""The processes `compare` starts: Mosquitto, Starling nodes and `starling
bench` clients. Each is started on 127.0.0.1, tracked in STARTED and
stopped by PID (SIGTERM, then SIGKILL after a grace period); CPU time and
RSS are read from /proc."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []  # every Popen we made, for stop_all()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process, in seconds, to the nanosecond: the
    process's CPU-time clock (clock_getcpuclockid(3): Linux encodes it as
    ((~pid) << 3) | CPUCLOCK_SCHED). /proc/PID/stat has the same sum only
    in 10 ms ticks, too coarse for a quick run's short scenarios; it is
    the fallback where the clock cannot be read."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)
    except OSError:
        with open(f"/proc/{pid}/stat") as f:
            # The command name may contain spaces; the fields after it do not.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def wait_idle(pids, limit_s, busy=0.10, step=0.5):
    """Waits until each process uses under `busy` of a CPU over `step`
    seconds (work acknowledged but not yet done, such as routes still being
    inserted after the SUBACKs went out); returns the seconds waited, at
    most `limit_s`."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        before = [cpu_seconds(p) for p in pids]
        time.sleep(step)
        if all(cpu_seconds(p) - b < busy * step for p, b in zip(pids, before)):
            break
    return time.monotonic() - start


def stop(proc, grace=10):
    """Stops one process we started, by its PID."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(grace)
        except ProcessLookupError:
            pass


def stop_all():
    for p in reversed(STARTED):
        stop(p)
    STARTED.clear()


# CPUs for brokers and for clients ("0", "1"; taskset -c lists), or None:
# set by `compare` so that broker and load generator never share a CPU.
PIN = {"broker": None, "client": None}


def split_cpus():
    """The CPUs this process may use, halved: the first half for the broker,
    the rest for the clients (taskset -c lists); None with one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return (",".join(map(str, cpus[:half])), ",".join(map(str, cpus[half:])))


def pinned(role, args):
    """`args` under `taskset -c` for `role` ("broker" or "client") when
    pinning is on. taskset execs the program: the PID stays the same."""
    cpus = PIN.get(role)
    return ["taskset", "-c", cpus, *args] if cpus else list(args)


def spawn(args, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
    p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                         stdout=stdout, stderr=stderr)
    STARTED.append(p)
    return p


def wait_listening(port, proc, timeout, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = open(log).read()[-2000:] if log else ""
            raise RuntimeError(f"broker exited with {proc.returncode}: {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Broker:
    """A broker process on 127.0.0.1:self.port."""

    name = "broker"

    def __init__(self, workdir):
        self.workdir = workdir
        self.port = free_port()
        self.proc = None

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def wait_idle(self, limit_s, busy=0.10, step=0.5):
        return wait_idle([self.proc.pid], limit_s, busy, step)

    def stop(self):
        if self.proc:
            stop(self.proc)
            if self.proc in STARTED:
                STARTED.remove(self.proc)
            self.proc = None


class Mosquitto(Broker):
    name = "mosquitto"

    def __init__(self, workdir, binary="/usr/sbin/mosquitto", nodelay=False):
        super().__init__(workdir)
        self.binary = binary
        self.nodelay = nodelay

    def start(self):
        conf = os.path.join(self.workdir, f"mosquitto-{self.port}.conf")
        # As its users run it: a listener, anonymous clients, no
        # persistence, errors logged only. The one change, for the same
        # semantics as Starling's run: queues long enough that a QoS 1 flood
        # loses nothing (both brokers default to 1000). `nodelay`: Nagle
        # off, which Starling always does and Mosquitto does not by default.
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "persistence false\n"
                    "log_type error\n"
                    "max_queued_messages 1000000\n"
                    + ("set_tcp_nodelay true\n" if self.nodelay else ""))
        self.proc = spawn(pinned("broker", [self.binary, "-c", conf]))
        wait_listening(self.port, self.proc, 10)
        return self


class Starling(Broker):
    name = "starling"
    serial = 0

    def __init__(self, workdir, binary, seeds=None):
        super().__init__(workdir)
        self.binary = binary
        self.log = None
        self.seeds = seeds  # "name@host:port" of a node to join (scenario 7)
        self.node_name = None
        self.dist_port = None

    def env(self):
        env = dict(os.environ)
        env.update({
            "STARLING_MQTT__LISTENER__TCP": f"127.0.0.1:{self.port}",
            "STARLING_MQTT__MAX_MQUEUE_LEN": "1000000",
        })
        if self.seeds:
            env["STARLING_CLUSTER__STATIC__SEEDS"] = self.seeds
        d = os.path.join(self.workdir, f"starling-data-{self.port}")
        os.makedirs(d, exist_ok=True)
        env["STARLING_NODE__DATA_DIR"] = d
        return env

    def start(self):
        """Starts the node; once more on new ports if it does not come up
        (a port taken between free_port() and bind())."""
        error = ""
        for _ in range(3):
            Starling.serial += 1
            name = f"bench{Starling.serial}@127.0.0.1"
            self.node_name, self.dist_port = name, free_port()
            self.log = os.path.join(self.workdir, f"starling-{self.port}.log")
            args = [self.binary, "-name", name, "-cookie", "x",
                    "-dist_port", str(self.dist_port)]
            with open(self.log, "w") as log:
                self.proc = spawn(pinned("broker", args), env=self.env(),
                                  stderr=log)
            try:
                wait_listening(self.port, self.proc, 20, self.log)
                return self
            except RuntimeError as e:
                error = str(e)
                self.stop()
                with open(self.log) as f:
                    text = f.read()
                error += " | log: " + " / ".join(text.splitlines()[-5:])
                self.port = free_port()
        raise RuntimeError("starling did not start: " + error)


class BenchClient:
    """One `starling bench` process; its stderr is read by a thread so the
    'ready' line can be waited for."""

    def __init__(self, binary, mode, port, args, json_path):
        self.json_path = json_path
        cmd = [binary, "bench", mode, "-p", str(port), "--quiet",
               "--json", json_path, *[str(a) for a in args]]
        self.cmd = " ".join(cmd)
        self.lines = []
        self.cv = threading.Condition()
        self.proc = spawn(pinned("client", cmd), stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            with self.cv:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_ready(self, timeout):
        """True once the client printed its ready line; False on timeout or
        exit."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while not any(": ready:" in l for l in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None
                                 and not self.reader.is_alive()):
                    return False
                self.cv.wait(min(left, 0.2))
        return True

    def finish(self, timeout):
        """Waits for the exit (SIGTERM, then SIGKILL, past `timeout`) and
        returns the JSON summary, or a stand-in with the error."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(self.proc)
        self.reader.join(5)
        if self.proc in STARTED:
            STARTED.remove(self.proc)
        try:
            with open(self.json_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"error": "no summary; stderr: " + " | ".join(self.lines[-5:]),
                    "sent": 0, "received": 0, "ready": 0, "connected": 0}

    def terminate(self, timeout=30):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        return self.finish(timeout)
