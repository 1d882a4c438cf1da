#!/usr/bin/env bash
# tailgate vs nchan, side by side, in one run: every scenario against both
# servers, each pinned to the same core, driven by the same load generator
# (tests/bench/loadgen.cc) pinned to another core. Writes docs/benchmarks.md
# (hardware, versions, commands, results, ratios) and docs/bench-*.png.
#
#   tests/bench/compare.sh            # the full run (≈ 15 minutes; longer on a busy machine)
#   tests/bench/compare.sh --quick    # short runs, to try the machinery
#
# Environment: SERVER_CPU (default 1) and CLIENT_CPU (default 0) are the
# cores for the servers and the load generator; OUT (default docs) is where
# the report goes; TAILGATE_BIN, LOADGEN_BIN, FLOOR_BIN and SSE_FLOOR_BIN (all
# four) skip the build. Needs nginx, libnginx-mod-nchan, redis-server and
# gnuplot-nox (bazel/setup installs them). Loopback only; every process
# started here is stopped here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/report_lib.sh

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
OUT=${OUT:-docs}
WORK=$(mktemp -d /tmp/tailgate-compare.XXXXXX)
RESULTS=$WORK/results.txt
: >"$RESULTS"
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so

die() { echo "compare.sh: $*" >&2; exit 1; }
command -v nginx >/dev/null || die "nginx not found (run bazel/setup)"
[ -f "$NCHAN_MODULE" ] || die "$NCHAN_MODULE not found (apt-get install libnginx-mod-nchan)"
command -v gnuplot >/dev/null || die "gnuplot not found (apt-get install gnuplot-nox)"
command -v redis-server >/dev/null || die "redis-server not found (run bazel/setup)"

REVISION=$(source_revision)
if [ -n "${TAILGATE_BIN:-}" ] && [ -n "${LOADGEN_BIN:-}" ] && [ -n "${FLOOR_BIN:-}" ] &&
   [ -n "${SSE_FLOOR_BIN:-}" ]; then
  cp "$TAILGATE_BIN" "$WORK/tailgate"  # Prebuilt binaries (development).
  cp "$LOADGEN_BIN" "$WORK/loadgen"
  cp "$FLOOR_BIN" "$WORK/grpc_floor"
  cp "$SSE_FLOOR_BIN" "$WORK/sse_floor"
else
  echo "compare.sh: building (bazel -c opt) ..."
  bazel build -c opt //gateway:tailgate //tests/bench:loadgen //tests/bench:grpc_floor \
    //tests/bench:sse_floor \
    >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log" >&2; die "build failed"; }
  # Private copies: other builds may replace bazel-out while this runs.
  cp bazel-out/k8-opt/bin/gateway/tailgate bazel-out/k8-opt/bin/tests/bench/loadgen \
    bazel-out/k8-opt/bin/tests/bench/grpc_floor bazel-out/k8-opt/bin/tests/bench/sse_floor "$WORK/"
fi
TAILGATE=$WORK/tailgate
LOADGEN=$WORK/loadgen
FLOOR=$WORK/grpc_floor
SSE_FLOOR=$WORK/sse_floor
ALLOCATOR=$(ldd "$TAILGATE" 2>/dev/null | grep -q libjemalloc &&
  echo "jemalloc $(dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null)" || echo "glibc malloc")

