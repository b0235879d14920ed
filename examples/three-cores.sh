#!/usr/bin/env bash
# Starts three core nodes on this host and joins them into one cluster.
# Distribution ports derive from the names (core1..3 -> 4371..4373, message
# ports 5371..5373); MQTT ports do not (docs/config.md), so each node gets
# its own: 1881..1883, and HTTP (API, dashboard) 18081..18083. Logs, pid files and fresh data directories in
# /tmp/starling-<name>* (see common.sh).
# Stop them with: examples/three-cores.sh stop
set -euo pipefail
. "$(dirname "$0")/common.sh"
nodes=(core1 core2 core3)
if [ "${1:-}" = stop ]; then
  stop_nodes "${nodes[@]}"
  exit 0
fi
start_node core1 1881; start_node core2 1882; start_node core3 1883
for n in "${nodes[@]}"; do await_node "$n"; done
ctl core2 cluster join core1@127.0.0.1
ctl core3 cluster join core1@127.0.0.1
ctl core1 cluster status
echo "MQTT on 127.0.0.1:1881-1883, dashboard on http://127.0.0.1:18081/; stop the nodes with: $0 stop"
