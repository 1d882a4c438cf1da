#!/usr/bin/env bash
# Bazel test wrapper: runs one tests/e2e/*.test.mjs file with Node's test runner
# against the gateway binary from the runfiles. node_modules comes from
# bazel/setup (npm ci of tests/e2e/package-lock.json) in the source tree.
set -euo pipefail
script="$1"
# Data files are symlinks into the source tree; follow one back to find node_modules.
src_dir="$(dirname "$(readlink -f "tests/e2e/lib.mjs")")"
if [ ! -d "$src_dir/node_modules" ]; then
  echo "tests/e2e/node_modules missing: run bazel/setup" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ] && grep -q launchBrowser "$script"; then
  echo "/usr/bin/chromium missing: run bazel/setup" >&2
  exit 1
fi
export TAILGATE_BIN="$PWD/gateway/tailgate"
export TAILGATE_PROTO_ROOT="$(dirname "$(dirname "$(dirname "$(readlink -f proto/tailgate/v1/publisher.proto)")")")"
export NODE_PATH="$src_dir/node_modules"
# Run the copy in the source tree so ESM imports resolve against node_modules there.
exec node --test --test-concurrency=1 "$src_dir/$(basename "$script")"