SERVER_PID=""   # Process measured (tailgate, or the nginx worker).
STOP_PID=""     # Process to stop (tailgate, or the nginx master).
HTTP=""
GRPC=""
REDIS_ADDR=""
PUB=""
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
cleanup() {
  if [ -n "$STOP_PID" ]; then kill "$STOP_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

start_tailgate() {
  # POST /v1/publish open for the HTTP ingest rows (loopback only).
  launch_tailgate --data_dir="$WORK/data.$RANDOM" --durability=none --http_publish=open
  STOP_PID=$TG_PID
  SERVER_PID=$TG_PID
}

# The users' default: every acknowledged publish is on disk (WAL fsynced).
start_tailgate_fsync() {
  launch_tailgate --data_dir="$WORK/data.$RANDOM" --durability=fsync
  STOP_PID=$TG_PID
  SERVER_PID=$TG_PID
}

# The durable ingest peer: Redis Streams with every write fsynced before the
# reply (appendonly yes, appendfsync always), data on the same disk as
# tailgate's. Results are labelled server=redis.
start_redis() {
  local dir=$WORK/redis.$RANDOM port
  mkdir -p "$dir"
  port=$(free_ports)
  taskset -c "$SERVER_CPU" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --appendonly yes --appendfsync always --save "" --daemonize no \
    --logfile "$dir/redis.log" &
  STOP_PID=$!
  SERVER_PID=$STOP_PID
  REDIS_ADDR=127.0.0.1:$port
  for _ in $(seq 100); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  HTTP=127.0.0.1:9  # Unused by the ingest scenario.
  GRPC=""
}

# One worker, memory store, a message buffer that holds the replay scenario;
# publisher and EventSource subscriber locations like tailgate's endpoints.
# start_nchan [h2]: with h2, nginx serves the subscribers over HTTP/2 with
# prior knowledge (h2c, the way tailgate's h2 rows are driven) on $HTTP and
# takes the publisher's HTTP/1.1 POSTs on a second port, $PUB.
start_nchan() {
  local dir=$WORK/nchan.$RANDOM port pub_port="" listen
  mkdir -p "$dir/tmp"
  local -a ports
  local picked
  picked=$(free_ports 2) || exit 1
  mapfile -t ports <<<"$picked"
  port=${ports[0]}
  listen="listen 127.0.0.1:$port backlog=4096;"
  if [ "${1:-}" = h2 ]; then
    pub_port=${ports[1]}
    listen="listen 127.0.0.1:$port http2 backlog=4096; listen 127.0.0.1:$pub_port;"
  fi
  cat >"$dir/nginx.conf" <<EOF
load_module $NCHAN_MODULE;
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
# nchan needs more connection slots than sockets (19k subscribers logged
# "20000 worker_connections are not enough"); open files stay at 20000.
events { worker_connections 40000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $dir/tmp;
  nchan_shared_memory_size 512M;
  nchan_message_buffer_length 1000;
  nchan_message_timeout 1h;
  # The h2 rows open 100 streams per connection (nginx's default allows 128).
  http2_max_concurrent_streams 128;
  server {
    $listen
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    location ~ ^/sub/(\w+)\$ {
      nchan_subscriber eventsource;
      nchan_subscriber_first_message newest;
      nchan_channel_id \$1;
    }
    location ~ ^/pub/(\w+)\$ {
      nchan_publisher;
      nchan_channel_id \$1;
    }
  }
}
EOF
  taskset -c "$SERVER_CPU" nginx -c "$dir/nginx.conf" -p "$dir/" &
  STOP_PID=$!
  SERVER_PID=""
  for _ in $(seq 100); do
    SERVER_PID=$(pgrep -P "$STOP_PID" | head -1 || true)
    [ -n "$SERVER_PID" ] && ss -Htln "sport = :$port" | grep -q . && break
    sleep 0.1
  done
  [ -n "$SERVER_PID" ] || { cat "$dir/error.log" >&2; die "nginx did not start"; }
  HTTP=127.0.0.1:$port
  PUB=""
  [ -n "$pub_port" ] && PUB=127.0.0.1:$pub_port
  GRPC=""
}
start_nchan_h2() { start_nchan h2; }

stop_server() {
  kill "$STOP_PID" 2>/dev/null || true
  wait "$STOP_PID" 2>/dev/null || true
  STOP_PID=""
  REDIS_ADDR=""
  PUB=""
}

# The ingest scenario's gRPC floor (tests/bench/grpc_floor.cc): PublishStream
# acked without storing anything. Its results are labelled server=tailgate
# (the loadgen speaks tailgate's API to it), label ingest-floor.
start_grpc_floor() {
  local log=$WORK/grpc_floor.$RANDOM.log
  taskset -c "$SERVER_CPU" "$FLOOR" 2>"$log" &
  STOP_PID=$!
  SERVER_PID=$STOP_PID
  local ready
  ready=$(wait_line "$log" "grpc_floor ready")
  GRPC=${ready#*grpc=}
  HTTP=127.0.0.1:9  # Unused by the ingest scenario.
}
# The fan-out floor (tests/bench/sse_floor.cc): one pre-built frame, one
# send(2) per subscriber, nothing else. The loadgen drives it through nchan's
# API, so its results are labelled server=nchan, label fan1-*-floor.
start_sse_floor() {
  local log=$WORK/sse_floor.$RANDOM.log
  taskset -c "$SERVER_CPU" "$SSE_FLOOR" 2>"$log" &
  STOP_PID=$!
  SERVER_PID=$STOP_PID
  local ready
  ready=$(wait_line "$log" "sse_floor ready")
  HTTP=${ready#*http=}
  GRPC=""
}
# run SERVER LABEL LOADGEN-ARGS...: a fresh server, one loadgen run, stop.
run() {
  local server=$1 label=$2
  shift 2
  "start_$server"
  [ "$server" = grpc_floor ] && server=tailgate
  [ "$server" = sse_floor ] && server=nchan
  [ "$server" = tailgate_fsync ] && server=tailgate
  [ "$server" = nchan_h2 ] && server=nchan
  local args=(--server="$server" --http="$HTTP" --pid="$SERVER_PID" --label="$label" "$@")
  [ -n "$GRPC" ] && args+=(--grpc="$GRPC")
  [ -n "$REDIS_ADDR" ] && args+=(--redis="$REDIS_ADDR")
  [ -n "$PUB" ] && args+=(--pub="$PUB")
  echo "+ loadgen ${args[*]}" | sed "s/ --http=[^ ]*//; s/ --pid=[^ ]*//; s/ --grpc=[^ ]*//; s/ --pub=[^ ]*//" >>"$WORK/commands.txt"
  if ! timeout 300 taskset -c "$CLIENT_CPU" "$LOADGEN" "${args[@]}" >>"$RESULTS" 2>"$WORK/loadgen.err"; then
    echo "RESULT server=$server scenario=failed label=$label error=1 " >>"$RESULTS"
    echo "compare.sh: $server $label failed: $(tail -1 "$WORK/loadgen.err")" >&2
  fi
  stop_server
  grep "label=$label " "$RESULTS" | grep "server=$server " | tail -1 | cut -c1-200 || true
}

both() {
  run tailgate "$@"
  run nchan "$@"
}

if [ "$QUICK" = 1 ]; then
  F1=(300 60); LAT_S=2; IDLE=3000; INGEST_S=2
  FAN_SUBS=(1000 5000); LAT_RATES=(100 1000)
  H2_SUBS=(1000); H2_IDLE=2000
else
  F1=(600 120); LAT_S=4; IDLE=19000; INGEST_S=5
  FAN_SUBS=(1000 2000 5000 10000); LAT_RATES=(100 250 500 1000 2000)
  H2_SUBS=(1000 10000); H2_IDLE=10000
fi

# The targets against a floor, and the storm's absolute one, are measured
# twice more right after their first run, alternating: this VM moves by ±20 %
# from one minute to the next, so those rows report the median of three runs
# (one in --quick).
REPEATS=(2 3)
[ "$QUICK" = 1 ] && REPEATS=()

echo "compare.sh: scenarios (results in $RESULTS)"
# (1) Fan-out: one topic, 200-byte events; single events (publish one, wait
# until every subscriber has it) and bursts of 100.
both fan1-1k --scenario=fanout --subscribers=1000 --events="${F1[0]}" --burst=1
both fan1-5k --scenario=fanout --subscribers=5000 --events="${F1[1]}" --burst=1
run sse_floor fan1-1k-floor --scenario=fanout --subscribers=1000 --events="${F1[0]}" --burst=1
run sse_floor fan1-5k-floor --scenario=fanout --subscribers=5000 --events="${F1[1]}" --burst=1
for k in "${REPEATS[@]}"; do
  run tailgate "fan1-1k-r$k" --scenario=fanout --subscribers=1000 --events="${F1[0]}" --burst=1
  run sse_floor "fan1-1k-floor-r$k" --scenario=fanout --subscribers=1000 --events="${F1[0]}" --burst=1
  run tailgate "fan1-5k-r$k" --scenario=fanout --subscribers=5000 --events="${F1[1]}" --burst=1
  run sse_floor "fan1-5k-floor-r$k" --scenario=fanout --subscribers=5000 --events="${F1[1]}" --burst=1
done
for n in "${FAN_SUBS[@]}"; do
  events=$((2000000 / n)); [ "$QUICK" = 1 ] && events=$((1000000 / n))
  both "fan100-$n" --scenario=fanout --subscribers="$n" --events="$events" --burst=100
done
# (2) Ingest: acknowledged publishes per second, no subscribers.
run tailgate ingest --scenario=ingest --seconds="$INGEST_S" --connections=2 --window=1000
# tailgate's batch API (nchan has none): its best of the shapes tried (2x100, 2x500, 2x750,
# 2x1000, 1x1000, 4x250): 2 connections, one PublishBatch of 500 events in flight each.
run tailgate ingest-batch --scenario=ingest --seconds="$INGEST_S" --connections=2 --batch=500
# Durable ingest, the users' default (--durability=fsync), against Redis Streams
# at appendfsync always: 2 connections, 1,000 in flight each (XADD pipelined).
run tailgate_fsync ingest-fsync --scenario=ingest --seconds="$INGEST_S" --connections=2 --window=1000
run tailgate_fsync ingest-batch-fsync --scenario=ingest --seconds="$INGEST_S" --connections=2 --batch=500
run redis ingest-redis --scenario=ingest --seconds="$INGEST_S" --connections=2 --window=1000
# The floor under any PublishStream server: the same load, acked without storing.
run grpc_floor ingest-floor --scenario=ingest --seconds="$INGEST_S" --connections=2 --window=1000
for k in "${REPEATS[@]}"; do
  run tailgate "ingest-r$k" --scenario=ingest --seconds="$INGEST_S" --connections=2 --window=1000
  run grpc_floor "ingest-floor-r$k" --scenario=ingest --seconds="$INGEST_S" --connections=2 --window=1000
done
# nchan's best of the shapes tried (1x1000, 1x256, 2x256, 2x1000, 4x64, 8x16, 16x32): one
# connection with 1,000 pipelined POSTs.
run nchan ingest --scenario=ingest --seconds="$INGEST_S" --connections=1 --window=1000
# tailgate over HTTP (POST /v1/publish, JSON), nchan's only way in: a connection's requests are
# answered in order, one at a time after its commit, so 16 connections with pipelined requests;
# and {"events":[...]} batches of 500 on 2 connections.
run tailgate ingest-http --scenario=ingest --seconds="$INGEST_S" --connections=16 --window=1000 --publish_http
run tailgate ingest-http-batch --scenario=ingest --seconds="$INGEST_S" --connections=2 --batch=500 --publish_http
# (3) Replay storm: 5,000 clients reconnect at once, 100 events behind.
both storm --scenario=storm --subscribers=5000 --behind=100
for k in "${REPEATS[@]}"; do
  run tailgate "storm-r$k" --scenario=storm --subscribers=5000 --behind=100
done
# (4) Idle connections: memory per connection.
both idle --scenario=idle --subscribers="$IDLE" --topics=1000
# (5) Latency at 1k subscribers, paced publishing (the 1,000 events/s row is the target),
# and the fan-out floor under the same load (one write per event per subscriber, no batching).
for r in "${LAT_RATES[@]}"; do
  both "lat-$r" --scenario=latency --subscribers=1000 --rate="$r" --seconds="$LAT_S"
  run sse_floor "lat-$r-floor" --scenario=latency --subscribers=1000 --rate="$r" --seconds="$LAT_S"
done
# (6) HTTP/2: subscribers as streams, 100 per connection (h2c prior
# knowledge): tailgate's own HTTP/2 and nginx's HTTP/2 in front of nchan;
# tailgate's HTTP/1.1 rows of (1) are the third column.
for n in "${H2_SUBS[@]}"; do
  events=$((2000000 / n)); [ "$QUICK" = 1 ] && events=$((1000000 / n))
  run tailgate "fan100-h2-$n" --scenario=fanout --subscribers="$n" --events="$events" --burst=100 \
    --h2_connections=$((n / 100))
  run nchan_h2 "fan100-h2-$n" --scenario=fanout --subscribers="$n" --events="$events" --burst=100 \
    --h2_connections=$((n / 100))
done
run tailgate idle-h2 --scenario=idle --subscribers="$H2_IDLE" --topics=1000 --h2_connections=100
run nchan_h2 idle-h2 --scenario=idle --subscribers="$H2_IDLE" --topics=1000 --h2_connections=100
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# Report.

# get SERVER LABEL KEY: a field of a RESULT line.
get() { result_field "$RESULTS" server "$1" "$2" "$3"; }
# Two decimals, three for ratios below 0.1 (so a tiny ratio does not print as 0.00×).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "—"; else if (a / b < 0.1) printf("%.3f×\n", a / b); else printf("%.2f×\n", a / b) }'; }
verdict() {  # verdict RATIO-TEXT TARGET
  awk -v r="${1%×}" -v t="$2" 'BEGIN { if (r == "—") print "—"; else if (r + 0 >= t) print "met"; else print "**missed**" }'
}

mkdir -p "$OUT"
{
  printf "# subscribers tailgate_dps nchan_dps tailgate_dpcpu nchan_dpcpu\n"
  for n in "${FAN_SUBS[@]}"; do
    echo "$n $(get tailgate fan100-$n deliveries_per_s) $(get nchan fan100-$n deliveries_per_s)" \
      "$(get tailgate fan100-$n deliveries_per_cpu_s) $(get nchan fan100-$n deliveries_per_cpu_s)"
  done
} >"$WORK/fanout.dat"
{
  printf "# rate deliveries_per_s tg_p50 tg_p99 nchan_p50 nchan_p99 floor_p99\n"
  for r in "${LAT_RATES[@]}"; do
    echo "$((r * 1000)) $(get tailgate lat-$r p50_ms) $(get tailgate lat-$r p99_ms)" \
      "$(get nchan lat-$r p50_ms) $(get nchan lat-$r p99_ms) $(get nchan lat-$r-floor p99_ms)"
  done
} >"$WORK/latency.dat"
{
  # The third column picks the colour: tailgate at none, at fsync, over HTTP; the floor; the peers.
  printf "# setup acknowledged_events_per_s colour\n"
  echo "\"tailgate none, 1/request\" $(get tailgate ingest acked_per_s) 1"
  echo "\"tailgate none, batches\" $(get tailgate ingest-batch acked_per_s) 1"
  echo "\"tailgate fsync, 1/request\" $(get tailgate ingest-fsync acked_per_s) 2"
  echo "\"tailgate fsync, batches\" $(get tailgate ingest-batch-fsync acked_per_s) 2"
  echo "\"tailgate HTTP, 1/request\" $(get tailgate ingest-http acked_per_s) 3"
  echo "\"tailgate HTTP, batches\" $(get tailgate ingest-http-batch acked_per_s) 3"
  echo "\"gRPC floor\" $(get tailgate ingest-floor acked_per_s) 4"
  echo "\"nchan (memory)\" $(get nchan ingest acked_per_s) 5"
  echo "\"Redis (fsync always)\" $(get redis ingest-redis acked_per_s) 5"
} >"$WORK/ingest.dat"
gnuplot <<EOF
set terminal pngcairo size 900,540 font "sans,11"
set grid
set key top left
set output "$OUT/bench-fanout.png"
set title "Fan-out, bursts of 100 events (200 B), one topic; server pinned to one core"
set xlabel "subscribers"
set ylabel "deliveries per second"
set yrange [0:*]
set logscale x
set xrange [700:14000]
set xtics (1000, 2000, 5000, 10000)
plot "$WORK/fanout.dat" using 1:2 with linespoints lw 2 title "tailgate: deliveries/s (wall clock)", \
     "" using 1:3 with linespoints lw 2 title "nchan: deliveries/s (wall clock)", \
     "" using 1:4 with linespoints lw 2 dt 2 title "tailgate: deliveries per server CPU-second", \
     "" using 1:5 with linespoints lw 2 dt 2 title "nchan: deliveries per server CPU-second"
set output "$OUT/bench-latency.png"
set title "Publish-to-receive latency, 1,000 subscribers, paced publishing"
set xlabel "offered load (deliveries per second = events/s × 1,000)"
set ylabel "latency (ms, log scale)"
set yrange [*:*]
set xrange [*:*]
set logscale xy
set xtics auto
set format x "%.0f"
plot "$WORK/latency.dat" using 1:2 with linespoints lw 2 title "tailgate p50", \
     "" using 1:3 with linespoints lw 2 title "tailgate p99", \
     "" using 1:4 with linespoints lw 2 dt 2 title "nchan p50", \
     "" using 1:5 with linespoints lw 2 dt 2 title "nchan p99", \
     "" using 1:6 with linespoints lw 1 dt 3 lc rgb "black" title "fan-out floor p99"
set output "$OUT/bench-ingest.png"
set title "Ingest by durability and peer (200 B events, server on one core)"
unset logscale
set xlabel ""
set ylabel "acknowledged events per second"
set yrange [0:*]
set xrange [-0.6:8.6]
set key off
set bmargin 8
set boxwidth 0.7
set style fill solid 0.85 border -1
set xtics rotate by -30 scale 0 nomirror
plot "$WORK/ingest.dat" using 0:2:3:xtic(1) with boxes lc variable
EOF

T=tailgate
N=nchan
r_f1_1k=$(ratio "$(get $T fan1-1k deliveries_per_cpu_s)" "$(get $N fan1-1k deliveries_per_cpu_s)")
r_f1_5k=$(ratio "$(get $T fan1-5k deliveries_per_cpu_s)" "$(get $N fan1-5k deliveries_per_cpu_s)")
# median VALUE...: the middle one (of one or three; "—" and nan left out, a
# failed run's; nan when none is left).
median() {
  printf "%s\n" "$@" | sed 's/×$//' | grep -E '^[0-9.]+$' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
                              else printf("%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# pairs A-LABEL A-SERVER B-LABEL B-SERVER FIELD: the ratio A/B of the first run
# and of each alternating repeat (section 7), comma-separated.
pairs() {
  local out
  out=$(ratio "$(get "$2" "$1" "$5")" "$(get "$4" "$3" "$5")")
  for k in "${REPEATS[@]}"; do
    out="$out, $(ratio "$(get "$2" "$1-r$k" "$5")" "$(get "$4" "$3-r$k" "$5")")"
  done
  echo "$out"
}
# The median of pairs' ratios, as a ratio.
median_ratio() { local m; m=$(median $(echo "$1" | tr -d ',')); [ "$m" = nan ] && echo "—" || echo "$m×"; }
# Against the floor: tailgate's server CPU per delivery / the floor's (lower is better).
p_floor_1k=$(pairs fan1-1k $T fan1-1k-floor $N server_us_per_delivery)
p_floor_5k=$(pairs fan1-5k $T fan1-5k-floor $N server_us_per_delivery)
r_floor_1k=$(median_ratio "$p_floor_1k")
r_floor_5k=$(median_ratio "$p_floor_5k")
at_most() {  # at_most RATIO-TEXT TARGET
  awk -v r="${1%×}" -v t="$2" 'BEGIN { if (r == "—" || r == "nan") print "—"; else if (r + 0 <= t) print "met"; else print "**missed**" }'
}
r_f100_1k=$(ratio "$(get $T fan100-1000 deliveries_per_cpu_s)" "$(get $N fan100-1000 deliveries_per_cpu_s)")
r_f100_5k=$(ratio "$(get $T fan100-5000 deliveries_per_cpu_s)" "$(get $N fan100-5000 deliveries_per_cpu_s)")
r_ingest=$(ratio "$(get $T ingest acked_per_s)" "$(get $N ingest acked_per_s)")
r_ingest_cpu=$(ratio "$(get $N ingest server_us_per_event)" "$(get $T ingest server_us_per_event)")
r_ingest_batch=$(ratio "$(get $T ingest-batch acked_per_s)" "$(get $N ingest acked_per_s)")
r_redis_one=$(ratio "$(get $T ingest-fsync acked_per_s)" "$(get redis ingest-redis acked_per_s)")
r_redis_batch=$(ratio "$(get $T ingest-batch-fsync acked_per_s)" "$(get redis ingest-redis acked_per_s)")
# What bounds the first: a PublishStream server that stores nothing, against Redis.
r_redis_floor=$(ratio "$(get $T ingest-floor acked_per_s)" "$(get redis ingest-redis acked_per_s)")
p_none_floor=$(pairs ingest $T ingest-floor $T acked_per_s)
r_none_floor=$(median_ratio "$p_none_floor")
storm_runs="$(get $T storm seconds)"
for k in "${REPEATS[@]}"; do storm_runs="$storm_runs $(get $T "storm-r$k" seconds)"; done
storm_median=$(median $storm_runs)
r_ingest_floor=$(ratio "$(get $T ingest-floor acked_per_s)" "$(get $N ingest acked_per_s)")
r_storm=$(ratio "$(get $N storm seconds)" "$(get $T storm seconds)")
r_idle=$(ratio "$(get $T idle rss_per_conn_bytes)" "$(get $N idle rss_per_conn_bytes)")
r_lat=$(ratio "$(get $T lat-1000 p99_ms)" "$(get $N lat-1000 p99_ms)")
idle_verdict=$(awk -v r="${r_idle%×}" 'BEGIN { if (r == "—") print "—"; else if (r + 0 <= 0.5) print "met"; else print "**missed**" }')
lat_verdict=$(awk -v r="${r_lat%×}" 'BEGIN { if (r == "—") print "—"; else if (r + 0 <= 1) print "met"; else print "**missed**" }')

row_fan() {  # row_fan LABEL TITLE
  echo "| $2 | $(fmt "$(get $T "$1" deliveries_per_s)") | $(fmt "$(get $N "$1" deliveries_per_s)") |" \
    "$(fmt "$(get $T "$1" server_us_per_delivery)" 2) | $(fmt "$(get $N "$1" server_us_per_delivery)" 2) |" \
    "$(ratio "$(get $T "$1" deliveries_per_cpu_s)" "$(get $N "$1" deliveries_per_cpu_s)") |" \
    "$(fmt "$(get $T "$1" loadgen_cpu_pct)") / $(fmt "$(get $N "$1" loadgen_cpu_pct)") |"
}

{
  cat <<EOF
# Benchmarks: tailgate and nchan side by side

Generated by \`tests/bench/compare.sh\`$([ "$QUICK" = 1 ] && echo " --quick (short runs: indicative only)") on $(date -u +"%Y-%m-%d %H:%M UTC").
Both servers ran one after the other in the same run, each **pinned to core $SERVER_CPU**
(\`taskset -c $SERVER_CPU\`), with the same load generator (\`tests/bench/loadgen.cc\`) pinned to core
$CLIENT_CPU. Every row starts a fresh server. How to read the numbers, what was profiled and fixed,
and what remains: see "Notes" below.

## Machine and versions

| | |
|---|---|
| CPU | $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU ($(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1) guest) |
| memory | $(free -g | awk '/^Mem:/ {print $2}') GiB |
| kernel | $(uname -r) |
| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |
| tailgate | $REVISION, \`bazel build -c opt\`, \`--durability=none --http_threads=1\`, allocator: $ALLOCATOR |
| nchan | nginx $(nginx -v 2>&1 | sed 's|.*nginx/||'), libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null), 1 worker, memory store |
| compiler | $(gcc --version | head -1) |
| load average (1/5/15 min) | before $LOAD_BEFORE, after $LOAD_AFTER |

The machine is shared: when the load average is above ~1, other processes take CPU time from
both servers and the load generator, so wall-clock rates (deliveries/s, seconds) are lower
bounds and vary between runs; CPU time per delivery, measured from \`/proc/PID/stat\`, is the
steadier figure and is what the fan-out targets compare.

## Results

### Ratios (tailgate / nchan, this run)

| scenario | measure | ratio | target | |
|---|---|---:|---:|---|
| fan-out 1k subscribers, single events | deliveries per server CPU-second | $r_f1_1k | ≥ 1× | $(verdict "$r_f1_1k" 1) |
| fan-out 5k subscribers, single events | deliveries per server CPU-second | $r_f1_5k | ≥ 1× | $(verdict "$r_f1_5k" 1) |
| fan-out 1k subscribers, single events, **tailgate / floor** | server CPU per delivery, median of alternating runs ($p_floor_1k) | $r_floor_1k | ≤ 1.15× | $(at_most "$r_floor_1k" 1.15) |
| fan-out 5k subscribers, single events, **tailgate / floor** | server CPU per delivery, median of alternating runs ($p_floor_5k) | $r_floor_5k | ≤ 1.15× | $(at_most "$r_floor_5k" 1.15) |
| fan-out 1k subscribers, bursts of 100 | deliveries per server CPU-second | $r_f100_1k | ≥ 2× | $(verdict "$r_f100_1k" 2) |
| fan-out 5k subscribers, bursts of 100 | deliveries per server CPU-second | $r_f100_5k | ≥ 2× | $(verdict "$r_f100_5k" 2) |
| ingest, one event per request | acknowledged publishes/s | $r_ingest | ≥ 3× | $(verdict "$r_ingest" 3) |
| ingest, one event per request | publishes per server CPU-second | $r_ingest_cpu | — | |
| ingest, tailgate batches of 500 vs nchan's best | acknowledged events/s | $r_ingest_batch | ≥ 3× | $(verdict "$r_ingest_batch" 3) |
| ingest, gRPC floor (acks only, stores nothing) | acknowledged publishes/s | $r_ingest_floor | (bound) | |
| **durable** ingest, one event per request, tailgate \`fsync\` / Redis \`XADD\` (\`appendfsync always\`) | acknowledged publishes/s | $r_redis_one | ≥ 1.2× | $(verdict "$r_redis_one" 1.2) |
| **durable** ingest, tailgate \`PublishBatch\` of 500 at \`fsync\` / Redis | acknowledged events/s | $r_redis_batch | ≥ 2× | $(verdict "$r_redis_batch" 2) |
| ingest, one event per request, gRPC floor (stores nothing) / Redis | acknowledged publishes/s | $r_redis_floor | (bound) | |
| ingest at \`none\`, one event per request / the gRPC floor | acknowledged publishes/s, median of alternating runs ($p_none_floor) | $r_none_floor | ≥ 0.8× | $(verdict "$r_none_floor" 0.8) |
| ingest over HTTP, one event per request | acknowledged publishes/s | $(ratio "$(get $T ingest-http acked_per_s)" "$(get $N ingest acked_per_s)") | — | |
| ingest over HTTP, tailgate batches of 500 vs nchan's best | acknowledged events/s | $(ratio "$(get $T ingest-http-batch acked_per_s)" "$(get $N ingest acked_per_s)") | — | |
| replay storm, 5k clients 100 behind | speed (nchan time / tailgate time) | $r_storm | ≥ 2× | $(verdict "$r_storm" 2) |
| 19k idle connections | server RSS per connection | $r_idle | ≤ 0.5× | $idle_verdict |
| latency, 1k subscribers × 1k events/s | p99 | $r_lat | ≤ 1× | $lat_verdict |
| replay storm, 5k clients 100 behind, tailgate | all caught up after, median of runs ($(for v in $storm_runs; do printf "%s " "$(fmt "$v" 3)"; done | sed 's/ $//; s/ /, /g') s) | $(fmt "$storm_median" 3) s | ≤ 0.5 s | $(at_most "$storm_median" 0.5) |
| $IDLE idle SSE connections, tailgate | server RSS per connection | $(fmt "$(get $T idle rss_per_conn_bytes)") B | ≤ 2,048 B | $(at_most "$(get $T idle rss_per_conn_bytes)" 2048) |
| latency, 1k subscribers × 100 events/s (below saturation), tailgate | p99 | $(fmt "$(get $T lat-100 p99_ms)" 2) ms | ≤ 5 ms | $(at_most "$(get $T lat-100 p99_ms)" 5) |
| latency, 1k subscribers × 100 events/s, **bound**: 990 writes × the floor's µs per delivery (fan-out 1k) | p99 | $(awk -v u="$(get $N fan1-1k-floor server_us_per_delivery)" 'BEGIN { if (u == "nan") print "—"; else printf("%.2f\n", 990 * u / 1000) }') ms | (bound) | |
| latency, 1k subscribers × 100 events/s, the fan-out floor itself under the same load (measured) | p99 | $(fmt "$(get $N lat-100-floor p99_ms)" 2) ms | (bound) | |
$(for n in "${H2_SUBS[@]}"; do
  r=$(ratio "$(get $T fan100-h2-$n deliveries_per_cpu_s)" "$(get $N fan100-h2-$n deliveries_per_cpu_s)")
  echo "| HTTP/2 fan-out, $n streams over $((n / 100)) connections, tailgate / nginx h2 + nchan | deliveries per server CPU-second | $r | ≥ 1× | $(verdict "$r" 1) |"
done)
| HTTP/2 idle streams ($H2_IDLE over 100 connections), tailgate | server RSS per stream | $(fmt "$(get $T idle-h2 rss_per_conn_bytes)") B | ≤ 1,024 B | $(awk -v b="$(get $T idle-h2 rss_per_conn_bytes)" 'BEGIN { if (b == "" || b == "nan") print "—"; else if (b + 0 <= 1024) print "met"; else print "**missed**" }') |

### (1) Fan-out: one topic, 200-byte events

"Single": publish one event, wait until every subscriber has it, repeat. "Bursts": 100 events
published back to back (tailgate: 100 requests on one \`PublishStream\`; nchan: 100 pipelined
POSTs on one connection), wait until every subscriber has all of them, repeat.

| run | tailgate deliveries/s | nchan deliveries/s | tailgate server µs/delivery | nchan server µs/delivery | ratio per CPU-s | loadgen CPU % (tg / nchan) |
|---|---:|---:|---:|---:|---:|---:|
$(row_fan fan1-1k "1k subscribers, single events")
$(row_fan fan1-5k "5k subscribers, single events")
$(for n in "${FAN_SUBS[@]}"; do row_fan "fan100-$n" "$n subscribers, bursts of 100"; done)

![deliveries/s vs subscribers](bench-fanout.png)

### (2) Ingest: maximum acknowledged publish rate (no subscribers)

tailgate: 2 \`PublishStream\`s, up to 1,000 unacknowledged requests each, \`--durability=none\`
(nchan's memory store keeps nothing on disk either). nchan: one keep-alive connection with up to
1,000 pipelined \`POST /pub/CHANNEL\` (its best of the shapes tried: 1–16 connections, 16–1,000
in flight each). 200-byte events.

"tailgate, batches": the same events through \`PublishBatch\`, 500 events per call, one call in
flight on each of 2 connections (its best of the shapes tried: 1–4 connections, 100–1,000 events
per call; every event still gets its own id and acknowledgement in the response). nchan has no
batch API; its column is the single-request figure.

"gRPC floor": the one-per-request load against \`tests/bench/grpc_floor\`, a \`PublishStream\`
server on the same gRPC library and callback API that acknowledges each request with an id and
does nothing else (no parsing, validation, storage or fan-out). It bounds what any gRPC
\`PublishStream\` server reaches per request on this core.

| | tailgate, one per request | tailgate, batches of 500 | gRPC floor | nchan |
|---|---:|---:|---:|---:|
| acknowledged events/s | $(fmt "$(get $T ingest acked_per_s)") | $(fmt "$(get $T ingest-batch acked_per_s)") | $(fmt "$(get $T ingest-floor acked_per_s)") | $(fmt "$(get $N ingest acked_per_s)") |
| server µs per event | $(fmt "$(get $T ingest server_us_per_event)" 2) | $(fmt "$(get $T ingest-batch server_us_per_event)" 2) | $(fmt "$(get $T ingest-floor server_us_per_event)" 2) | $(fmt "$(get $N ingest server_us_per_event)" 2) |
| server CPU % | $(fmt "$(get $T ingest server_cpu_pct)") | $(fmt "$(get $T ingest-batch server_cpu_pct)") | $(fmt "$(get $T ingest-floor server_cpu_pct)") | $(fmt "$(get $N ingest server_cpu_pct)") |
| load generator CPU % | $(fmt "$(get $T ingest loadgen_cpu_pct)") | $(fmt "$(get $T ingest-batch loadgen_cpu_pct)") | $(fmt "$(get $T ingest-floor loadgen_cpu_pct)") | $(fmt "$(get $N ingest loadgen_cpu_pct)") |

Over HTTP, both servers' publish API on the same footing: tailgate's \`POST /v1/publish\` (JSON
body, same validation and acknowledgement as gRPC) and nchan's \`POST /pub/CHANNEL\`. tailgate
answers a connection's requests in order, one at a time after its commit, so it gets 16
connections with pipelined requests; "batches" are \`{"events":[...]}\` bodies of 500 events on 2
connections.

| | tailgate HTTP, one per request | tailgate HTTP, batches of 500 | nchan |
|---|---:|---:|---:|
| acknowledged events/s | $(fmt "$(get $T ingest-http acked_per_s)") | $(fmt "$(get $T ingest-http-batch acked_per_s)") | $(fmt "$(get $N ingest acked_per_s)") |
| server µs per event | $(fmt "$(get $T ingest-http server_us_per_event)" 2) | $(fmt "$(get $T ingest-http-batch server_us_per_event)" 2) | $(fmt "$(get $N ingest server_us_per_event)" 2) |
| server CPU % | $(fmt "$(get $T ingest-http server_cpu_pct)") | $(fmt "$(get $T ingest-http-batch server_cpu_pct)") | $(fmt "$(get $N ingest server_cpu_pct)") |

Durable, the users' default: tailgate at \`--durability=fsync\` (an event is acknowledged after
the WAL write of its group commit was fsynced) against Redis Streams with \`appendonly yes\`,
\`appendfsync always\` (a reply after the append-only file was fsynced); \`XADD\` pipelined
through hiredis, 2 connections with up to 1,000 in flight each; both on the same disk. The gRPC
floor column is the one above: no \`PublishStream\` server, durable or not, acknowledges one
event per request faster on this core.

| | tailgate \`fsync\`, one per request | tailgate \`fsync\`, batches of 500 | Redis \`XADD\`, \`appendfsync always\` | gRPC floor |
|---|---:|---:|---:|---:|
| acknowledged events/s | $(fmt "$(get $T ingest-fsync acked_per_s)") | $(fmt "$(get $T ingest-batch-fsync acked_per_s)") | $(fmt "$(get redis ingest-redis acked_per_s)") | $(fmt "$(get $T ingest-floor acked_per_s)") |
| server µs per event | $(fmt "$(get $T ingest-fsync server_us_per_event)" 2) | $(fmt "$(get $T ingest-batch-fsync server_us_per_event)" 2) | $(fmt "$(get redis ingest-redis server_us_per_event)" 2) | $(fmt "$(get $T ingest-floor server_us_per_event)" 2) |
| server CPU % | $(fmt "$(get $T ingest-fsync server_cpu_pct)") | $(fmt "$(get $T ingest-batch-fsync server_cpu_pct)") | $(fmt "$(get redis ingest-redis server_cpu_pct)") | $(fmt "$(get $T ingest-floor server_cpu_pct)") |
| load generator CPU % | $(fmt "$(get $T ingest-fsync loadgen_cpu_pct)") | $(fmt "$(get $T ingest-batch-fsync loadgen_cpu_pct)") | $(fmt "$(get redis ingest-redis loadgen_cpu_pct)") | $(fmt "$(get $T ingest-floor loadgen_cpu_pct)") |

![ingest by durability and peer](bench-ingest.png)

### (3) Replay storm: 5,000 clients reconnect at once, 100 events behind

Each client sends \`Last-Event-ID\` of the event 100 before the newest (tailgate: the integer id;
nchan: its \`time:tag\` id); measured from the first connect until every client has received the
newest event.

| | tailgate | nchan |
|---|---:|---:|
| all caught up after (s) | $(fmt "$(get $T storm seconds)" 3) | $(fmt "$(get $N storm seconds)" 3) |
| all connected after (s) | $(fmt "$(get $T storm all_connected_s)" 3) | $(fmt "$(get $N storm all_connected_s)" 3) |
| deliveries (expected $(get $T storm expected)) | $(get $T storm deliveries) | $(get $N storm deliveries) |
| server CPU (s) | $(fmt "$(get $T storm server_cpu_s)" 2) | $(fmt "$(get $N storm server_cpu_s)" 2) |
| connect/read errors | $(get $T storm errors) | $(get $N storm errors) |

### (4) Idle connections: $IDLE SSE streams over 1,000 topics

| | tailgate | nchan (worker) |
|---|---:|---:|
| RSS before (MiB) | $(fmt "$(get $T idle rss_before_mb)" 1) | $(fmt "$(get $N idle rss_before_mb)" 1) |
| RSS with all connected (MiB) | $(fmt "$(get $T idle rss_after_mb)" 1) | $(fmt "$(get $N idle rss_after_mb)" 1) |
| RSS per connection (bytes) | $(fmt "$(get $T idle rss_per_conn_bytes)") | $(fmt "$(get $N idle rss_per_conn_bytes)") |
| server CPU while idle (%) | $(fmt "$(get $T idle idle_server_cpu_pct)" 1) | $(fmt "$(get $N idle idle_server_cpu_pct)" 1) |
| time to connect all (s) | $(fmt "$(get $T idle connect_s)" 2) | $(fmt "$(get $N idle connect_s)" 2) |

### (5) Latency: 1,000 subscribers, events published at a fixed rate

Each event's data starts with its publish time (\`CLOCK_MONOTONIC\`, same machine); the subscriber
subtracts it on arrival. $LAT_S s of publishing per row, every delivery counted.

"Floor": the same load against the fan-out floor (\`tests/bench/sse_floor\`): each event written
to each subscriber as it comes, one pre-built frame and one \`send(2)\` each, nothing else. Below
saturation its latency is what the kernel's cost per delivery alone gives (the last of 1,000
subscribers gets an event ≈ 1,000 writes after the first); above it the floor falls behind, as
it never gathers several events into one write, which tailgate does.

| events/s | deliveries/s offered | tailgate p50 / p99 / p99.9 (ms) | nchan p50 / p99 / p99.9 (ms) | floor p50 / p99 / p99.9 (ms) | server CPU % (tg / nchan / floor) |
|---:|---:|---:|---:|---:|---:|
$(for r in "${LAT_RATES[@]}"; do
  F="lat-$r-floor"
  echo "| $r | $((r * 1000)) | $(fmt "$(get $T lat-$r p50_ms)" 2) / $(fmt "$(get $T lat-$r p99_ms)" 2) / $(fmt "$(get $T lat-$r p999_ms)" 2) |" \
    "$(fmt "$(get $N lat-$r p50_ms)" 2) / $(fmt "$(get $N lat-$r p99_ms)" 2) / $(fmt "$(get $N lat-$r p999_ms)" 2) |" \
    "$(fmt "$(get $N "$F" p50_ms)" 2) / $(fmt "$(get $N "$F" p99_ms)" 2) / $(fmt "$(get $N "$F" p999_ms)" 2) |" \
    "$(fmt "$(get $T lat-$r server_cpu_pct)") / $(fmt "$(get $N lat-$r server_cpu_pct)") / $(fmt "$(get $N "$F" server_cpu_pct)") |"
done)

![latency vs load](bench-latency.png)

### (6) HTTP/2: subscribers as streams, 100 per connection

Subscribers are HTTP/2 streams (h2c with prior knowledge), 100 per connection, bursts of 100
events as in (1). tailgate serves HTTP/2 itself; nchan is served over HTTP/2 by the nginx it
runs in (\`listen ... http2\`); tailgate's HTTP/1.1 column is the same load with a connection per
subscriber (rows of (1)).

| subscribers | tailgate h2 deliveries per CPU-s | tailgate HTTP/1.1 | nginx h2 + nchan | tailgate h2 / HTTP/1.1 | tailgate h2 / nginx h2 | loadgen CPU % (tg / nginx) |
|---:|---:|---:|---:|---:|---:|---:|
$(for n in "${H2_SUBS[@]}"; do
  echo "| $n | $(fmt "$(get $T fan100-h2-$n deliveries_per_cpu_s)") | $(fmt "$(get $T fan100-$n deliveries_per_cpu_s)") |" \
    "$(fmt "$(get $N fan100-h2-$n deliveries_per_cpu_s)") |" \
    "$(ratio "$(get $T fan100-h2-$n deliveries_per_cpu_s)" "$(get $T fan100-$n deliveries_per_cpu_s)") |" \
    "$(ratio "$(get $T fan100-h2-$n deliveries_per_cpu_s)" "$(get $N fan100-h2-$n deliveries_per_cpu_s)") |" \
    "$(fmt "$(get $T fan100-h2-$n loadgen_cpu_pct)") / $(fmt "$(get $N fan100-h2-$n loadgen_cpu_pct)") |"
done)

Idle: $H2_IDLE streams over 100 connections and 1,000 topics.

| | tailgate | nginx h2 + nchan (worker) |
|---|---:|---:|
| RSS per stream (bytes; target ≤ 1,024 for tailgate) | $(fmt "$(get $T idle-h2 rss_per_conn_bytes)") | $(fmt "$(get $N idle-h2 rss_per_conn_bytes)") |
| RSS with all connected (MiB) | $(fmt "$(get $T idle-h2 rss_after_mb)" 1) | $(fmt "$(get $N idle-h2 rss_after_mb)" 1) |
| time to connect all (s) | $(fmt "$(get $T idle-h2 connect_s)" 2) | $(fmt "$(get $N idle-h2 connect_s)" 2) |

## Exact commands

\`\`\`
tests/bench/compare.sh$([ "$QUICK" = 1 ] && echo " --quick")
\`\`\`

which builds \`bazel build -c opt //gateway:tailgate //tests/bench:loadgen //tests/bench:grpc_floor\` and runs, each against a
fresh server (\`--http\`, \`--grpc\` and \`--pid\` filled in per run):

\`\`\`
taskset -c $SERVER_CPU tailgate --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 --http_threads=1 --max_connections=20000 --data_dir=DIR --durability=none
taskset -c $SERVER_CPU nginx -c DIR/nginx.conf -p DIR/     # config: see start_nchan in tests/bench/compare.sh
taskset -c $SERVER_CPU grpc_floor                          # the ingest-floor run only
$(sed "s|^+ loadgen|taskset -c $CLIENT_CPU loadgen|" "$WORK/commands.txt")
\`\`\`

## Notes

EOF
  cat tests/bench/benchmarks_notes.md
} >"$OUT/benchmarks.md"

cp "$RESULTS" "$OUT/bench-results.txt"
echo "compare.sh: wrote $OUT/benchmarks.md, $OUT/bench-fanout.png, $OUT/bench-latency.png, $OUT/bench-ingest.png, $OUT/bench-results.txt"
# Last: tailgate's log backends side by side (embedded RocksDB vs NATS
# JetStream), with the same binaries and cores, appended to the report. A
# failure there leaves the report above intact.
echo "compare.sh: backends (tests/bench/backends.sh) ..."
TAILGATE_REVISION=$REVISION TAILGATE_BIN=$TAILGATE LOADGEN_BIN=$LOADGEN SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU \
  tests/bench/backends.sh $([ "$QUICK" = 1 ] && echo --quick) >"$WORK/backends.md" &&
  { echo; cat "$WORK/backends.md"; } >>"$OUT/benchmarks.md" ||
  echo "compare.sh: backends.sh failed; $OUT/benchmarks.md has no backends section" >&2
rm -rf "$WORK"
