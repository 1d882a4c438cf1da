// tailgatectl: the admin API from a shell, and development tokens.
//
//   tailgatectl [--server=127.0.0.1:50051] topics [PATTERN]
//   tailgatectl trim TOPIC UP_TO_ID
//   tailgatectl delete TOPIC
//   tailgatectl stats
//   tailgatectl checkpoint DIR
//   tailgatectl streams [--subject=S] [PATTERN]
//   tailgatectl subscribers [PATTERN]
//   tailgatectl revoke --subject=S|--pattern=P --until=RFC3339|--for=DURATION
//   tailgatectl revocations
//   tailgatectl unrevoke --subject=S|--pattern=P
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
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gateway/cli/client_options.h"
#include "gateway/auth/token_mint.h"
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
// `streams`, `revoke`, `unrevoke`.
ABSL_FLAG(std::string, subject, "", "streams: only this JWT subject's; revoke/unrevoke: the subject");
ABSL_FLAG(std::string, pattern, "", "revoke/unrevoke: the topic pattern");
ABSL_FLAG(std::string, until, "", "revoke: when it ends, RFC 3339 (2026-01-02T15:04:05Z)");
ABSL_FLAG(absl::Duration, for, absl::ZeroDuration(), "revoke: how long from now (e.g. 1h, 30m)");

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
    "  streams [--subject=S] [PATTERN]\n"
    "                         open SSE/Subscribe streams (those with a pattern covered by\n"
    "                         PATTERN): subject, protocol, position, age, patterns\n"
    "  subscribers [PATTERN]  open streams per subscription pattern\n"
    "  revoke --subject=S|--pattern=P --until=RFC3339|--for=DURATION\n"
    "                         end matching streams now and refuse the subject's tokens\n"
    "                         (or subscriptions covered by P) until then\n"
    "  revocations            revocations in effect\n"
    "  unrevoke --subject=S|--pattern=P   lift a revocation\n"
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

std::string Rfc3339Micros(int64_t micros) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

// "1h2m3s"-style, whole seconds: an age at a glance.
std::string Age(double seconds) {
  return absl::FormatDuration(absl::Seconds(static_cast<int64_t>(seconds)));
}

constexpr int kNotPresence = -1;

// streams, subscribers, revoke, revocations, unrevoke; kNotPresence for
// another command.
int Presence(Admin::Stub* stub, grpc::ClientContext* ctx, const std::vector<char*>& args) {
  const std::string cmd = args[1];
  const std::string subject = absl::GetFlag(FLAGS_subject);
  const std::string pattern = absl::GetFlag(FLAGS_pattern);
  if (cmd == "streams") {
    if (args.size() > 3) return Usage("streams takes at most one pattern");
    tailgate::v1::ListStreamsRequest req;
    req.set_subject(subject);
    if (args.size() == 3) req.set_pattern(args[2]);
    tailgate::v1::ListStreamsResponse res;
    grpc::Status s = stub->ListStreams(ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("%-6s %-20s %-5s %20s %10s %-22s %s\n", "ID", "SUBJECT", "PROTO", "POSITION",
                "AGE", "REMOTE", "PATTERNS");
    for (const auto& st : res.streams()) {
      std::printf("%-6llu %-20s %-5s %20llu %10s %-22s %s\n",
                  static_cast<unsigned long long>(st.id()),
                  st.subject().empty() ? "-" : st.subject().c_str(), st.protocol().c_str(),
                  static_cast<unsigned long long>(st.position()), Age(st.age_seconds()).c_str(),
                  st.remote().empty() ? "-" : st.remote().c_str(),
                  absl::StrJoin(st.patterns(), ",").c_str());
    }
    return 0;
  }
  if (cmd == "subscribers") {
    if (args.size() > 3) return Usage("subscribers takes at most one pattern");
    tailgate::v1::CountSubscribersRequest req;
    if (args.size() == 3) req.set_pattern(args[2]);
    tailgate::v1::CountSubscribersResponse res;
    grpc::Status s = stub->CountSubscribers(ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("%-40s %12s\n", "PATTERN", "SUBSCRIBERS");
    for (const auto& p : res.patterns()) {
      std::printf("%-40s %12llu\n", p.pattern().c_str(),
                  static_cast<unsigned long long>(p.subscribers()));
    }
    std::printf("%llu stream(s)\n", static_cast<unsigned long long>(res.streams()));
    return 0;
  }
  if (cmd == "revoke" || cmd == "unrevoke") {
    if (args.size() != 2) return Usage(cmd + " takes only flags");
    if (subject.empty() == pattern.empty()) {
      return Usage(cmd + " needs exactly one of --subject or --pattern");
    }
    const std::string what = subject.empty() ? "pattern " + pattern : "subject " + subject;
    if (cmd == "unrevoke") {
      tailgate::v1::UnrevokeRequest req;
      req.set_subject(subject);
      req.set_pattern(pattern);
      tailgate::v1::UnrevokeResponse res;
      grpc::Status s = stub->Unrevoke(ctx, req, &res);
      if (!s.ok()) return Report(s);
      std::printf("unrevoked %s\n", what.c_str());
      return 0;
    }
    const std::string until_text = absl::GetFlag(FLAGS_until);
    const absl::Duration for_ = absl::GetFlag(FLAGS_for);
    if (until_text.empty() == (for_ == absl::ZeroDuration())) {
      return Usage("revoke needs exactly one of --until=RFC3339 or --for=DURATION");
    }
    absl::Time until;
    if (!until_text.empty()) {
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, until_text, &until, &err)) {
        return Usage("--until=" + until_text + ": not RFC 3339 (" + err + ")");
      }
    } else {
      if (for_ < absl::ZeroDuration()) return Usage("--for must be positive");
      until = absl::Now() + for_;
    }
    tailgate::v1::RevokeRequest req;
    req.set_subject(subject);
    req.set_pattern(pattern);
    req.set_until_unix_micros(absl::ToUnixMicros(until));
    tailgate::v1::RevokeResponse res;
    grpc::Status s = stub->Revoke(ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("revoked %s until %s: %llu stream(s) ended%s\n", what.c_str(),
                Rfc3339Micros(res.revocation().until_unix_micros()).c_str(),
                static_cast<unsigned long long>(res.streams_ended()),
                res.persisted() ? "" : " (in memory only: a restart forgets it)");
    return 0;
  }
  if (cmd == "revocations") {
    if (args.size() != 2) return Usage("revocations takes no arguments");
    tailgate::v1::ListRevocationsResponse res;
    grpc::Status s = stub->ListRevocations(ctx, tailgate::v1::ListRevocationsRequest(), &res);
    if (!s.ok()) return Report(s);
    std::printf("%-8s %-40s %s\n", "KIND", "VALUE", "UNTIL");
    for (const auto& r : res.revocations()) {
      const bool is_subject = !r.subject().empty();
      std::printf("%-8s %-40s %s\n", is_subject ? "subject" : "pattern",
                  (is_subject ? r.subject() : r.pattern()).c_str(),
                  Rfc3339Micros(r.until_unix_micros()).c_str());
    }
    return 0;
  }
  return kNotPresence;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args =
      tailgate::cli::ParseToolCommandLine(argc, argv, kUsage, {"gateway/cli/tailgatectl.cc"});
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
  const int presence = Presence(stub.get(), &ctx, args);
  if (presence != kNotPresence) return presence;
  return Usage("unknown command: " + cmd);
}
