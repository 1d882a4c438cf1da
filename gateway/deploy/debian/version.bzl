"""The package version: it names the .deb, so Bazel must know it at load time.

gateway/deploy/debian/build_deb.sh fails the build when gateway/server/version.h's kVersion (what
`tailgate --version` prints) says otherwise: bump both together.
"""

TAILGATE_VERSION = "0.1.0"
