"""Discovery and autocluster against real servers: a real dnsmasq (A and
SRV records) serving hosts in network namespaces, a real etcd on loopback,
and for k8s a stand-in API server (fake_k8s.py: no Kubernetes API server is
packaged in Debian). What a user checks: nodes started with a strategy form
one cluster with nobody typing `cluster join`, replicants find the cores,
a node added later comes in, a dead node's etcd key goes, two cores
starting together never form two clusters, and a broken strategy is
reported once while the node keeps serving."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import netns
from harness import ClusterTest, free_port, wait_until
from nettest import NetTest

DOMAIN = "starling.test"


def discovery(node):
    r = node.ctl("cluster", "discovery", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class DnsTest(NetTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="starling-dns-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.hosts_file = os.path.join(self.dir, "hosts")
        open(self.hosts_file, "w").close()
        os.chmod(self.dir, 0o755)

    def dnsmasq(self, *extra):
        ip = self.net.serve_from_hub()
        p = self.net.run_in_hub(
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             "--no-resolv", "--no-hosts", f"--addn-hosts={self.hosts_file}",
             f"--listen-address={ip}", "--bind-interfaces", "--user=root",
             f"--pid-file={self.dir}/dnsmasq.pid", "--log-facility=-", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop, p)
        self.dns = p
        return ip

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.terminate()
            p.wait(10)

    def records(self, lines):
        with open(self.hosts_file, "w") as f:
            f.write("".join(f"{ip} {name}\n" for ip, name in lines))
        self.dns.send_signal(signal.SIGHUP)  # dnsmasq re-reads addn-hosts

    def host(self, name, nameserver):
        h = self.net.host(name)
        self.net.resolver(h, nameserver)
        return h

    def wait_resolves(self, host, name, want):
        def ok():
            r = subprocess.run([*host.prefix(), "getent", "ahostsv4", name],
                               capture_output=True, text=True)
            return len({l.split()[0] for l in r.stdout.splitlines()}) == want or None
        wait_until(ok, 10, f"{name} to resolve to {want} addresses")

    def start(self, host, env, role="core", short="starling", mqtt=False):
        extra = ("-role", "replicant") if role == "replicant" else ()
        return self.node(short, host=host, port=4370, tick_ms=1000, mqtt=mqtt,
                         env={**os.environ, **env}, extra=extra)

    def test_a_records_cluster_three_cores_and_two_replicants_and_a_fourth_comes_in(self):
        ns_ip = self.dnsmasq()
        hosts = [self.host(f"h{i}", ns_ip) for i in range(1, 7)]
        self.records([(h.ip, f"cores.{DOMAIN}") for h in hosts[:3]])
        self.wait_resolves(hosts[0], f"cores.{DOMAIN}", 3)
        env = {"STARLING_CLUSTER__DISCOVERY_STRATEGY": "dns",
               "STARLING_CLUSTER__DNS__NAME": f"cores.{DOMAIN}"}
        cores = [self.start(h, env) for h in hosts[:3]]
        reps = [self.start(h, env, role="replicant") for h in hosts[3:5]]
        self.wait_running(cores + reps, timeout=40)  # no cluster join typed
        d = discovery(cores[0])
        self.assertEqual(d["strategy"], "dns")
        self.assertEqual(sorted(d["discovered"]), sorted(n.name for n in cores))
        text = cores[1].ctl("cluster", "discovery").stdout
        self.assertIn("Discovery: dns", text)
        # A fourth core: its A record, then the node.
        self.records([(h.ip, f"cores.{DOMAIN}") for h in hosts[:3] + [hosts[5]]])
        self.wait_resolves(hosts[0], f"cores.{DOMAIN}", 4)
        fourth = self.start(hosts[5], env)
        self.wait_running(cores + reps + [fourth], timeout=40)

    def test_srv_records(self):
        ns_ip = self.dnsmasq(*[f"--srv-host=_starling._tcp.{DOMAIN},n{i}.{DOMAIN},4370"
                               for i in (1, 2, 3)])
        hosts = [self.host(f"h{i}", ns_ip) for i in (1, 2, 3)]
        self.records([(h.ip, f"n{i}.{DOMAIN}") for i, h in enumerate(hosts, 1)])
        self.wait_resolves(hosts[0], f"n3.{DOMAIN}", 1)
        env = {"STARLING_CLUSTER__DISCOVERY_STRATEGY": "dns",
               "STARLING_CLUSTER__DNS__RECORD_TYPE": "srv",
               "STARLING_CLUSTER__DNS__NAME": f"_starling._tcp.{DOMAIN}"}
        nodes = []
        for i, h in enumerate(hosts, 1):
            nodes.append(self.node("starling", host=h, port=4370, tick_ms=1000,
                                   env={**os.environ, **env},
                                   name_host=f"n{i}.{DOMAIN}"))
        self.wait_running(nodes, timeout=40)
        self.assertEqual(sorted(discovery(nodes[0])["discovered"]),
                         sorted(f"starling@n{i}.{DOMAIN}" for i in (1, 2, 3)))

    def test_nxdomain_is_logged_once_and_the_node_keeps_serving(self):
        ns_ip = self.dnsmasq()
        h = self.host("h1", ns_ip)
        env = {"STARLING_CLUSTER__DISCOVERY_STRATEGY": "dns",
               "STARLING_CLUSTER__DNS__NAME": f"missing.{DOMAIN}"}
        n = self.start(h, env)
        wait_until(lambda: discovery(n)["rounds"] >= 3 or None, 30, "three rounds")
        d = discovery(n)
        self.assertIn(f"cannot resolve missing.{DOMAIN}", d["last_error"])
        self.assertFalse(d["settled"])
        lines = [l for l in n.log_text().splitlines() if "cannot resolve" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertOk(n.ctl("db", "put", "kv", "k", "v"))  # it serves alone


class EtcdTest(ClusterTest):
    """A real etcd (Debian's etcd-server) on loopback, a temporary data dir."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="starling-etcd-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        cport, pport = free_port(), free_port()
        self.url = f"http://127.0.0.1:{cport}"
        p = subprocess.Popen(
            ["etcd", "--name", "t", "--data-dir", f"{self.dir}/data",
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-cluster", f"t=http://127.0.0.1:{pport}"],
            stdout=subprocess.DEVNULL, stderr=open(os.environ.get("ETCD_LOG", os.devnull), "w"))
        self.addCleanup(self.stop_etcd, p)

        def healthy():
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    return json.loads(r.read()).get("health") == "true" or None
            except OSError:
                return None
        wait_until(healthy, 20, "etcd to be healthy")
        self.cluster_no = 0

    @staticmethod
    def stop_etcd(p):
        if p.poll() is None:
            p.terminate()
            p.wait(10)

    def keys(self, cluster):
        import base64
        prefix = f"starling/{cluster}/nodes/"
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        body = json.dumps({"key": base64.b64encode(prefix.encode()).decode(),
                           "range_end": base64.b64encode(end.encode()).decode()})
        req = urllib.request.Request(self.url + "/v3/kv/range", body.encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            kvs = json.loads(r.read()).get("kvs", [])
        return sorted(base64.b64decode(kv["key"]).decode()[len(prefix):] for kv in kvs)

    def env(self, cluster):
        return {**os.environ, "STARLING_CLUSTER__DISCOVERY_STRATEGY": "etcd",
                "STARLING_CLUSTER__ETCD__SERVER": self.url,
                "STARLING_CLUSTER__ETCD__NODE_TTL": "3s",
                "STARLING_CLUSTER__NAME": cluster}

    def test_cores_and_replicants_cluster_and_a_dead_core_key_expires(self):
        env = self.env("one")
        cores = [self.node(f"e{i}", env=env) for i in (1, 2, 3)]
        reps = [self.node(f"er{i}", env=env, extra=("-role", "replicant"))
                for i in (1, 2)]
        everyone = cores + reps
        self.wait_running(everyone, timeout=40)
        wait_until(lambda: self.keys("one") == sorted(n.name for n in everyone) or None,
                   20, "every node registered")
        self.assertTrue(discovery(cores[0])["registered"])
        killed = time.monotonic()
        cores[2].signal(signal.SIGKILL)
        self.assertIn(cores[2].name, self.keys("one"))  # the lease still runs
        wait_until(lambda: cores[2].name not in self.keys("one") or None, 15,
                   "the dead core's key to expire")
        print(f"etcd: the key of a killed core went "
              f"{time.monotonic() - killed:.1f} s after kill -9 (node_ttl 3 s)")
        self.assertEqual(self.keys("one"), sorted(n.name for n in everyone[:2] + reps))

    def test_two_cores_started_together_form_one_cluster_twenty_times(self):
        times = []
        for i in range(20):
            env = self.env(f"race{i}")
            t0 = time.monotonic()
            a = self.node(f"ra{i}", env=env, wait=False)
            b = self.node(f"rb{i}", env=env, wait=False)
            for n in (a, b):
                n.wait_log(r"node started", 15)
            self.wait_running([a, b], timeout=20)
            times.append(time.monotonic() - t0)
            a.stop()
            b.stop()
        print(f"etcd lock: 20 of 20 pairs formed one cluster, "
              f"{min(times):.1f}-{max(times):.1f} s after start")


class K8sTest(NetTest):
    TOKEN = "s3rvice-acc0unt-t0ken"

    def endpoints(self, ready, not_ready=()):
        with open(self.ep_file, "w") as f:
            json.dump({"kind": "Endpoints", "apiVersion": "v1",
                       "metadata": {"name": "starling-headless", "namespace": "iot"},
                       "subsets": [{"addresses": [{"ip": h.ip} for h in ready],
                                    "notReadyAddresses": [{"ip": h.ip} for h in not_ready],
                                    "ports": [{"port": 4370}]}]}, f)

    def test_nodes_from_the_ready_endpoints_of_a_service(self):
        d = tempfile.mkdtemp(prefix="starling-k8s-")
        self.addCleanup(shutil.rmtree, d, True)
        hub = self.net.serve_from_hub()
        cert, key = f"{d}/api.crt", f"{d}/api.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1", "-subj", f"/CN={hub}",
                        "-addext", f"subjectAltName=IP:{hub}"],
                       check=True, capture_output=True)
        token_file = f"{d}/token"
        with open(token_file, "w") as f:
            f.write(self.TOKEN + "\n")
        self.ep_file = f"{d}/endpoints.json"
        hosts = [self.net.host(f"k{i}") for i in (1, 2, 3)]
        # k3 is listed, but not ready: not a node to join.
        self.endpoints(hosts[:2], not_ready=hosts[2:])
        server = self.net.run_in_hub(
            ["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "fake_k8s.py"),
             hub, "6443", cert, key, self.TOKEN, self.ep_file, "iot", "starling-headless"],
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (server.terminate(), server.wait(10)))
        self.assertIn("listening", server.stdout.readline())
        requests = []
        threading.Thread(target=lambda: [requests.append(json.loads(l))
                                         for l in server.stdout], daemon=True).start()
        env = {**os.environ, "STARLING_CLUSTER__DISCOVERY_STRATEGY": "k8s",
               "STARLING_CLUSTER__K8S__APISERVER": f"https://{hub}:6443",
               "STARLING_CLUSTER__K8S__NAMESPACE": "iot",
               "STARLING_CLUSTER__K8S__TOKEN_FILE": token_file,
               "STARLING_CLUSTER__K8S__CACERTFILE": cert}
        start = lambda h: self.node("starling", host=h, port=4370, tick_ms=1000, env=env)
        first = [start(h) for h in hosts[:2]]
        self.wait_running(first, timeout=30)
        self.assertEqual(sorted(discovery(first[0])["discovered"]),
                         sorted(n.name for n in first))
        # The pod becomes ready and starts: the answer changed, it comes in.
        self.endpoints(hosts)
        third = start(hosts[2])
        self.wait_running(first + [third], timeout=30)
        self.assertEqual(sorted(discovery(third)["discovered"]),
                         sorted(n.name for n in first + [third]))
        self.assertTrue(requests and all(r["authorized"] for r in requests), requests[:3])


if __name__ == "__main__":
    unittest.main()
