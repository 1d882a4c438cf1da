#!/usr/bin/env bash
# Builds tailgate_<version>_amd64.deb from the Bazel-built binaries (the //:deb
# genrule runs it). Offline: dpkg-deb packs, dpkg-shlibdeps turns the
# binaries' shared libraries into Depends on the Debian packages that ship
# them (the same as a debhelper build's ${shlibs:Depends}).
#
#   build_deb.sh OUT.deb VERSION VERSION_H TAILGATE TAILGATECTL TAILGATE_PUBLISH \
#                UNIT FLAGS LICENSE POSTINST PRERM POSTRM
set -euo pipefail

out=$1 version=$2 version_h=$3
tailgate=$4 tailgatectl=$5 publish=$6
unit=$7 flags=$8 license=$9 postinst=${10} prerm=${11} postrm=${12}

# One version: what `tailgate --version` prints must be the package's.
if ! grep -q "kVersion\[\] = \"$version\";" "$version_h"; then
  echo "build_deb.sh: gateway/deploy/debian/version.bzl says $version but $version_h says otherwise" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

install -D -m 0755 "$tailgate" "$root/usr/bin/tailgate"
install -D -m 0755 "$tailgatectl" "$root/usr/bin/tailgatectl"
install -D -m 0755 "$publish" "$root/usr/bin/tailgate_publish"
# Debug sections are most of a fastbuild binary's size; a package does not
# need them (build with -c opt for production).
strip --strip-unneeded "$root"/usr/bin/*
install -D -m 0644 "$unit" "$root/lib/systemd/system/tailgate.service"
install -D -m 0644 "$flags" "$root/etc/tailgate/tailgate.flags"
install -d -m 0755 "$root/usr/share/doc/tailgate"
{
  echo "tailgate: gRPC publish -> durable log -> Server-Sent Events"
  echo
  echo "License: Apache-2.0 (on Debian: /usr/share/common-licenses/Apache-2.0)"
  echo
  cat "$license"
} > "$root/usr/share/doc/tailgate/copyright"
chmod 0644 "$root/usr/share/doc/tailgate/copyright"

# dpkg-shlibdeps wants a debian/control in its working directory.
mkdir -p "$work/src/debian"
printf 'Source: tailgate\n\nPackage: tailgate\nArchitecture: amd64\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O -e"$root/usr/bin/tailgate" \
  -e"$root/usr/bin/tailgatectl" -e"$root/usr/bin/tailgate_publish" 2>"$work/shlibdeps.log") ||
  { cat "$work/shlibdeps.log" >&2; exit 1; }
depends=${shlibs#shlibs:Depends=}
[ -n "$depends" ] || { echo "build_deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d -m 0755 "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: tailgate
Version: $version
Architecture: amd64
Maintainer: tailgate developers <tailgate@localhost>
Section: net
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: adduser, $depends
Homepage: https://github.com/tailgate/tailgate
Description: gateway from backend events to browsers (gRPC in, SSE out)
 Backend services publish events over gRPC; every event is appended to a
 durable, ordered log in RocksDB; browsers subscribe with a plain EventSource
 (Server-Sent Events) and get every event they missed when they reconnect.
 Ships the gateway (tailgate), its admin CLI (tailgatectl), a publishing CLI
 (tailgate_publish) and a systemd unit.
CONTROL
echo /etc/tailgate/tailgate.flags > "$root/DEBIAN/conffiles"
install -m 0755 "$postinst" "$root/DEBIAN/postinst"
install -m 0755 "$prerm" "$root/DEBIAN/prerm"
install -m 0755 "$postrm" "$root/DEBIAN/postrm"

# root:root in the archive whoever builds it; -Zxz is dpkg's default, spelled out.
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
