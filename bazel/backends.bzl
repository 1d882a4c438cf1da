"""Test targets for gateway suites that run on every log backend."""

def cc_test_on_every_backend(name, deps, size = "medium", tags = [], **kwargs):
    """Runs one compiled suite on each log backend.

    Declares <name>_test (RocksDB) and <name>_jetstream_test (a JetStream
    stream on a real nats-server -js on loopback, tagged "jetstream" so that
    a machine without nats-server can leave it out with
    --test_tag_filters=-jetstream). tests/testing/test_store.h picks the
    backend from TAILGATE_TEST_STORE.

    Args:
      name: prefix of the two test names.
      deps: the suite: an alwayslink cc_library holding the tests.
      size: both tests' size.
      tags: both tests' tags ("jetstream" is added to the second).
      **kwargs: passed to both cc_test rules.
    """
    native.cc_test(
        name = name + "_test",
        size = size,
        tags = tags,
        deps = deps,
        **kwargs
    )
    native.cc_test(
        name = name + "_jetstream_test",
        size = size,
        env = {"TAILGATE_TEST_STORE": "jetstream"},
        tags = tags + ["jetstream"],
        deps = deps,
        **kwargs
    )
