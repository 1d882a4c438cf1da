#!/usr/bin/env bash
# The log backends side by side: publish rate and SSE fan-out of one
# tailgate on the embedded RocksDB log (fsync and no-WAL durability) and on
# NATS JetStream (one nats-server, file storage, R1; and a 3-node cluster,
# R3), driven by the same load generator (tests/bench/loadgen.cc) as
# compare.sh. Prints a markdown section for docs/benchmarks.md on stdout
# (progress goes to stderr):
#
#   tests/bench/backends.sh            # ≈ 3 minutes
#   tests/bench/backends.sh --quick    # shorter runs, R1 only
#   tests/bench/backends.sh >>docs/benchmarks.md
#
# Environment: SERVER_CPU (default 1) is the core for every server-side
# process (tailgate and the nats-server(s) share it, so each backend gets the
# same CPU), CLIENT_CPU (default 0) the load generator's; TAILGATE_BIN and
# LOADGEN_BIN (both) skip the build. Needs nats-server (bazel/setup installs
# it). Loopback only; every process started here is stopped here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/report_lib.sh

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
WORK=$(mktemp -d /tmp/tailgate-backends.XXXXXX)
RESULTS=$WORK/results.txt
: >"$RESULTS"
: >"$WORK/commands.txt"
CLK_TCK=$(getconf CLK_TCK)

die() { echo "backends.sh: $*" >&2; exit 1; }
log() { echo "backends.sh: $*" >&2; }
command -v nats-server >/dev/null || die "nats-server not found (run bazel/setup)"

REVISION=${TAILGATE_REVISION:-$(source_revision)}  # compare.sh passes its own (taken before it wrote docs/)
if [ -n "${TAILGATE_BIN:-}" ] && [ -n "${LOADGEN_BIN:-}" ]; then
  cp "$TAILGATE_BIN" "$WORK/tailgate"  # Prebuilt binaries (development).
  cp "$LOADGEN_BIN" "$WORK/loadgen"
else
  log "building (bazel -c opt) ..."
  bazel build -c opt //gateway:tailgate //tests/bench:loadgen >"$WORK/build.log" 2>&1 ||
    { tail -20 "$WORK/build.log" >&2; die "build failed"; }
  # Private copies: other builds may replace bazel-out while this runs.
  cp bazel-out/k8-opt/bin/gateway/tailgate bazel-out/k8-opt/bin/tests/bench/loadgen "$WORK/"
fi
TAILGATE=$WORK/tailgate
LOADGEN=$WORK/loadgen

TG_PID=""       # the gateway
NATS_PIDS=()    # the nats-server(s) of a jetstream backend
HTTP=""
GRPC=""
cleanup() {
  local p
  for p in "$TG_PID" "${NATS_PIDS[@]}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# utime + stime of processes, in clock ticks.
cpu_ticks() {
  local p sum=0
  for p in "$@"; do
    sum=$((sum + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$sum"
}

# start_nats NODES: NODES nats-servers with JetStream (file storage) on
# loopback; one is standalone, more form a cluster with full-mesh routes.
NATS_URL=""
NATS_RUN=0
start_nats() {
  local nodes=$1 i routes="" dir port
  NATS_RUN=$((NATS_RUN + 1))  # a fresh store per run: no history, no old streams
  local -a rports=() mports=()
  NATS_PIDS=()
  NATS_URL=""
  local -a ports
  local picked
  picked=$(free_ports $((2 * nodes))) || exit 1
  mapfile -t ports <<<"$picked"
  rports=("${ports[@]:0:nodes}")
  mports=("${ports[@]:nodes}")
  for p in "${rports[@]}"; do routes+="${routes:+, }nats-route://127.0.0.1:$p"; done
  for ((i = 1; i <= nodes; i++)); do
    dir=$WORK/nats$NATS_RUN-n$i
    mkdir -p "$dir/store"
    {
      echo "server_name: n$i"
      echo "max_payload: 2097152"
      if [ "$nodes" -gt 1 ]; then
        echo "cluster { name: bench, listen: 127.0.0.1:${rports[$((i - 1))]}, routes: [$routes] }"
      fi
    } >"$dir/nats.conf"
    taskset -c "$SERVER_CPU" nats-server -c "$dir/nats.conf" -js -a 127.0.0.1 -p -1 \
      -m "${mports[$((i - 1))]}" -sd "$dir/store" 2>"$dir/log" &
    NATS_PIDS+=($!)
    port=$(wait_line "$dir/log" "Listening for client connections on" | sed 's/.*://')
    NATS_URL+="${NATS_URL:+,}nats://127.0.0.1:$port"
  done
  if [ "$nodes" -gt 1 ]; then
    # Streams with replicas on every node can be created once every node
    # knows the JetStream metadata leader. Asked of each node's /jsz, not
    # read from its log: a node whose routes come up after the election
    # joins without logging the leader (nats-server 2.9.10), and creating an
    # R3 stream before it joined fails with "no suitable peers for placement".
    local m ok _
    for ((i = 1; i <= nodes; i++)); do
      m=${mports[$((i - 1))]}
      ok=0
      for _ in $(seq 600); do
        if curl -s --max-time 1 "http://127.0.0.1:$m/jsz" |
           awk '/"meta_cluster"/ { m = 1 } m && /"leader": "[^"]/ { found = 1 } END { exit !found }'; then
          ok=1
          break
        fi
        sleep 0.1
      done
      [ "$ok" = 1 ] || { cat "$WORK/nats$NATS_RUN-n$i/log" >&2; die "node n$i: no JetStream metadata leader in /jsz"; }
    done
  fi
}

stop_nats() {
  local p
  for p in "${NATS_PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  NATS_PIDS=()
}


stop_tailgate() {
  kill "$TG_PID" 2>/dev/null || true
  wait "$TG_PID" 2>/dev/null || true
  TG_PID=""
}

# backend_flags BACKEND: the gateway flags of a backend (after start_nats
# for the jetstream ones).
backend_flags() {
  case "$1" in
    rocksdb-fsync) echo "--store=rocksdb --durability=fsync --data_dir=$WORK/data.$RANDOM" ;;
    rocksdb-none) echo "--store=rocksdb --durability=none --data_dir=$WORK/data.$RANDOM" ;;
    jetstream-r1) echo "--store=jetstream --nats_url=$NATS_URL --nats_replicas=1" ;;
    jetstream-r3) echo "--store=jetstream --nats_url=$NATS_URL --nats_replicas=3" ;;
  esac
}

