#!/usr/bin/env bash
# Starts 3 cores and 2 replicants on this host. Every node finds the others
# through cluster.static.seeds (no cluster join needed). Distribution ports
# derive from the names: core1..3 -> 4371..4373, repl11/repl12 -> 4381/4382
# (message ports +1000); MQTT ports do not (docs/config.md), so each node
# gets its own: 1881..1885, and HTTP (API, dashboard) 18081..18085. Logs, pid files and fresh data directories in
# /tmp/starling-<name>* (see common.sh).
# Stop them with: examples/cores-and-replicants.sh stop
set -euo pipefail
. "$(dirname "$0")/common.sh"
nodes=(core1 core2 core3 repl11 repl12)
if [ "${1:-}" = stop ]; then
  stop_nodes "${nodes[@]}"
  exit 0
fi
export STARLING_CLUSTER__STATIC__SEEDS=core1@127.0.0.1,core2@127.0.0.1,core3@127.0.0.1
start_node core1 1881 -role core; start_node core2 1882 -role core
start_node core3 1883 -role core
start_node repl11 1884 -role replicant; start_node repl12 1885 -role replicant
for n in "${nodes[@]}"; do await_node "$n"; done
# The seeds join everyone into one cluster: wait until core1 sees all five.
all_running() {
  local status
  status=$(ctl core1 cluster status --json) || return 1
  for n in "${nodes[@]}"; do
    grep -q "\"running_nodes\":\[[^]]*\"$n@127.0.0.1\"" <<<"$status" || return 1
  done
}
await "all five nodes running in core1's cluster status" all_running
ctl repl11 db put kv greeting hello   # forwarded to the sequencer (core1)
ctl core1 cluster status
ctl repl11 rlog status
echo "MQTT on 127.0.0.1:1881-1885; stop the nodes with: $0 stop"
