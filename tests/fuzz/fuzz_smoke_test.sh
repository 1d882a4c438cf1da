#!/usr/bin/env bash
# CI's short libFuzzer pass: builds every target in tests/fuzz/run.sh and runs
# each for a few seconds from its seed corpus (about 20 s of fuzzing in all).
set -euo pipefail
RUN="$(dirname "${BASH_SOURCE[0]}")/run.sh"
export FUZZ_BUILD_DIR="${TEST_TMPDIR:?run me with bazel test}/fuzz"
exec "$RUN" --seconds="${FUZZ_SECONDS_PER_TARGET:-3}"