# run BACKEND LABEL LOADGEN-ARGS...: a fresh gateway (and NATS), one loadgen
# run, stop. Appends the RESULT line plus the NATS CPU of the run.
run() {
  local backend=$1 label=$2
  shift 2
  case "$backend" in
    jetstream-r1) start_nats 1 ;;
    jetstream-r3) start_nats 3 ;;
  esac
  # shellcheck disable=SC2046  # backend_flags is a word list by design
  launch_tailgate $(backend_flags "$backend")
  echo "$backend: loadgen --label=$label $*" >>"$WORK/commands.txt"
  local nats0=0 nats1=0 line
  [ "${#NATS_PIDS[@]}" -gt 0 ] && nats0=$(cpu_ticks "${NATS_PIDS[@]}")
  if line=$(timeout 300 taskset -c "$CLIENT_CPU" "$LOADGEN" --server=tailgate --http="$HTTP" \
      --grpc="$GRPC" --pid="$TG_PID" --label="$label" "$@" 2>"$WORK/loadgen.err"); then
    [ "${#NATS_PIDS[@]}" -gt 0 ] && nats1=$(cpu_ticks "${NATS_PIDS[@]}")
    echo "$line backend=$backend nats_cpu_s=$(awk -v a="$nats0" -v b="$nats1" -v t="$CLK_TCK" 'BEGIN { print (b - a) / t }')" >>"$RESULTS"
  else
    echo "RESULT backend=$backend label=$label error=1" >>"$RESULTS"
    log "$backend $label failed: $(tail -1 "$WORK/loadgen.err")"
  fi
  stop_tailgate
  stop_nats
  log "$backend $label: $(grep " label=$label " "$RESULTS" | grep "backend=$backend " | tail -1 | cut -c1-160)"
}

if [ "$QUICK" = 1 ]; then
  BACKENDS=(rocksdb-fsync rocksdb-none jetstream-r1)
  INGEST_S=2; F1=200; F100=1000
else
  BACKENDS=(rocksdb-fsync rocksdb-none jetstream-r1 jetstream-r3)
  INGEST_S=5; F1=500; F100=3000
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for b in "${BACKENDS[@]}"; do
  run "$b" ingest --scenario=ingest --seconds="$INGEST_S" --connections=2 --window=1000
  run "$b" fan1 --scenario=fanout --subscribers=1000 --events="$F1" --burst=1
  run "$b" fan100 --scenario=fanout --subscribers=1000 --events="$F100" --burst=100
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# Report.

