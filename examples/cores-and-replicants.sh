#!/usr/bin/env bash
# Starts 3 cores and 2 replicants on this host. Every node finds the others
# through cluster.static.seeds (no cluster join needed); each gets its own
# MQTT port (1881-1885) and data directory (/tmp/starling-<name>).
# Distribution ports derive from the names: core1..3 -> 4371..4373,
# repl11/repl12 -> 4381/4382.
# Stop them with: kill $(cat /tmp/starling-*.pid)
set -euo pipefail
bin=${STARLING_BIN:-$(dirname "$0")/../build/tools/starling}
cookie=${COOKIE:-change-me}
export STARLING_CLUSTER__STATIC__SEEDS=core1@127.0.0.1,core2@127.0.0.1,core3@127.0.0.1
start() { # name role mqtt_port
  STARLING_MQTT__LISTENER__TCP=127.0.0.1:$3 STARLING_NODE__DATA_DIR=/tmp/starling-$1 \
    "$bin" -name "$1@127.0.0.1" -role "$2" -cookie "$cookie" 2>"/tmp/starling-$1.log" &
  echo $! >"/tmp/starling-$1.pid"
}
start core1 core 1881; start core2 core 1882; start core3 core 1883
start repl11 replicant 1884; start repl12 replicant 1885
ctl() { "$bin" ctl -node "$1@127.0.0.1" -cookie "$cookie" "${@:2}"; }
for n in core1 core2 core3 repl11 repl12; do   # wait until each node answers
  until ctl $n status >/dev/null 2>&1; do sleep 0.2; done
done
until ctl core1 cluster status --json | grep -q core3 && ctl core1 cluster status --json | grep -q repl12; do
  sleep 0.2
done
ctl repl11 db put kv greeting hello   # forwarded to the sequencer (core1)
ctl core1 cluster status
ctl repl11 rlog status
