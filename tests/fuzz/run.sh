#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) and runs each one
# from its seed corpus in tests/fuzz/corpus/<target>/.
#
#   tests/fuzz/run.sh                      # every target, 60 s each
#   tests/fuzz/run.sh --seconds=5          # every target, 5 s each
#   tests/fuzz/run.sh --runs=10000000 jwt_fuzz topic_fuzz
#   tests/fuzz/run.sh --build-only
#
# Bazel's toolchain is gcc (switching it would rebuild everything), so the
# fuzzers are compiled here directly. Objects and the growing working corpus
# live in $FUZZ_BUILD_DIR (default: $TEST_TMPDIR/fuzz or /tmp/tailgate-fuzz);
# seed corpora are never written. A crash leaves the input in
# $FUZZ_BUILD_DIR/artifacts/ and makes the script exit non-zero.
set -euo pipefail

# One line per target: name | sources besides tests/fuzz/<name>.cc | pkg-config
# modules | -max_len. The length cap is per target because libFuzzer's speed
# falls with input size (sse_codec_fuzz ran about half as fast at 4 KiB as at 1 KiB)
# while these grammars stop growing early: topics end at 255 bytes, types at
# 64, keys at 128, RS256 signatures at 256, so each cap is a multiple of the
# largest field the target parses, and those limits still get exceeded. Not
# reached: the 8 KiB token cap (a single size check before any parsing,
# covered by //gateway:auth_test) and the 1 MiB data cap; the SSE encoder
# has no other length-dependent path, so 1 KiB holds tens of events.
AUTH_LIBS="absl_status absl_statusor absl_strings absl_str_format absl_time libjwt jansson libcrypto"
TARGETS=(
  "topic_fuzz         | store/topic.cc                 | absl_status absl_statusor absl_strings absl_str_format | 2048"
  "publish_fuzz       | store/topic.cc                 | absl_status absl_statusor absl_strings absl_str_format | 1024"
  "authz_fuzz         | store/topic.cc gateway/auth.cc | $AUTH_LIBS | 1024"
  "jwt_fuzz           | store/topic.cc gateway/auth.cc | $AUTH_LIBS | 2048"
  "jwt_signature_fuzz | store/topic.cc gateway/auth.cc | $AUTH_LIBS | 512"
  "token_fuzz         | store/topic.cc gateway/auth.cc | $AUTH_LIBS | 2048"
  "sse_request_fuzz   | store/topic.cc gateway/auth.cc gateway/sse_codec.cc gateway/sse_request.cc | $AUTH_LIBS | 4096"
  "resume_fuzz        | gateway/sse_codec.cc           | absl_status absl_statusor absl_strings absl_str_format absl_time | 1024"
  "sse_codec_fuzz     | store/topic.cc gateway/sse_codec.cc | absl_status absl_statusor absl_strings absl_str_format absl_time | 1024"
  "h2_session_fuzz    | gateway/http2/h2_session.cc gateway/logging.cc gateway/json_text.cc gateway/net.cc store/topic.cc | absl_status absl_statusor absl_strings absl_str_format absl_time absl_synchronization libnghttp2 libssl libcrypto | 4096"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${FUZZ_BUILD_DIR:-${TEST_TMPDIR:-/tmp}/tailgate-fuzz}"
CXX="${CLANGXX:-clang++-14}"
CXXFLAGS=(-std=c++17 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I "$ROOT"
          -DBOOST_BEAST_USE_STD_STRING_VIEW)  # As Bazel's @system//:beast defines it.
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

command -v "$CXX" >/dev/null || { echo "run.sh: $CXX not found (run bazel/setup)" >&2; exit 1; }
mkdir -p "$BUILD/obj" "$BUILD/bin" "$BUILD/corpus" "$BUILD/artifacts" "$BUILD/logs"

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; echo "${s%"${s##*[![:space:]]}"}"; }

# Compiles $1 (relative to ROOT) unless its object is newer than it and every
# header it includes (from the compiler's dependency file).
compile() {
  local src="$1" obj="$BUILD/obj/${1//\//_}.o"
  local dep="${obj%.o}.d"
  if [ -f "$obj" ] && [ -f "$dep" ]; then
    local stale=0 f
    for f in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep"); do
      [ "$f" -nt "$obj" ] && { stale=1; break; }
    done
    [ "$stale" = 0 ] && { echo "$obj"; return; }
  fi
  # shellcheck disable=SC2046
  "$CXX" "${CXXFLAGS[@]}" $(pkg-config --cflags absl_base) -MMD -MF "$dep" -c "$ROOT/$src" -o "$obj" >&2
  echo "$obj"
}

status=0
summary=()
for line in "${TARGETS[@]}"; do
  IFS='|' read -r name srcs modules max_len <<<"$line"
  name="$(trim "$name")"
  if [ ${#SELECTED[@]} -gt 0 ] && [[ ! " ${SELECTED[*]} " == *" $name "* ]]; then continue; fi
  objs=()
  for src in tests/fuzz/"$name".cc $srcs; do objs+=("$(compile "$src")"); done
  # shellcheck disable=SC2046,SC2086
  "$CXX" "${CXXFLAGS[@]}" "${objs[@]}" $(pkg-config --libs $modules) -o "$BUILD/bin/$name"
  [ "$BUILD_ONLY" = 1 ] && { echo "built $BUILD/bin/$name"; continue; }

  seeds="$ROOT/tests/fuzz/corpus/$name"
  work="$BUILD/corpus/$name"
  mkdir -p "$work"
  dict=()
  [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
  log="$BUILD/logs/$name.log"
  echo "== $name ${MODE[*]}"
  if ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
      "$BUILD/bin/$name" "${MODE[@]}" "${dict[@]}" -max_len="$(trim "$max_len")" -print_final_stats=1 \
      -artifact_prefix="$BUILD/artifacts/$name-" "$work" "$seeds" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    grep -E 'ERROR|SUMMARY|property violated|artifact' "$log" | head -20 >&2 || true
    # Under bazel test, keep the crashing input and the log past the run.
    if [ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]; then
      cp "$log" "$BUILD/artifacts/$name-"* "$TEST_UNDECLARED_OUTPUTS_DIR/" 2>/dev/null || true
    fi
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  secs="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  corpus="$(find "$work" -type f | wc -l)"
  summary+=("$(printf '%-20s %-7s %12s execs  %5s s  %6s exec/s  corpus %5s  (log: %s)' \
    "$name" "$result" "${execs:-?}" "${secs:-?}" "${rate:-?}" "$corpus" "$log")")
done

[ "$BUILD_ONLY" = 1 ] && exit 0
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"
