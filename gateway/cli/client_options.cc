#include "gateway/cli/client_options.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string_view>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/server/version.h"
#include "gateway/server/working_dir.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "gateway gRPC address, HOST:PORT");
ABSL_FLAG(std::string, token, "",
          "bearer token (JWT) sent with every call; visible to other local users in `ps`, so "
          "prefer --token_file or $TAILGATE_TOKEN");
ABSL_FLAG(std::string, token_file, "",
          "file holding the bearer token (surrounding whitespace ignored); else $TAILGATE_TOKEN");
ABSL_FLAG(bool, tls, false, "connect with TLS, trusting the system's CA roots");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle to verify the server with (implies --tls)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate chain for mutual TLS (with --tls_key; implies --tls)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_server_name, "",
          "name the server certificate must carry, when --server is an IP address or another "
          "name (implies --tls)");

namespace tailgate::cli {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": cannot read"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": cannot read"));
  return text;
}

bool IsHelpFlag(std::string_view arg) {
  for (std::string_view h : {"-h", "--help", "-help", "--helpfull", "-helpfull", "--helpshort",
                             "-helpshort"}) {
    if (arg == h) return true;
  }
  return false;
}

// Usage, then "--name (help); default: value;" per flag of `files`, sorted:
// the same shape as absl's --help, which would exit 1 and, for a binary not
// named after its source file, list nothing.
void PrintHelp(const char* usage, const std::vector<std::string>& files) {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    for (const std::string& f : files) {
      if (absl::EndsWith(flag->Filename(), f)) flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](auto* a, auto* b) { return a->Name() < b->Name(); });
  std::printf("%s\n\nFlags:\n", usage);
  for (const absl::CommandLineFlag* flag : flags) {
    std::printf("  --%s (%s); default: \"%s\";\n", std::string(flag->Name()).c_str(),
                flag->Help().c_str(), flag->DefaultValue().c_str());
  }
  std::printf("  --version (print the version and exit)\n  --help (this text)\n");
}

}  // namespace

absl::StatusOr<std::string> BearerToken() {
  const std::string token = absl::GetFlag(FLAGS_token);
  const std::string file = absl::GetFlag(FLAGS_token_file);
  if (!token.empty() && !file.empty()) {
    return absl::InvalidArgumentError("give --token or --token_file, not both");
  }
  if (!token.empty()) return token;
  if (!file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(file, "token_file");
    if (!text.ok()) return text.status();
    std::string stripped(absl::StripAsciiWhitespace(*text));
    if (stripped.empty()) {
      return absl::InvalidArgumentError("--token_file=" + file + ": the file is empty");
    }
    return stripped;
  }
  const char* env = std::getenv(kTokenEnv);
  return env == nullptr ? std::string() : std::string(absl::StripAsciiWhitespace(env));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel() {
  const std::string server = absl::GetFlag(FLAGS_server);
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
  }
  const bool tls = absl::GetFlag(FLAGS_tls) || !ca.empty() || !cert.empty() || !server_name.empty();
  if (!tls) return grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions options;  // empty pem_root_certs: the system's roots
  if (!ca.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(ca, "tls_ca");
    if (!pem.ok()) return pem.status();
    options.pem_root_certs = *std::move(pem);
  }
  if (!cert.empty()) {
    absl::StatusOr<std::string> chain = ReadFile(cert, "tls_cert");
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> private_key = ReadFile(key, "tls_key");
    if (!private_key.ok()) return private_key.status();
    options.pem_cert_chain = *std::move(chain);
    options.pem_private_key = *std::move(private_key);
  }
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  return grpc::CreateCustomChannel(server, grpc::SslCredentials(options), args);
}

void Authorize(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

std::vector<char*> ParseToolCommandLine(int argc, char** argv, const char* usage,
                                        std::vector<std::string> flag_files) {
  if (std::string error = EnterBuildWorkingDirectory(); !error.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::exit(2);
  }
  flag_files.push_back("gateway/cli/client_options.cc");
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    if (IsHelpFlag(argv[i])) {
      PrintHelp(usage, flag_files);
      std::exit(0);
    }
  }
  absl::FlagsUsageConfig config;
  config.version_string = [] { return std::string("tailgate ") + kVersion + "\n"; };
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);
  return absl::ParseCommandLine(argc, argv);
}

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "ERROR";
  }
}

}  // namespace tailgate::cli
