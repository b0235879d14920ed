"""The scenarios of `compare` (issue 6). Each has a `run(ctx, broker)` that
drives one freshly started broker with `starling bench` clients and returns
raw figures, and a `rows(results)` that turns the figures of both brokers
into table rows: (metric, mosquitto value, starling value, kind), where kind
says how to format and compare (see compare.format_value)."""

import json
import os
import resource
import subprocess
import time

from brokers import BenchClient, pinned

FULL = dict(gen_n=300_000, flood_n=500_000, paced_rate=10_000,
            paced_n=100_000, qos1_n=200_000, fanout_subs=100, fanout_n=5_000,
            fanin_pubs=100, fanin_n=300_000, idle=[10_000, 100_000],
            wild_conns=1000, wild_per=1000, wild_n=300_000, bound=60,
            hold_bound=240, reps=3)
QUICK = dict(gen_n=5_000, flood_n=20_000, paced_rate=2_000, paced_n=4_000,
             qos1_n=5_000, fanout_subs=10, fanout_n=500, fanin_pubs=10,
             fanin_n=5_000, idle=[200], wild_conns=10, wild_per=10,
             wild_n=10_000, bound=15, hold_bound=20, reps=1)

# Above this many connections the clients spread over several loopback
# source addresses: one address has ~28k ephemeral ports to one port.
MANY = 20_000


class Ctx:
    def __init__(self, bench_bin, workdir, size, log, rawmqtt=None):
        self.bench_bin = bench_bin
        self.rawmqtt = rawmqtt  # tools/bench/rawmqtt.c, built next to starling
        self.workdir = workdir
        self.size = size
        self.log = log
        self.serial = 0

    def client(self, mode, broker, args):
        self.serial += 1
        path = os.path.join(self.workdir, f"{mode}-{self.serial}.json")
        c = BenchClient(self.bench_bin, mode, broker.port, args, path)
        self.log(f"    {broker.name}: {c.cmd}")
        return c


def pubsub(ctx, broker, sub_args, pub_args, expect, flood=True):
    """A subscriber that waits for `expect` messages, then a publisher;
    returns both summaries and the broker CPU seconds in between. In a
    flood the subscribers delay their TCP ACKs (`--delayed-ack`), so a
    broker with Nagle on coalesces its writes, as it does for a client that
    reads in large blocks (scenario 0 shows the difference); a latency
    scenario keeps the kernel's default."""
    bound = ctx.size["bound"]
    sub = ctx.client("sub", broker, [*sub_args, "-L", expect, "--idle-exit", 2,
                                     "--duration", bound + 10,
                                     *(["--delayed-ack"] if flood else [])])
    if not sub.wait_ready(bound):
        return {"error": "subscribers not ready: " + str(sub.terminate()),
                "sub": {}, "pub": {}, "cpu": 0}
    cpu0 = broker.cpu()
    pub = ctx.client("pub", broker, [*pub_args, "--duration", bound])
    p = pub.finish(bound + 15)
    s = sub.finish(bound + 15)
    return {"sub": s, "pub": p, "cpu": broker.cpu() - cpu0}


def delivery_rows(res, with_publisher=True):
    """The rows every throughput scenario shares. The publisher's rate is
    left out where a run fits in the socket buffers (fan-in, fan-out): it
    would measure the kernel."""
    def per_cpu(r):
        cpu = r["cpu"]
        return r["sub"].get("received", 0) / cpu if cpu > 0 else None

    def expected(r):
        # Each message is delivered to every subscriber (fan-out).
        return r["pub"].get("sent", 0) * r.get("fanout", 1)

    def lost(r):
        return expected(r) - r["sub"].get("received", 0)

    rows = [("delivered msg/s", rate(res, "receive_rate"), "rate")]
    if with_publisher:
        rows.append(("publisher msg/s", rate(res, "send_rate", "pub"), "rate"))
    return rows + [generator_row(res), 
        ("broker CPU s", {k: r["cpu"] for k, r in res.items()}, "cpu"),
        ("msgs per broker CPU-s", {k: per_cpu(r) for k, r in res.items()}, "rate"),
        ("messages expected (sent x subscribers)",
         {k: expected(r) for k, r in res.items()}, "count"),
        ("messages lost (QoS 0 drops)", {k: lost(r) for k, r in res.items()},
         "count"),
        ("duplicates, out of order",
         {k: f'{r["sub"].get("duplicates", 0)}, {r["sub"].get("out_of_order", 0)}'
          for k, r in res.items()}, "text"),
    ]


