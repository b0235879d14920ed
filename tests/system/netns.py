"""Hosts in network namespaces for partition tests (we run as root).

A `Net` makes a private hub namespace holding a bridge, and one namespace
per host with a veth pair to the bridge and an address in 10.213.0.0/24.
Those addresses exist only inside these namespaces, so nothing a test sends
can leave them. Links are cut by setting the host's bridge port down (a
silent drop: packets vanish, nothing is refused), and one pair of hosts can
be cut from each other alone with nftables (an asymmetric split).

Every namespace gets a name unique to this process; `close()` deletes them
all (and so every veth), and is registered as a test cleanup, so a failing
test leaves nothing behind. Processes are started by the caller and must be
stopped (by PID) before close().
"""

import os
import shutil
import subprocess
import uuid

SUBNET = "10.213.0"


def sh(*args, ns=None, check=True):
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def available():
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "partition tests need root (network namespaces)"
    for tool in ("ip", "nft"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return f"{tool} is not installed (tools/setup installs it)"
    return None


class Host:
    def __init__(self, net, index, name):
        self.net = net
        self.name = name
        self.ns = f"{net.prefix}-{name}"
        self.ip = f"{SUBNET}.{index}"
        self.port = f"p{index}"  # its port on the hub's bridge
        self.blocked = set()

    def prefix(self):
        """Command prefix that runs a program inside this host."""
        return ["ip", "netns", "exec", self.ns]


class Net:
    def __init__(self):
        # Short: interface and namespace names are limited in length.
        self.prefix = f"st{os.getpid() % 100000}{uuid.uuid4().hex[:4]}"
        self.hub = f"{self.prefix}-hub"
        self.hub_ip = None
        self.hosts = []
        self.namespaces = []
        self.etc_dirs = []
        self._add_ns(self.hub)
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")

    def _add_ns(self, name):
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def host(self, name):
        h = Host(self, len(self.hosts) + 1, name)
        self._add_ns(h.ns)
        sh("ip", "-n", self.hub, "link", "add", h.port, "type", "veth",
           "peer", "name", "eth0", "netns", h.ns)
        sh("ip", "-n", self.hub, "link", "set", h.port, "master", "br0")
        sh("ip", "-n", self.hub, "link", "set", h.port, "up")
        sh("ip", "-n", h.ns, "addr", "add", f"{h.ip}/24", "dev", "eth0")
        sh("ip", "-n", h.ns, "link", "set", "eth0", "up")
        self.hosts.append(h)
        return h

    def serve_from_hub(self):
        """Gives the hub an address on the bridge (10.213.0.254), for a
        server run there (dnsmasq, a fake API server); returns it."""
        if self.hub_ip is None:
            self.hub_ip = f"{SUBNET}.254"
            sh("ip", "-n", self.hub, "addr", "add", f"{self.hub_ip}/24", "dev", "br0")
        return self.hub_ip

    def resolver(self, host, nameserver):
        """/etc/netns/<ns>/resolv.conf: `ip netns exec` mounts it over
        /etc/resolv.conf for whatever runs in the host."""
        d = f"/etc/netns/{host.ns}"
        os.makedirs(d, exist_ok=True)
        self.etc_dirs.append(d)
        with open(f"{d}/resolv.conf", "w") as f:
            f.write(f"nameserver {nameserver}\noptions timeout:1 attempts:2\n")

    def run_in_hub(self, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.hub, *args], **kw)

    def cut(self, *hosts):
        """Takes the hosts' bridge ports down: their packets are dropped."""
        for h in hosts:
            sh("ip", "-n", self.hub, "link", "set", h.port, "down")

    def restore(self, *hosts):
        for h in hosts:
            sh("ip", "-n", self.hub, "link", "set", h.port, "up")

    def block(self, a, b):
        """Drops every packet between a and b (both directions, in a's
        namespace); both still reach everyone else."""
        if not a.blocked:
            sh("nft", "add", "table", "inet", "starling_test", ns=a.ns)
            for chain, hook in (("in", "input"), ("out", "output")):
                sh("nft", "add", "chain", "inet", "starling_test", chain,
                   f"{{ type filter hook {hook} priority 0 ; }}", ns=a.ns)
        sh("nft", "add", "rule", "inet", "starling_test", "in", "ip", "saddr",
           b.ip, "drop", ns=a.ns)
        sh("nft", "add", "rule", "inet", "starling_test", "out", "ip", "daddr",
           b.ip, "drop", ns=a.ns)
        a.blocked.add(b.ip)

    def split(self, side_a, side_b):
        """Every host of side_b loses every host of side_a; each side keeps
        its own links (a two-way split of a group of hosts)."""
        for b in side_b:
            for a in side_a:
                self.block(b, a)

    def join(self, side_b):
        for b in side_b:
            self.unblock(b)

    def unblock(self, a):
        if a.blocked:
            sh("nft", "delete", "table", "inet", "starling_test", ns=a.ns)
            a.blocked.clear()

    def close(self):
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "delete", ns, check=False)
        self.namespaces.clear()
        for d in self.etc_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.etc_dirs.clear()
