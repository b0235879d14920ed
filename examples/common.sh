# Sourced by the example scripts: start nodes in the background, wait for
# each with a bound, stop them. Node <name> keeps its log, pid file and data
# directory in /tmp: starling-<name>.log, starling-<name>.pid, starling-<name>/.
# STARLING_BIN: the binary (default: this checkout's build); COOKIE: the
# cluster cookie (default change-me); WAIT_S: the bound on each wait (20 s).
bin=${STARLING_BIN:-$(dirname "$0")/../build/tools/starling}
cookie=${COOKIE:-change-me}
wait_s=${WAIT_S:-20}
script=$(basename "$0")

fail() {
  echo "$script: $*" >&2
  exit 1
}

# A script that fails half-way stops the nodes it started.
started=()
stop_started() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ ${#started[@]} -gt 0 ]; then
    stop_nodes "${started[@]}" >&2 || true
  fi
  return "$rc"
}
trap stop_started EXIT

ctl() { # name args...
  "$bin" ctl -node "$1@127.0.0.1" -cookie "$cookie" "${@:2}"
}

# A live (not zombie) process running node $2.
is_node() { # pid name
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state:0:1}" != Z ] \
    && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "-name $2@127.0.0.1"
}

start_node() { # name mqtt_port [node options...]
  local name=$1 port=$2 pidfile=/tmp/starling-$1.pid
  shift 2
  [ -x "$bin" ] || fail "no starling binary at $bin (run ./tools/setup, or set STARLING_BIN)"
  if [ -f "$pidfile" ] && is_node "$(cat "$pidfile")" "$name"; then
    fail "$name is already running (pid $(cat "$pidfile")); stop it first: $0 stop"
  fi
  rm -rf "/tmp/starling-$name" # a fresh data directory every time
  # The HTTP API and dashboard: 18081 for MQTT 1881, and so on.
  STARLING_MQTT__LISTENER__TCP=127.0.0.1:$port \
    STARLING_DASHBOARD__LISTENER__HTTP=127.0.0.1:$((port + 16200)) \
    STARLING_NODE__DATA_DIR=/tmp/starling-$name \
    "$bin" -name "$name@127.0.0.1" -cookie "$cookie" "$@" \
    </dev/null >/dev/null 2>"/tmp/starling-$name.log" &
  echo $! >"$pidfile"
  started+=("$name")
}

# Waits until node $1 answers ctl, at most $wait_s seconds; fails at once
# when it has exited. Either way the message names it and shows its log.
await_node() { # name
  local name=$1 pid deadline=$((SECONDS + wait_s))
  pid=$(cat "/tmp/starling-$name.pid")
  until ctl "$name" status >/dev/null 2>&1; do
    if ! is_node "$pid" "$name"; then
      echo "$script: $name@127.0.0.1 exited at start; the end of /tmp/starling-$name.log:" >&2
    elif [ "$SECONDS" -ge "$deadline" ]; then
      echo "$script: $name@127.0.0.1 did not answer within $wait_s s; the end of /tmp/starling-$name.log:" >&2
    else
      sleep 0.2
      continue
    fi
    tail -n 20 "/tmp/starling-$name.log" >&2
    exit 1
  done
}

# Waits until `$@` succeeds, at most $wait_s seconds; $what says for what.
await() { # what command...
  local what=$1 deadline=$((SECONDS + wait_s))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within $wait_s s"
    sleep 0.2
  done
}

# SIGTERM to each node still running, then waits until all have exited.
stop_nodes() { # names...
  local name pid pids=() deadline=$((SECONDS + wait_s))
  started=() # stopping: nothing left to clean up on a failure
  for name in "$@"; do
    [ -f "/tmp/starling-$name.pid" ] || continue
    pid=$(cat "/tmp/starling-$name.pid")
    # The pid file may be stale and its pid reused: check it is our node.
    if is_node "$pid" "$name" && kill "$pid" 2>/dev/null; then
      pids+=("$pid:$name")
    fi
    rm -f "/tmp/starling-$name.pid"
  done
  for entry in "${pids[@]}"; do
    while is_node "${entry%%:*}" "${entry#*:}"; do
      [ "$SECONDS" -lt "$deadline" ] || fail "${entry#*:} (pid ${entry%%:*}) did not stop within $wait_s s"
      sleep 0.1
    done
  done
  echo "stopped: $*"
}
