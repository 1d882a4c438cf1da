// tailgatectl: the admin API from a shell, and development tokens.
//
//   tailgatectl [--server=127.0.0.1:50051] topics [PATTERN]
//   tailgatectl trim TOPIC UP_TO_ID
//   tailgatectl delete TOPIC
//   tailgatectl stats
//   tailgatectl checkpoint DIR
//   tailgatectl token --key=FILE --sub=NAME --subscribe=P --publish=P [--admin] --ttl=1h
//
// Against a secured gateway: a token with "admin": true (--token_file,
// --token or $TAILGATE_TOKEN) and --tls_ca / --tls_cert / --tls_key; see
// client_options.h. Exits 0 on success, 1 when the server refuses, 2 on a
// usage error.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "gateway/client_options.h"
#include "gateway/token_mint.h"
#include "tailgate/v1/admin.grpc.pb.h"

ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60), "deadline of the call");
// `token` only.
ABSL_FLAG(std::string, key, "",
          "token: signing key file, a PEM private key (RS*/ES*) or an HMAC secret (HS*)");
ABSL_FLAG(std::string, alg, "", "token: algorithm; default: from the key (RS256, ES256/384/512 "
          "by curve, HS256 for a secret)");
ABSL_FLAG(std::string, sub, "", "token: subject (sub claim)");
ABSL_FLAG(std::vector<std::string>, subscribe, {},
          "token: comma-separated patterns the token may subscribe to, e.g. 'orders.>'");
ABSL_FLAG(std::vector<std::string>, publish, {},
          "token: comma-separated patterns the token may publish to");
ABSL_FLAG(bool, admin, false, "token: may call the Admin API (tailgatectl's other commands)");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(1), "token: lifetime (exp = now + ttl)");
ABSL_FLAG(std::string, iss, "", "token: issuer (the gateway's --jwt_issuer)");
ABSL_FLAG(std::string, aud, "", "token: audience (the gateway's --jwt_audience)");
ABSL_FLAG(std::string, claim, "tailgate", "token: name of the grants claim (--jwt_claim)");

