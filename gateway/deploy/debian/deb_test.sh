#!/usr/bin/env bash
# The .deb as a user gets it: control fields and file list, then the files
# extracted into a throwaway root (dpkg-deb -x, no root needed) run against
# each other on loopback: `tailgate --version`, the gateway started with the
# packaged flag file, an event published with the packaged tailgate_publish
# arriving on an SSE stream (curl), and tailgatectl stats.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
. "$TEST_SRCDIR/tailgate/gateway/deploy/debian/smoke_lib.sh"

deb=$(ls "$TEST_SRCDIR"/tailgate/tailgate_*_amd64.deb)
version=$(dpkg-deb -f "$deb" Version)
[ "$(basename "$deb")" = "tailgate_${version}_amd64.deb" ] || fail "file name $(basename "$deb") vs Version $version"
[ "$(dpkg-deb -f "$deb" Package)" = tailgate ] || fail "Package field"
[ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || fail "Architecture field"
depends=$(dpkg-deb -f "$deb" Depends)
# Computed from the binaries: the libraries the gateway cannot run without.
for pkg in adduser libc6 libgrpc++1.51 libprotobuf32 librocksdb7.8 libjwt0 libssl3 libnats3.4 libcurl4 libjemalloc2; do
  case ", $depends," in
    *", $pkg "*|*", $pkg,"*) ;;
    *) fail "Depends lacks $pkg: $depends" ;;
  esac
done

files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/tailgate ./usr/bin/tailgatectl ./usr/bin/tailgate_publish \
         ./lib/systemd/system/tailgate.service ./etc/tailgate/tailgate.flags \
         ./usr/share/doc/tailgate/copyright; do
  grep -qx -- "$f" <<<"$files" || fail "missing $f in: $files"
done
# Everything root-owned, whoever built it.
if dpkg-deb -c "$deb" | awk '{print $2}' | grep -vqx root/root; then fail "files not owned by root"; fi

ctl=$TEST_TMPDIR/control
dpkg-deb -e "$deb" "$ctl"
[ "$(cat "$ctl/conffiles")" = /etc/tailgate/tailgate.flags ] || fail "conffiles: $(cat "$ctl/conffiles")"
for s in postinst prerm postrm; do
  [ -x "$ctl/$s" ] || fail "$s not executable"
  sh -n "$ctl/$s" || fail "$s: syntax"
done
grep -q 'adduser .*--system .*tailgate' "$ctl/postinst" || fail "postinst creates no system user"
grep -q '/var/lib/tailgate' "$ctl/postinst" || fail "postinst creates no /var/lib/tailgate"
# Removal and purge keep the event log: no rm outside comments and messages.
if grep -Ev '^[[:space:]]*(#|echo|")' "$ctl/postrm" | grep -q 'rm '; then fail "postrm deletes data"; fi

root=$TEST_TMPDIR/root
dpkg-deb -x "$deb" "$root"
grep -qx 'ExecStart=/usr/bin/tailgate --flagfile=/etc/tailgate/tailgate.flags' \
  "$root/lib/systemd/system/tailgate.service" || fail "unit's ExecStart"
grep -qx 'User=tailgate' "$root/lib/systemd/system/tailgate.service" || fail "unit's User"

out=$("$root/usr/bin/tailgate" --version)
[ "$out" = "tailgate $version" ] || fail "tailgate --version: '$out'"
"$root/usr/bin/tailgatectl" --help >/dev/null || fail "tailgatectl --help"
"$root/usr/bin/tailgate_publish" --help >/dev/null || fail "tailgate_publish --help"

# The packaged flag file, with the data dir and ports a test can use.
log=$TEST_TMPDIR/gateway.log
"$root/usr/bin/tailgate" --flagfile="$root/etc/tailgate/tailgate.flags" \
  --data_dir="$TEST_TMPDIR/data" --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 \
  --log_format=text --drain_grace=0s 2>"$log" &
gw=$!
curl_pid=
cleanup() {
  [ -n "$curl_pid" ] && kill "$curl_pid" 2>/dev/null || true
  kill "$gw" 2>/dev/null || true
}
trap cleanup EXIT
wait_ready "$log" "$gw"

sse=$TEST_TMPDIR/sse.txt
curl -sSN --max-time 30 "http://$http/v1/events?topic=smoke.%3E&since=earliest" >"$sse" &
curl_pid=$!
id=$("$root/usr/bin/tailgate_publish" --server="$grpc" --topic=smoke.deb --type=installed \
  '{"from":"the package"}') || fail "publish failed"
wait_event "$sse" "$id"
grep -q '^data: {"from":"the package"}$' "$sse" || fail "event data: $(cat "$sse")"
grep -q '^event: installed$' "$sse" || fail "event type not received: $(cat "$sse")"

stats=$("$root/usr/bin/tailgatectl" --server="$grpc" stats) || fail "tailgatectl stats"
grep -q "^watermark   $id\$" <<<"$stats" || fail "stats: $stats"

kill -TERM "$gw"
wait "$gw" || fail "gateway exit status $? on SIGTERM: $(cat "$log")"
echo "PASS: $(basename "$deb") ($depends)"