def generator_row(res):
    """How busy the generator's busiest thread was, publisher and
    subscriber side; 'SATURATED' where one was the limit."""
    def busy(r):
        sides = [r.get(side, {}) for side in ("pub", "sub")]
        shares = [s.get("busiest_thread") for s in sides]
        text = " / ".join("-" if b is None else f"{100 * b:.0f}%" for b in shares)
        return text + (" SATURATED" if any(s.get("saturated") for s in sides)
                       else "")
    return ("generator busiest thread pub/sub", {k: busy(r) for k, r in
                                                 res.items()}, "text")


def fan_rows(res):
    return delivery_rows(res, False)


def rate(res, key, side="sub"):
    return {k: r[side].get(key) for k, r in res.items()}


# -- 0: is the generator the bottleneck? -----------------------------------

# The generator's pairs in scenario 0: (publisher, subscriber), each
# `rawmqtt` (tools/bench/rawmqtt.c, shares no code with the generator) or
# `bench` (`starling bench`).
GEN_PAIRS = (("rawmqtt", "rawmqtt"), ("bench", "bench"), ("bench", "rawmqtt"),
             ("rawmqtt", "bench"))


def raw_client(ctx, mode, broker, *args):
    """One rawmqtt process; its JSON line is read when it exits."""
    cmd = [ctx.rawmqtt, mode, str(broker.port), *[str(a) for a in args]]
    ctx.log(f"    {broker.name}: {' '.join(cmd)}")
    return subprocess.Popen(pinned("client", cmd), stdout=subprocess.PIPE,
                            text=True)


def raw_result(proc, timeout):
    out, _ = proc.communicate(timeout=timeout)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"rawmqtt exited with {proc.returncode}: {out!r}")
    return json.loads(lines[-1])


def gen_run(ctx, broker, pub, sub):
    """n 64-byte QoS 0 messages through `broker` from publisher `pub` to
    subscriber `sub` (each "rawmqtt" or "bench"): the delivered rate."""
    n, bound = ctx.size["gen_n"], ctx.size["bound"]
    topic = "gen/0"
    if sub == "bench":
        s = ctx.client("sub", broker, ["-t", topic, "-L", n, "--idle-exit", 2,
                                       "--duration", bound + 10, "--delayed-ack"])
        if not s.wait_ready(bound):
            raise RuntimeError("bench sub not ready: " + str(s.terminate()))
    else:
        s = raw_client(ctx, "sub", broker, topic, n)
        if s.stdout.readline().strip() != "ready":
            raise RuntimeError("rawmqtt sub not ready")
    if pub == "bench":
        p = ctx.client("pub", broker, ["-t", topic, "-I", 0, "-s", 64,
                                       "-L", n, "--duration", bound])
        p = p.finish(bound + 15)
        offered, pub_cpu = p.get("send_rate"), p.get("cpu_s")
    else:
        p = raw_result(raw_client(ctx, "pub", broker, topic, n, 64), bound + 30)
        offered, pub_cpu = p["rate"], p["cpu_s"]
    if sub == "bench":
        r = s.finish(bound + 15)
        got, rate_, lost = r.get("received"), r.get("receive_rate"), r.get("lost")
    else:
        r = raw_result(s, bound + 30)
        got, rate_, lost = r["messages"], r["rate"], None
    return {"offered": offered, "received": got, "rate": rate_,
            "pub_cpu_s": pub_cpu, "sub_cpu_s": r.get("cpu_s"), "lost": lost}


# -- 1-4: throughput and latency ---------------------------------------------

def flood_run(ctx, broker):
    n = ctx.size["flood_n"]
    return pubsub(ctx, broker, ["-t", "flood/0"],
                  ["-t", "flood/0", "-I", 0, "-s", 64, "-L", n], n)


