"""Generates C++ protobuf and gRPC code with the system protoc.

Bazel 4.2.3 would fetch protobuf's own rules; Custos instead runs Debian's
/usr/bin/protoc with /usr/bin/grpc_cpp_plugin in a genrule and wraps the output
in a cc_library linked against the system libraries.
"""

def custos_proto_library(name, srcs, deps = [], grpc = False, visibility = None):
    """Declares `name`, a cc_library with the generated code for `srcs`.

    Args:
      name: the cc_library's name.
      srcs: .proto files in this package; imports use workspace-relative paths.
      deps: other custos_proto_library targets whose protos `srcs` import.
      grpc: whether to generate gRPC service stubs (*.grpc.pb.*) too.
      visibility: the cc_library's visibility.
    """
    pkg = native.package_name()
    stems = [s[:-len(".proto")] for s in srcs]
    outs = []
    for stem in stems:
        outs += [stem + ".pb.h", stem + ".pb.cc"]
        if grpc:
            outs += [stem + ".grpc.pb.h", stem + ".grpc.pb.cc"]

    dep_protos = [d + "_protos" for d in deps]
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + dep_protos,
        visibility = visibility,
    )

    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.genrule(
        name = name + "_gen",
        srcs = srcs + dep_protos,
        outs = outs,
        cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR) " + grpc_flags +
              " ".join([pkg + "/" + s for s in srcs]),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc"] if grpc else []),
        visibility = visibility,
    )