namespace {

using tailgate::v1::Admin;

constexpr char kUsage[] =
    "tailgatectl: administer a tailgate gateway over gRPC.\n"
    "Usage: tailgatectl [--server=HOST:PORT] [--token_file=FILE] [--tls_ca=CA.pem] COMMAND [ARGS]\n"
    "  topics [PATTERN]       list topics (default: all) with first/last id, count, bytes\n"
    "  trim TOPIC UP_TO_ID    remove TOPIC's events with id <= UP_TO_ID\n"
    "  delete TOPIC           remove TOPIC and all its events\n"
    "  stats                  watermark, events, bytes, topics, disk usage\n"
    "  checkpoint DIR         write an online backup to DIR (on the server's disk; use an\n"
    "                         absolute path: a relative one is resolved by the server)\n"
    "  token                  print a development JWT (no server needed), e.g.\n"
    "                         token --key=jwt.key --sub=me --subscribe='demo.>' --publish='demo.>'";

int Usage(const std::string& why) {
  std::fprintf(stderr, "tailgatectl: %s\n%s\n", why.c_str(), kUsage);
  return 2;
}

int Report(const grpc::Status& s) {
  std::fprintf(stderr, "tailgatectl: %s: %s\n", tailgate::cli::StatusCodeName(s.error_code()),
               s.error_message().c_str());
  return 1;
}

int MintToken() {
  const std::string path = absl::GetFlag(FLAGS_key);
  if (path.empty()) return Usage("token needs --key=FILE");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Usage("--key=" + path + ": cannot read");
  tailgate::TokenSpec spec;
  spec.key.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  spec.algorithm = absl::GetFlag(FLAGS_alg);
  spec.subject = absl::GetFlag(FLAGS_sub);
  spec.subscribe = absl::GetFlag(FLAGS_subscribe);
  spec.publish = absl::GetFlag(FLAGS_publish);
  spec.admin = absl::GetFlag(FLAGS_admin);
  spec.ttl = absl::GetFlag(FLAGS_ttl);
  spec.issuer = absl::GetFlag(FLAGS_iss);
  spec.audience = absl::GetFlag(FLAGS_aud);
  spec.claim = absl::GetFlag(FLAGS_claim);
  absl::StatusOr<std::string> token = tailgate::MintToken(spec, absl::Now());
  if (!token.ok()) return Usage("token: " + std::string(token.status().message()));
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args =
      tailgate::cli::ParseToolCommandLine(argc, argv, kUsage, {"gateway/tailgatectl.cc"});
  if (args.size() < 2) return Usage("missing command");
  const std::string cmd = args[1];
  if (cmd == "token") {
    if (args.size() != 2) return Usage("token takes only flags");
    return MintToken();
  }
  absl::StatusOr<std::string> token = tailgate::cli::BearerToken();
  if (!token.ok()) return Usage(std::string(token.status().message()));
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tailgate::cli::MakeChannel();
  if (!channel.ok()) return Usage(std::string(channel.status().message()));
  auto stub = Admin::NewStub(*channel);
  grpc::ClientContext ctx;
  tailgate::cli::Authorize(&ctx, *token);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));

  if (cmd == "topics") {
    if (args.size() > 3) return Usage("topics takes at most one pattern");
    tailgate::v1::ListTopicsRequest req;
    if (args.size() == 3) req.set_pattern(args[2]);
    tailgate::v1::ListTopicsResponse res;
    grpc::Status s = stub->ListTopics(&ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("%-40s %12s %12s %10s %12s\n", "TOPIC", "FIRST_ID", "LAST_ID", "COUNT", "BYTES");
    for (const auto& t : res.topics()) {
      // A backend without per-topic byte counts (JetStream) shows "-", not a
      // 0 that contradicts `stats`.
      const std::string bytes = res.topic_bytes_unknown() ? "-" : std::to_string(t.bytes());
      std::printf("%-40s %12llu %12llu %10llu %12s\n", t.topic().c_str(),
                  static_cast<unsigned long long>(t.first_id()),
                  static_cast<unsigned long long>(t.last_id()),
                  static_cast<unsigned long long>(t.count()), bytes.c_str());
    }
    return 0;
  }
  if (cmd == "trim") {
    if (args.size() != 4) return Usage("trim takes TOPIC UP_TO_ID");
    uint64_t up_to = 0;
    const std::string id = args[3];
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), up_to);
    if (ec != std::errc() || p != id.data() + id.size()) return Usage("UP_TO_ID must be a number");
    tailgate::v1::TrimTopicRequest req;
    req.set_topic(args[2]);
    req.set_up_to_id(up_to);
    tailgate::v1::TrimTopicResponse res;
    grpc::Status s = stub->TrimTopic(&ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("trimmed %s: %llu events remain, first id %llu\n", args[2],
                static_cast<unsigned long long>(res.topic().count()),
                static_cast<unsigned long long>(res.topic().first_id()));
    return 0;
  }
  if (cmd == "delete") {
    if (args.size() != 3) return Usage("delete takes TOPIC");
    tailgate::v1::DeleteTopicRequest req;
    req.set_topic(args[2]);
    tailgate::v1::DeleteTopicResponse res;
    grpc::Status s = stub->DeleteTopic(&ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("deleted %s\n", args[2]);
    return 0;
  }
  if (cmd == "stats") {
    tailgate::v1::GetStatsResponse res;
    grpc::Status s = stub->GetStats(&ctx, tailgate::v1::GetStatsRequest(), &res);
    if (!s.ok()) return Report(s);
    std::printf("watermark   %llu\nevents      %llu\nbytes       %llu\ntopics      %llu\n"
                "disk_bytes  %llu\ndurability  %s\n",
                static_cast<unsigned long long>(res.watermark()),
                static_cast<unsigned long long>(res.events()),
                static_cast<unsigned long long>(res.bytes()),
                static_cast<unsigned long long>(res.topics()),
                static_cast<unsigned long long>(res.disk_bytes()), res.durability().c_str());
    return 0;
  }
  if (cmd == "checkpoint") {
    if (args.size() != 3) return Usage("checkpoint takes DIR");
    const std::string dir = args[2];
    // The server writes the checkpoint, on its own disk: a relative DIR is
    // relative to the server's working directory, not ours. Say so, and print
    // the path the server used.
    if (!dir.empty() && dir[0] != '/') {
      std::fprintf(stderr,
                   "tailgatectl: note: '%s' is relative: the server resolves it against its own "
                   "working directory (give an absolute path to be sure where it goes)\n",
                   dir.c_str());
    }
    tailgate::v1::CheckpointRequest req;
    req.set_dir(dir);
    tailgate::v1::CheckpointResponse res;
    grpc::Status s = stub->Checkpoint(&ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("checkpoint %s holds every event up to id %llu\n", res.dir().c_str(),
                static_cast<unsigned long long>(res.watermark()));
    return 0;
  }
  return Usage("unknown command: " + cmd);
}