def paced_run(ctx, broker):
    n, r = ctx.size["paced_n"], ctx.size["paced_rate"]
    return pubsub(ctx, broker, ["-t", "paced/0"],
                  ["-t", "paced/0", "-r", r, "-s", 64, "-L", n], n, flood=False)


def paced_rows(res):
    rows = []
    for key, label in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"),
                       ("p99_9", "p99.9"), ("max", "max")):
        rows.append((f"latency {label} (lower is better)",
                     {k: r["sub"].get("latency_us", {}).get(key)
                      for k, r in res.items()}, "us"))
    rows += delivery_rows(res, False)[1:]
    return rows


def qos1_run(ctx, broker):
    n = ctx.size["qos1_n"]
    return pubsub(ctx, broker, ["-t", "q1/0", "-q", 1],
                  ["-t", "q1/0", "-q", 1, "--inflight", 32, "-I", 0, "-s", 64,
                   "-L", n], n)


def fanout_run(ctx, broker):
    subs, n = ctx.size["fanout_subs"], ctx.size["fanout_n"]
    r = pubsub(ctx, broker, ["-c", subs, "-t", "fan/out"],
               ["-t", "fan/out", "-I", 0, "-s", 64, "-L", n], subs * n)
    r["fanout"] = subs
    return r


def fanin_run(ctx, broker):
    pubs, n = ctx.size["fanin_pubs"], ctx.size["fanin_n"]
    return pubsub(ctx, broker, ["-t", "fan/in/+"],
                  ["-c", pubs, "-t", "fan/in/%i", "-I", 0, "-s", 64, "-L", n], n)


# -- 5: idle connections -----------------------------------------------------

