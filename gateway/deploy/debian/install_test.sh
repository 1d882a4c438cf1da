#!/usr/bin/env bash
# Installs the built package for real with apt, as a user would, and checks
# what it did: the files, the tailgate system user and /var/lib/tailgate, the
# packaged service started as that user with the packaged flag file (as the
# unit's ExecStart does; this machine has no systemd running), a
# publish/subscribe smoke test with the installed binaries, then removal
# that keeps the data. Root only, and it changes the machine: CI runs it
# (.ci/run), on a throwaway machine.
#
#   bazel build //:deb && gateway/deploy/debian/install_test.sh bazel-bin/tailgate_*_amd64.deb
set -euo pipefail

fail() { echo "install_test: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/smoke_lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root"
deb=$(readlink -f "$1")
version=$(dpkg-deb -f "$deb" Version)

apt-get install -y -q "$deb" >/tmp/tailgate-install.log 2>&1 || fail "apt install: $(cat /tmp/tailgate-install.log)"
[ "$(tailgate --version)" = "tailgate $version" ] || fail "tailgate --version: $(tailgate --version)"
for f in /usr/bin/tailgate /usr/bin/tailgatectl /usr/bin/tailgate_publish \
         /lib/systemd/system/tailgate.service /etc/tailgate/tailgate.flags; do
  [ -e "$f" ] || fail "$f not installed"
done
getent passwd tailgate >/dev/null || fail "no tailgate user"
[ "$(stat -c %U /var/lib/tailgate)" = tailgate ] || fail "/var/lib/tailgate not owned by tailgate"

# The unit's command line, as the unit's user, on free loopback ports.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/tailgate.service)
log=$(mktemp)
# setpriv execs the gateway itself (runuser would stay in between and turn
# SIGTERM into its own exit status).
setpriv --reuid=tailgate --regid=tailgate --init-groups -- $exec_start --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 \
  --drain_grace=0s 2>"$log" &
gw=$!
curl_pid=
# Each kill may find its process gone already; under set -e a failing
# command in the trap would turn a passing run into exit status 1.
cleanup() {
  if [ -n "$curl_pid" ]; then kill "$curl_pid" 2>/dev/null || true; fi
  kill "$gw" 2>/dev/null || true
}
trap cleanup EXIT
wait_ready "$log" "$gw"
sse=$(mktemp)
curl -sSN --max-time 30 "http://$http/v1/events?topic=installed.%3E&since=earliest" >"$sse" &
curl_pid=$!
id=$(tailgate_publish --server="$grpc" --topic=installed.smoke 'from the installed package') ||
  fail "publish failed"
wait_event "$sse" "$id"
tailgatectl --server="$grpc" stats | grep -q "^watermark   $id\$" || fail "tailgatectl stats"
kill -TERM "$gw"
wait "$gw" || fail "gateway exit status $? on SIGTERM: $(cat "$log")"
ls /var/lib/tailgate | grep -q CURRENT || fail "no log in /var/lib/tailgate"

apt-get remove -y -q tailgate >/tmp/tailgate-install.log 2>&1 || fail "apt remove: $(cat /tmp/tailgate-install.log)"
[ ! -e /usr/bin/tailgate ] || fail "/usr/bin/tailgate left after remove"
ls /var/lib/tailgate | grep -q CURRENT || fail "remove deleted the event log"
echo "install_test: PASS ($(basename "$deb"): installed, ran as tailgate, event $id, removed, data kept)"
