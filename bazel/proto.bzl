"""C++ message and gRPC targets from a .proto, with Debian's protoc and grpc_cpp_plugin.

    tailgate_cc_grpc_proto(name = "publisher", src = "publisher.proto")

makes `:publisher_cc_grpc` (a cc_library with messages and service stubs).
Protos are compiled with the `proto/` directory as the import root, so a file
at proto/tailgate/v1/x.proto is included as "tailgate/v1/x.pb.h" and imported
as "tailgate/v1/x.proto".
"""

_PROTO_ROOT = "proto"

def tailgate_cc_grpc_proto(name, src, deps = [], visibility = None):
    base = src[:-len(".proto")]
    outs = [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]
    pkg = native.package_name()
    if not pkg.startswith(_PROTO_ROOT + "/") and pkg != _PROTO_ROOT:
        fail("tailgate_cc_grpc_proto must be used under //proto")
    dep_srcs = [d + "_srcs" for d in deps]
    native.filegroup(
        name = name + "_srcs",
        srcs = [src] + dep_srcs,
        visibility = visibility,
    )
    native.genrule(
        name = name + "_gen",
        srcs = [src] + dep_srcs,
        outs = outs,
        cmd = " ".join([
            "protoc",
            "-I" + _PROTO_ROOT,
            "--cpp_out=$(GENDIR)/" + _PROTO_ROOT,
            "--grpc_out=$(GENDIR)/" + _PROTO_ROOT,
            "--plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin)",
            "$(location %s)" % src,
        ]),
    )
    native.cc_library(
        name = name + "_cc_grpc",
        srcs = [base + ".pb.cc", base + ".grpc.pb.cc"],
        hdrs = [base + ".pb.h", base + ".grpc.pb.h"],
        strip_include_prefix = "/" + _PROTO_ROOT,
        # Generated code is not ours to keep warning-clean.
        copts = ["-Wno-unused-parameter", "-Wno-error"],
        deps = [d + "_cc_grpc" for d in deps] + [
            "@system//:grpcpp",
            "@system//:protobuf",
        ],
        visibility = visibility,
    )
