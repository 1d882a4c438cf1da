// What tailgate_publish and tailgatectl share to reach a gateway that may have
// auth and TLS on: the connection flags, the bearer token, --help.
//
// Flags (defined in client_options.cc, listed by both tools' --help):
//   --server           HOST:PORT of the gateway's gRPC listener
//   --token            bearer token (visible in `ps`; prefer the next two)
//   --token_file       file holding the token (surrounding whitespace ignored)
//   $TAILGATE_TOKEN    used when neither flag is given
//   --tls              TLS with the system's CA roots
//   --tls_ca           TLS, trusting this PEM CA bundle (implies --tls)
//   --tls_cert/--tls_key  client certificate for mutual TLS (implies --tls)
//   --tls_server_name  name the server certificate must carry (when dialing
//                      an IP address or a name the certificate lacks)
#ifndef TAILGATE_GATEWAY_CLI_CLIENT_OPTIONS_H_
#define TAILGATE_GATEWAY_CLI_CLIENT_OPTIONS_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace tailgate::cli {

inline constexpr char kTokenEnv[] = "TAILGATE_TOKEN";

// The token from --token, --token_file or $TAILGATE_TOKEN (first given
// wins; --token with --token_file is an error); "" when none.
absl::StatusOr<std::string> BearerToken();

// A channel to --server: plaintext, or TLS per the --tls* flags (their files
// are read here, so a missing file is an error naming the flag, not a
// handshake failure later).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel();

// Adds `authorization: Bearer <token>` to the call unless `token` is empty.
// Plain metadata rather than grpc::AccessTokenCredentials, which gRPC
// refuses to send over a plaintext channel (a development gateway with auth
// on and TLS off is a normal setup).
void Authorize(grpc::ClientContext* context, const std::string& token);

// The whole startup of a tool: moves to $BUILD_WORKING_DIRECTORY (see
// working_dir.h), answers --help (usage and the flags defined in
// `flag_files` and client_options.cc, on stdout, exit 0) and --version, then
// parses the command line. Returns the positional arguments (argv[0] first).
std::vector<char*> ParseToolCommandLine(int argc, char** argv, const char* usage,
                                        std::vector<std::string> flag_files);

// The canonical name of a gRPC status code ("UNAUTHENTICATED").
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace tailgate::cli

#endif  // TAILGATE_GATEWAY_CLI_CLIENT_OPTIONS_H_
