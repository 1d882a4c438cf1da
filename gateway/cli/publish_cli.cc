// tailgate_publish: publishes events to a tailgate gateway over gRPC.
//
//   tailgate_publish --topic orders.42 --type created '{"id":42}'
//       prints the event id ("<id> duplicate" for an idempotent repeat)
//   producer | tailgate_publish --topic logs.app --stdin
//       one event per stdin line over one PublishStream; one id per line,
//       printed (and flushed) as soon as that event is acknowledged
//
// Against a secured gateway: --token_file / --token / $TAILGATE_TOKEN, and
// --tls_ca (+ --tls_cert/--tls_key for mutual TLS); see client_options.h.
// Exits 0 on success, 1 with the gRPC status on stderr when the server
// refuses, 2 on a usage error.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "gateway/cli/client_options.h"
#include "tailgate/v1/publisher.grpc.pb.h"

ABSL_FLAG(std::string, topic, "", "topic to publish to, e.g. orders.eu.42 (required)");
ABSL_FLAG(std::string, type, "", "optional event type (the SSE `event:` field)");
ABSL_FLAG(std::string, idempotency_key, "",
          "optional key: a retry with the same topic and key returns the first id");
ABSL_FLAG(bool, stdin, false, "publish one event per stdin line over one PublishStream");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "deadline of a single publish (not used with --stdin)");

namespace {

namespace v1 = ::tailgate::v1;

int Usage(const std::string& message) {
  std::fprintf(stderr, "tailgate_publish: %s (see --help)\n", message.c_str());
  return 2;
}

int RpcError(const grpc::Status& status) {
  std::fprintf(stderr, "tailgate_publish: %s: %s\n", tailgate::cli::StatusCodeName(status.error_code()),
               status.error_message().c_str());
  return 1;
}

// Flushed per line: a pipeline reading our stdout (`| while read id`) sees
// each id when its event is acknowledged, not when a buffer fills.
void Print(const v1::PublishResponse& response) {
  std::cout << response.id() << (response.duplicate() ? " duplicate" : "") << std::endl;
}

int PublishOne(v1::Publisher::Stub& stub, const std::string& token, const std::string& data) {
  v1::PublishRequest request;
  request.set_topic(absl::GetFlag(FLAGS_topic));
  request.set_type(absl::GetFlag(FLAGS_type));
  request.set_idempotency_key(absl::GetFlag(FLAGS_idempotency_key));
  request.set_data(data);
  grpc::ClientContext context;
  tailgate::cli::Authorize(&context, token);
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
  v1::PublishResponse response;
  grpc::Status status = stub.Publish(&context, request, &response);
  if (!status.ok()) return RpcError(status);
  Print(response);
  return 0;
}

int PublishLines(v1::Publisher::Stub& stub, const std::string& token) {
  grpc::ClientContext context;
  tailgate::cli::Authorize(&context, token);
  std::unique_ptr<grpc::ClientReaderWriter<v1::PublishRequest, v1::PublishResponse>> stream =
      stub.PublishStream(&context);
  // Writes from a second thread so acks are printed while input still flows.
  std::thread writer([&] {
    v1::PublishRequest request;
    request.set_topic(absl::GetFlag(FLAGS_topic));
    request.set_type(absl::GetFlag(FLAGS_type));
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      request.set_data(line);
      if (!stream->Write(request)) break;  // The server ended the stream; Finish says why.
    }
    stream->WritesDone();
  });
  v1::PublishResponse response;
  while (stream->Read(&response)) Print(response);
  writer.join();
  grpc::Status status = stream->Finish();
  return status.ok() ? 0 : RpcError(status);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = tailgate::cli::ParseToolCommandLine(
      argc, argv,
      "tailgate_publish: publishes events to a tailgate gateway over gRPC.\n"
      "  tailgate_publish --topic=orders.42 [--type=created] [--idempotency_key=K] DATA\n"
      "  producer | tailgate_publish --topic=logs.app --stdin\n"
      "A secured gateway: --token_file=FILE (or $TAILGATE_TOKEN), --tls_ca=CA.pem,\n"
      "and for mutual TLS --tls_cert=CERT.pem --tls_key=KEY.pem.",
      {"gateway/cli/publish_cli.cc"});
  if (absl::GetFlag(FLAGS_topic).empty()) return Usage("--topic is required");
  const bool from_stdin = absl::GetFlag(FLAGS_stdin);
  if (from_stdin && args.size() != 1) return Usage("--stdin takes no DATA argument");
  if (from_stdin && !absl::GetFlag(FLAGS_idempotency_key).empty()) {
    return Usage("--idempotency_key names one event; it cannot be used with --stdin");
  }
  if (!from_stdin && args.size() != 2) return Usage("want exactly one DATA argument, or --stdin");
  absl::StatusOr<std::string> token = tailgate::cli::BearerToken();
  if (!token.ok()) return Usage(std::string(token.status().message()));
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tailgate::cli::MakeChannel();
  if (!channel.ok()) return Usage(std::string(channel.status().message()));
  std::unique_ptr<v1::Publisher::Stub> stub = v1::Publisher::NewStub(*channel);
  return from_stdin ? PublishLines(*stub, *token) : PublishOne(*stub, *token, args[1]);
}
