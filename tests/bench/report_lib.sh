# Shared by compare.sh and backends.sh (sourced, not run): starting tailgate,
# picking ports for the other servers and waiting for them to be ready,
# reading loadgen's "RESULT key=value ..." lines and formatting numbers for
# the markdown tables.
# A missing value is "nan" and prints as an em dash.

# result_field FILE SELECTOR VALUE LABEL KEY: the KEY field of the last RESULT
# line in FILE with SELECTOR=VALUE (e.g. server=tailgate) and label=LABEL.
result_field() {
  awk -v f="$2" -v s="$3" -v l="$4" -v k="$5" '
    $0 ~ (" " f "=" s "( |$)") && $0 ~ (" label=" l " ") {
      for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) v = substr($i, n + 1) }
    }
    END { print (v == "" ? "nan" : v) }' "$1"
}
# fmt VALUE [DECIMALS]
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "nan") print "—"; else printf("%.*f\n", d, v) }'; }

# free_ports [N]: N (default 1) distinct TCP ports below the ephemeral range
# (32768+ here) that no socket uses, one per line. A server needing several
# ports takes them in one call: separate calls could return the same port,
# since none is bound until the servers start. Calls the sourcing script's
# die() when too few are found.
free_ports() {
  local n=${1:-1} p found=" " count=0
  for _ in $(seq $((50 * n))); do
    p=$((20000 + RANDOM % 12000))
    [[ $found == *" $p "* ]] && continue
    ss -Htan "sport = :$p" | grep -q . && continue
    found+="$p "
    echo "$p"
    count=$((count + 1))
    [ "$count" = "$n" ] && return
  done
  die "no free port"
}

# source_revision: the commit the binaries are built from, with " + uncommitted
# changes" when sources differ from it. Reports under docs/ do not count: the
# scripts write them, so call this before building, not at report time.
source_revision() {
  local rev
  rev=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
  git diff --quiet HEAD -- . ':(exclude)docs' 2>/dev/null || rev="$rev + uncommitted changes"
  echo "$rev"
}

# wait_line FILE TEXT: the first line of FILE containing TEXT, waiting up to
# 30 s (a cluster on a busy core can take a while to elect its leader). Calls
# the sourcing script's die() with FILE's content when it never appears.
wait_line() {
  local line=""
  for _ in $(seq 300); do
    line=$(grep -m1 -- "$2" "$1" || true)
    [ -n "$line" ] && { echo "$line"; return; }
    sleep 0.1
  done
  cat "$1" >&2
  die "no '$2' in $1"
}

# launch_tailgate FLAGS...: a fresh gateway ($TAILGATE) pinned to
# $SERVER_CPU, logging under $WORK, with FLAGS after the benchmark's common
# ones. Sets TG_PID and the bound addresses HTTP and GRPC once it is ready.
launch_tailgate() {
  local dir=$WORK/tailgate.$RANDOM
  mkdir -p "$dir"
  : >"$dir/log"
  taskset -c "$SERVER_CPU" "$TAILGATE" --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 \
    --http_threads=1 --max_connections=20000 "$@" 2>"$dir/log" &
  TG_PID=$!
  local ready
  ready=$(wait_line "$dir/log" "tailgate ready")
  HTTP=$(sed 's/.*http=\([^ ]*\).*/\1/' <<<"$ready")
  GRPC=$(sed 's/.*grpc=\([^ ]*\).*/\1/' <<<"$ready")
}
