#!/usr/bin/env bash
# Starts three core nodes on this host and joins them into one cluster.
# Stop them with: kill $(cat /tmp/starling-core*.pid)
set -euo pipefail
bin=${STARLING_BIN:-$(dirname "$0")/../build/tools/starling}
cookie=${COOKIE:-change-me}
for i in 1 2 3; do
  "$bin" -name "core$i@127.0.0.1" -cookie "$cookie" 2>"/tmp/starling-core$i.log" &
  echo $! >"/tmp/starling-core$i.pid"
done
for i in 1 2 3; do   # wait until each node answers
  until "$bin" ctl -node "core$i@127.0.0.1" -cookie "$cookie" status >/dev/null 2>&1; do
    sleep 0.2
  done
done
"$bin" ctl -node core2@127.0.0.1 -cookie "$cookie" cluster join core1@127.0.0.1
"$bin" ctl -node core3@127.0.0.1 -cookie "$cookie" cluster join core1@127.0.0.1
"$bin" ctl -node core1@127.0.0.1 -cookie "$cookie" cluster status