def raise_nofile(need):
    """Raises the open-files limit (inherited by brokers and clients); the
    limit reached, or None when the hard limit cannot be raised."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    except (ValueError, OSError):
        return None
    return need


def source_addresses(n):
    if n <= MANY:
        return []
    count = n // MANY + 1
    return ["--ifaddr", ",".join(f"127.0.0.{i + 1}" for i in range(count))]


def idle_run_for(n):
    def run(ctx, broker):
        time.sleep(0.5)
        rss0, cpu0 = broker.rss_kb(), broker.cpu()
        holder = ctx.client("sub", broker, ["-c", n, "-t", "idle/%i",
                                            "--duration", ctx.size["hold_bound"],
                                            *source_addresses(n)])
        ready = holder.wait_ready(ctx.size["hold_bound"])
        broker.wait_idle(30)  # let it finish what it acknowledged
        rss1, cpu = broker.rss_kb(), broker.cpu() - cpu0
        s = holder.terminate()
        broker.wait_idle(120)  # every client gone, every session ended
        gone_cpu = broker.cpu() - cpu0 - cpu
        held = s.get("ready", 0)
        return {"ready": ready, "held": held, "rss0": rss0, "rss1": rss1,
                "cpu": cpu, "gone_cpu": gone_cpu,
                "connect_s": s.get("connect_time_s"), "sub": s,
                "per_conn": (rss1 - rss0) * 1024 / held if held else None}
    return run


def idle_rows(res):
    return [
        ("connections held", {k: r["held"] for k, r in res.items()}, "count"),
        ("time to connect + subscribe s",
         {k: r["connect_s"] for k, r in res.items()}, "cpu"),
        ("broker RSS before/after MB",
         {k: f'{r["rss0"] / 1024:.1f} / {r["rss1"] / 1024:.1f}'
          for k, r in res.items()}, "text"),
        ("RSS per connection (lower is better)",
         {k: r["per_conn"] for k, r in res.items()}, "bytes"),
        ("broker CPU s", {k: r["cpu"] for k, r in res.items()}, "cpu"),
        ("broker CPU s when they all disconnect",
         {k: r["gone_cpu"] for k, r in res.items()}, "cpu"),
    ]


# -- 6: wildcard scale -------------------------------------------------------

def wild_run(ctx, broker):
    s = ctx.size
    flood = (["-t", "dev/bench/0/+/status"],
             ["-t", "dev/bench/0/x/status", "-I", 0, "-s", 64, "-L", s["wild_n"]],
             s["wild_n"])
    before = pubsub(ctx, broker, *flood)
    rss0 = broker.rss_kb()
    t0 = time.monotonic()
    holder = ctx.client("sub", broker, [
        "-c", s["wild_conns"], "--filters-per-client", s["wild_per"],
        "-t", "dev/%i/%j/+/status", "--duration", s["hold_bound"] + s["bound"] * 2])
    ready = holder.wait_ready(s["hold_bound"])
    subscribe_s = time.monotonic() - t0
    # A broker may acknowledge a SUBSCRIBE before its routes are in place;
    # measure once it has caught up.
    settled_s = subscribe_s + broker.wait_idle(s["hold_bound"])
    rss1 = broker.rss_kb()
    after = pubsub(ctx, broker, *flood) if ready else {"sub": {}, "pub": {}, "cpu": 0}
    h = holder.terminate()
    return {"before": before, "after": after, "filters": h.get("subscriptions", 0),
            "subscribe_s": subscribe_s if ready else None,
            "settled_s": settled_s if ready else None,
            "rss_per_filter": (rss1 - rss0) * 1024 / max(1, h.get("subscriptions", 0))}


def wild_rows(res):
    def ratio(r):
        a, b = r["after"]["sub"].get("receive_rate"), r["before"]["sub"].get("receive_rate")
        return a / b if a and b else None

    return [
        ("wildcard filters held", {k: r["filters"] for k, r in res.items()}, "count"),
        ("all SUBACKs in s", {k: r["subscribe_s"] for k, r in res.items()}, "cpu"),
        ("broker idle again s", {k: r["settled_s"] for k, r in res.items()}, "cpu"),
        ("broker RSS per filter", {k: r["rss_per_filter"] for k, r in res.items()},
         "bytes"),
        ("delivered msg/s, no filters",
         {k: r["before"]["sub"].get("receive_rate") for k, r in res.items()}, "rate"),
        ("delivered msg/s, with filters",
         {k: r["after"]["sub"].get("receive_rate") for k, r in res.items()}, "rate"),
        ("with/without (target >= 0.8)", {k: ratio(r) for k, r in res.items()},
         "ratio"),
    ]


class Scenario:
    """One row group of the table: `run(ctx, broker)` measures one broker,
    `rows(results)` formats both, `key(result)` ranks repeated runs (the
    median is reported; None: run once), `fds` open files it needs."""

    def __init__(self, sid, title, run, rows, key=None, fds=0):
        self.sid, self.title, self.run, self.rows = sid, title, run, rows
        self.key, self.fds = key, fds


def delivered(r):
    return r.get("sub", {}).get("receive_rate") or 0


def p99(r):
    return r.get("sub", {}).get("latency_us", {}).get("p99") or 0


def wild_ratio(r):
    a = delivered(r.get("after", {}))
    b = delivered(r.get("before", {}))
    return a / b if b else 0


def scenarios(size):
    """The scenarios in the order they run."""
    out = [
        Scenario("1", "QoS 0 flood 1 -> 1, 64 B", flood_run, delivery_rows,
                 delivered),
        Scenario("2", f"QoS 0 paced {size['paced_rate']} msg/s, 64 B",
                 paced_run, paced_rows, p99),
        Scenario("3", "QoS 1 flood 1 -> 1, 64 B, inflight 32", qos1_run,
                 delivery_rows, delivered),
        Scenario("4a", f"fan-out 1 -> {size['fanout_subs']}, QoS 0",
                 fanout_run, fan_rows, delivered),
        Scenario("4b", f"fan-in {size['fanin_pubs']} -> 1, QoS 0", fanin_run,
                 fan_rows, delivered),
    ]
    for n in size["idle"]:
        out.append(Scenario(f"5-{n // 1000}k" if n >= 1000 else f"5-{n}",
                            f"{n} idle connections, one subscription each",
                            idle_run_for(n), idle_rows, fds=n + 4096))
    filters = size["wild_conns"] * size["wild_per"]
    out.append(Scenario("6", f"{filters} wildcard filters (dev/%i/%j/+/status)",
                        wild_run, wild_rows, wild_ratio,
                        fds=size["wild_conns"] + 4096))
    return out
