// tailgatectl: the admin API from a shell.
//
//   tailgatectl [--server=127.0.0.1:50051] topics [PATTERN]
//   tailgatectl trim TOPIC UP_TO_ID
//   tailgatectl delete TOPIC
//   tailgatectl stats
//   tailgatectl checkpoint DIR
#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "tailgate/v1/admin.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "tailgate gRPC address");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60), "deadline of the call");

namespace {

using tailgate::v1::Admin;

constexpr char kUsage[] =
    "tailgatectl: administer a tailgate gateway over gRPC.\n"
    "Usage: tailgatectl [--server=HOST:PORT] COMMAND [ARGS]\n"
    "  topics [PATTERN]       list topics (default: all) with first/last id, count, bytes\n"
    "  trim TOPIC UP_TO_ID    remove TOPIC's events with id <= UP_TO_ID\n"
    "  delete TOPIC           remove TOPIC and all its events\n"
    "  stats                  watermark, events, bytes, topics, disk usage\n"
    "  checkpoint DIR         write an online backup to DIR (on the server's disk)";

int Usage(const char* why) {
  std::fprintf(stderr, "tailgatectl: %s\n%s\n", why, kUsage);
  return 2;
}

int Report(const grpc::Status& s) {
  std::fprintf(stderr, "tailgatectl: %s: %s\n",
               s.error_code() == grpc::StatusCode::UNAVAILABLE ? "unavailable" : "error",
               s.error_message().c_str());
  return 1;
}

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_timeout)));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Usage("missing command");
  const std::string cmd = args[1];
  auto stub = Admin::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  SetDeadline(&ctx);

  if (cmd == "topics") {
    if (args.size() > 3) return Usage("topics takes at most one pattern");
    tailgate::v1::ListTopicsRequest req;
    if (args.size() == 3) req.set_pattern(args[2]);
    tailgate::v1::ListTopicsResponse res;
    grpc::Status s = stub->ListTopics(&ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("%-40s %12s %12s %10s %12s\n", "TOPIC", "FIRST_ID", "LAST_ID", "COUNT", "BYTES");
    for (const auto& t : res.topics()) {
      std::printf("%-40s %12llu %12llu %10llu %12llu\n", t.topic().c_str(),
                  static_cast<unsigned long long>(t.first_id()),
                  static_cast<unsigned long long>(t.last_id()),
                  static_cast<unsigned long long>(t.count()),
                  static_cast<unsigned long long>(t.bytes()));
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
    tailgate::v1::CheckpointRequest req;
    req.set_dir(args[2]);
    tailgate::v1::CheckpointResponse res;
    grpc::Status s = stub->Checkpoint(&ctx, req, &res);
    if (!s.ok()) return Report(s);
    std::printf("checkpoint %s holds every event up to id %llu\n", res.dir().c_str(),
                static_cast<unsigned long long>(res.watermark()));
    return 0;
  }
  return Usage(("unknown command: " + cmd).c_str());
}