# get BACKEND LABEL KEY: a field of a RESULT line.
get() { result_field "$RESULTS" backend "$1" "$2" "$3"; }
# per COUNT-KEY CPU-SECONDS: µs of CPU per unit.
per() { awk -v n="$1" -v c="$2" 'BEGIN { if (n == "nan" || c == "nan" || n == 0) print "—"; else printf("%.2f\n", c * 1e6 / n) }'; }
name() {
  case "$1" in
    rocksdb-fsync) echo "RocksDB, \`--durability=fsync\`" ;;
    rocksdb-none) echo "RocksDB, \`--durability=none\`" ;;
    jetstream-r1) echo "JetStream, 1 nats-server, file storage, R1" ;;
    jetstream-r3) echo "JetStream, 3-node cluster, file storage, R3" ;;
  esac
}
# The server CPU of an ingest row: loadgen reports tailgate's µs/event; the
# NATS CPU of the same run is added per acknowledged event.
ingest_row() {
  local b=$1 acked nats
  acked=$(get "$b" ingest acked)
  nats=$(get "$b" ingest nats_cpu_s)
  echo "| $(name "$b") | $(fmt "$(get "$b" ingest acked_per_s)") |" \
    "$(fmt "$(get "$b" ingest server_us_per_event)" 2) |" \
    "$(case "$b" in jetstream*) per "$acked" "$nats" ;; *) echo "—" ;; esac) |"
}
fan_row() {
  local b=$1 l=$2 d nats
  d=$(get "$b" "$l" deliveries)
  nats=$(get "$b" "$l" nats_cpu_s)
  echo "| $(name "$b") | $(fmt "$(get "$b" "$l" deliveries_per_s)") |" \
    "$(fmt "$(get "$b" "$l" server_us_per_delivery)" 2) |" \
    "$(case "$b" in jetstream*) per "$d" "$nats" ;; *) echo "—" ;; esac) |" \
    "$( [ "$(get "$b" "$l" complete)" = 1 ] && echo yes || echo "**no**") |"
}

cat <<EOF
## Backends: embedded RocksDB vs NATS JetStream

Generated by \`tests/bench/backends.sh\`$([ "$QUICK" = 1 ] && echo " --quick (short runs: indicative only)") on $(date -u +"%Y-%m-%d %H:%M UTC"),
tailgate $REVISION (\`bazel build -c opt\`), $(nats-server --version 2>/dev/null | sed 's/^nats-server: //; s/^/nats-server /'),
$(nproc) vCPU ($(lscpu | sed -n 's/^Model name: *//p' | head -1)). One gateway per row, fresh log, 200-byte
events, the same load generator as above. **Every server-side process (tailgate and the
nats-server(s)) is pinned to core $SERVER_CPU**, the load generator to core $CLIENT_CPU: each backend gets
one core in all, so a 3-node cluster shares it four ways and its rates are a floor, not what
three machines would do. CPU columns come from \`/proc/PID/stat\` over the run.

**Load average (1/5/15 min): before $LOAD_BEFORE, after $LOAD_AFTER.** The machine is shared:
above ~1, other work takes CPU from the processes measured, so rates are lower bounds; CPU per
event is the steadier figure.

What an acknowledgement means differs: RocksDB \`fsync\` syncs its WAL before acking;
\`none\` writes no WAL (survives only a clean stop). JetStream acks once the stream leader (R1)
or a quorum of replicas (R3) has the message in its file store; nats-server syncs those files
to disk every 2 minutes by default (\`sync_interval\`), so an R1 ack survives a process crash
but not power loss, and R3 relies on the other replicas for that.

### Publish rate (gRPC \`PublishStream\`, 2 streams × 1,000 in flight, no subscribers)

| backend | acknowledged/s | tailgate CPU µs/event | nats-server CPU µs/event |
|---|---:|---:|---:|
$(for b in "${BACKENDS[@]}"; do ingest_row "$b"; done)

### Fan-out to 1,000 SSE subscribers, one topic

"Single": publish one event, wait until all 1,000 subscribers have it, repeat ($F1 events).
"Bursts": 100 events on one \`PublishStream\`, wait for all of them everywhere, repeat
($F100 events). On JetStream every event reaches the gateway through its one ordered consumer;
the 1,000 deliveries are the gateway's hub, as on RocksDB.

| backend | single: deliveries/s | tailgate CPU µs/delivery | nats-server CPU µs/delivery | complete |
|---|---:|---:|---:|---|
$(for b in "${BACKENDS[@]}"; do fan_row "$b" fan1; done)

| backend | bursts of 100: deliveries/s | tailgate CPU µs/delivery | nats-server CPU µs/delivery | complete |
|---|---:|---:|---:|---|
$(for b in "${BACKENDS[@]}"; do fan_row "$b" fan100; done)

Exact command: \`tests/bench/backends.sh$([ "$QUICK" = 1 ] && echo " --quick")\` (SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU), which runs, each against a fresh
\`taskset -c $SERVER_CPU tailgate --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 --http_threads=1 --max_connections=20000\` plus the backend's flags
(\`--store=rocksdb --durability=fsync|none\`, or \`--store=jetstream --nats_url=... --nats_replicas=1|3\` against
\`nats-server -js -sd DIR\`, clustered with \`cluster { routes: [...] }\` for R3):

\`\`\`
$(sed "s|loadgen|taskset -c $CLIENT_CPU loadgen --server=tailgate|" "$WORK/commands.txt")
\`\`\`
EOF
