"""Fuzz targets: libFuzzer binaries under --config=fuzz, and a bounded test
that replays the seed corpus and mutations of it in every build."""

def custos_fuzz_target(name, srcs, deps, corpus):
    """Declares `name` (a libFuzzer binary, built with --config=fuzz) and
    `name_test` (the seeds, the regressions and bounded mutations of them,
    in any build).

    Args:
      name: the fuzzer's name.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: what they need.
      corpus: the seed directory under fuzz/corpus/.
    """
    native.cc_library(
        name = name + "_lib",
        srcs = srcs,
        deps = deps,
        alwayslink = True,
        testonly = True,
    )
    native.cc_binary(
        name = name,
        deps = [":" + name + "_lib"],
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        testonly = True,
    )
    native.cc_test(
        name = name + "_test",
        size = "medium",
        deps = [
            ":" + name + "_lib",
            "//fuzz:standalone_main",
        ],
        data = native.glob([
            "corpus/" + corpus + "/**",
            "regressions/" + corpus + "/**",
        ]),
        args = [
            "fuzz/corpus/" + corpus,
            "fuzz/regressions/" + corpus,
        ],
    )
