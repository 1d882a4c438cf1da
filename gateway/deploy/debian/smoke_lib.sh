# Shared by deb_test.sh and install_test.sh (sourced, not run): waiting for a
# gateway started in the background, and the event it must deliver.

# wait_ready LOG PID: waits (30 s at most) for PID's "tailgate ready" line in
# LOG and sets $http and $grpc to the addresses it names.
wait_ready() {
  local log=$1 pid=$2 ready
  for _ in $(seq 300); do
    grep -q 'tailgate ready' "$log" && break
    kill -0 "$pid" 2>/dev/null || fail "gateway exited: $(cat "$log")"
    sleep 0.1
  done
  ready=$(grep -m1 'tailgate ready' "$log") || fail "no ready line: $(cat "$log")"
  http=$(sed 's/.* http=\([^ ]*\).*/\1/' <<<"$ready")
  grpc=$(sed 's/.* grpc=\([^ ]*\).*/\1/' <<<"$ready")
}

# wait_event FILE ID: waits (20 s at most) for "id: ID" in an SSE capture.
wait_event() {
  local file=$1 id=$2
  for _ in $(seq 200); do
    grep -q "^id: $id\$" "$file" && return 0
    sleep 0.1
  done
  fail "event $id not received over SSE: $(cat "$file")"
}
