"""libFuzzer targets that are also ordinary tests.

    tailgate_fuzz_test(name = "topic_fuzz", max_len = 2048, deps = ["//store:topic"])

builds tests/fuzz/topic_fuzz.cc (which defines LLVMFuzzerTestOneInput) into:

  :topic_fuzz_lib          the target's code, compiled once for both binaries
  :topic_fuzz              the libFuzzer binary; only under --config=fuzz (clang,
                           ASan + UBSan; see .bazelrc), skipped by //... otherwise
  :topic_fuzz_replay_test  a cc_test that feeds every file of corpus/topic_fuzz/
                           to LLVMFuzzerTestOneInput once, in any config (gcc in CI)
  :topic_fuzz_options      topic_fuzz.options: the libFuzzer flags run.sh passes

The fuzz binary carries the tag "fuzz_target"; tests/fuzz/run.sh finds the
targets by it, so adding one needs no other list.
"""

_FUZZING = "//tests/fuzz:fuzzing"

def tailgate_fuzz_test(name, deps, max_len, dict = None, size = "small"):
    """A libFuzzer target and the replay test of its seed corpus.

    Args:
      name: the target; its source is <name>.cc, its seeds corpus/<name>/.
      deps: the library targets under test (and helpers the source includes).
      max_len: libFuzzer's -max_len for run.sh: a multiple of the largest
        field the target parses (speed falls with input size).
      dict: optional libFuzzer dictionary in this package, e.g. "topic_fuzz.dict".
      size: the replay test's size.
    """
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = [name + ".cc"],
        deps = deps,
        # Only LLVMFuzzerTestOneInput is referenced, and from the main() side.
        alwayslink = True,
    )

    # -fsanitize=fuzzer (libFuzzer's main) on this link only: the libraries
    # are compiled with -fsanitize=fuzzer-no-link, so no other binary gets it.
    native.cc_binary(
        name = name,
        testonly = True,
        deps = [":" + name + "_lib"],
        linkopts = ["-fsanitize=fuzzer"],
        target_compatible_with = select({
            _FUZZING: [],
            "//conditions:default": ["//tests/fuzz:built_with_config_fuzz"],
        }),
        tags = ["fuzz_target"],
    )

    corpus = "corpus/" + name
    native.cc_test(
        name = name + "_replay_test",
        size = size,
        args = [native.package_name() + "/" + corpus],
        data = native.glob([corpus + "/**"], allow_empty = False),
        deps = [
            ":" + name + "_lib",
            "//tests/fuzz:replay_main",
        ],
    )

    flags = ["-max_len=%d" % max_len]
    if dict:
        flags.append("-dict=%s/%s" % (native.package_name(), dict))
    native.genrule(
        name = name + "_options",
        testonly = True,
        srcs = [dict] if dict else [],
        outs = [name + ".options"],
        cmd = "echo '%s' > $@" % " ".join(flags),
    )
