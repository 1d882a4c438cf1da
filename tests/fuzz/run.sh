#!/usr/bin/env bash
# Builds the libFuzzer targets (bazel build --config=fuzz: clang-14, ASan +
# UBSan) and runs each one from its seed corpus in tests/fuzz/corpus/<target>/.
#
#   tests/fuzz/run.sh                      # every target, 60 s each
#   tests/fuzz/run.sh --seconds=5          # every target, 5 s each
#   tests/fuzz/run.sh --runs=10000000 jwt_fuzz topic_fuzz
#   tests/fuzz/run.sh --build-only
#
# The targets are tailgate_fuzz_test rules in tests/fuzz/BUILD (found by their
# "fuzz_target" tag); each one's -max_len and -dict come from its generated
# <target>.options. The growing working corpus, logs and crash inputs live in
# $FUZZ_BUILD_DIR (default /tmp/tailgate-fuzz); seed corpora are never
# written. A crash leaves the input in $FUZZ_BUILD_DIR/artifacts/ and makes the
# script exit non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${FUZZ_BUILD_DIR:-/tmp/tailgate-fuzz}"
MODE=(-max_total_time=60)
BUILD_ONLY=0
SELECTED=()

for arg in "$@"; do
  case "$arg" in
    --runs=*) MODE=(-runs="${arg#--runs=}") ;;
    --seconds=*) MODE=(-max_total_time="${arg#--seconds=}") ;;
    --build-only) BUILD_ONLY=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) SELECTED+=("$arg") ;;
  esac
done

cd "$ROOT"
# cquery in the fuzz config, not query: a command without --config=fuzz
# re-configures the C++ toolchain back to gcc (about 50 s each way).
ALL=()
while read -r label _; do ALL+=("${label#//tests/fuzz:}"); done < <(
  bazel cquery --config=fuzz --noshow_progress 'attr(tags, "\bfuzz_target\b", //tests/fuzz:*)' \
    2>/dev/null | sort)
[ ${#ALL[@]} -gt 0 ] || { echo "run.sh: bazel cquery found no fuzz targets (see bazel cquery --config=fuzz //tests/fuzz:all)" >&2; exit 1; }
NAMES=()
for name in "${SELECTED[@]}"; do
  [[ " ${ALL[*]} " == *" $name "* ]] || { echo "run.sh: no fuzz target $name (have: ${ALL[*]})" >&2; exit 2; }
done
for name in "${ALL[@]}"; do
  if [ ${#SELECTED[@]} -eq 0 ] || [[ " ${SELECTED[*]} " == *" $name "* ]]; then NAMES+=("$name"); fi
done

labels=()
for name in "${NAMES[@]}"; do labels+=("//tests/fuzz:$name" "//tests/fuzz:${name}_options"); done
bazel build --config=fuzz "${labels[@]}"
BIN="$(bazel info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz"
if [ "$BUILD_ONLY" = 1 ]; then
  printf "built $BIN/%s\n" "${NAMES[@]}"
  exit 0
fi

mkdir -p "$BUILD/corpus" "$BUILD/artifacts" "$BUILD/logs"
status=0
summary=()
for name in "${NAMES[@]}"; do
  read -r -a options <"$BIN/$name.options"
  seeds="$ROOT/tests/fuzz/corpus/$name"
  work="$BUILD/corpus/$name"
  mkdir -p "$work"
  log="$BUILD/logs/$name.log"
  echo "== $name ${MODE[*]} ${options[*]}"
  if ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
      "$BIN/$name" "${MODE[@]}" "${options[@]}" -print_final_stats=1 \
      -artifact_prefix="$BUILD/artifacts/$name-" "$work" "$seeds" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    grep -E 'ERROR|SUMMARY|property violated|artifact' "$log" | head -20 >&2 || true
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  secs="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  corpus="$(find "$work" -type f | wc -l)"
  summary+=("$(printf '%-20s %-7s %12s execs  %5s s  %6s exec/s  corpus %5s  (log: %s)' \
    "$name" "$result" "${execs:-?}" "${secs:-?}" "${rate:-?}" "$corpus" "$log")")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"
