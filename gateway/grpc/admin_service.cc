#include "gateway/grpc/admin_service.h"

#include <filesystem>
#include <string>
#include <system_error>

#include "gateway/grpc/grpc_auth.h"
#include "gateway/grpc/grpc_status.h"
#include "gateway/diag/logging.h"

namespace tailgate {
namespace {

void ToProto(const store::TopicInfo& in, v1::TopicInfo* out) {
  out->set_topic(in.topic);
  out->set_first_id(in.first_id);
  out->set_last_id(in.last_id);
  out->set_count(in.count);
  out->set_bytes(in.bytes);
}

absl::StatusOr<store::TopicFilter> FilterFor(const std::string& pattern) {
  return store::TopicFilter::Parse({pattern.empty() ? std::string(">") : pattern}, "pattern");
}

}  // namespace

grpc::Status AdminService::CheckAdmin(const grpc::ServerContext& ctx) const {
  if (verifier_ == nullptr) return grpc::Status::OK;
  absl::StatusOr<Grants> grants = AuthenticateGrpc(*verifier_, ctx);
  if (!grants.ok()) return ToGrpcStatus(grants.status());
  if (!grants->admin) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "token does not allow administration (needs \"admin\": true in its claim)");
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListTopics(grpc::ServerContext* ctx, const v1::ListTopicsRequest* req,
                                      v1::ListTopicsResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  absl::StatusOr<store::TopicFilter> filter = FilterFor(req->pattern());
  if (!filter.ok()) return ToGrpcStatus(filter.status());
  absl::StatusOr<std::vector<store::TopicInfo>> topics = log_->ListTopics(*filter);
  if (!topics.ok()) return ToGrpcStatus(topics.status());
  for (const store::TopicInfo& t : *topics) ToProto(t, res->add_topics());
  res->set_topic_bytes_unknown(topic_bytes_unknown_);
  return grpc::Status::OK;
}

grpc::Status AdminService::TrimTopic(grpc::ServerContext* ctx, const v1::TrimTopicRequest* req,
                                     v1::TrimTopicResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (absl::Status s = store::ValidateTopic(req->topic()); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = log_->TrimTopic(req->topic(), req->up_to_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  TG_LOG(INFO) << "admin: trimmed " << req->topic() << " up to id " << req->up_to_id();
  absl::StatusOr<store::TopicFilter> filter = FilterFor(req->topic());
  if (!filter.ok()) return ToGrpcStatus(filter.status());
  absl::StatusOr<std::vector<store::TopicInfo>> topics = log_->ListTopics(*filter);
  if (!topics.ok()) return ToGrpcStatus(topics.status());
  if (!topics->empty()) ToProto(topics->front(), res->mutable_topic());
  return grpc::Status::OK;
}

grpc::Status AdminService::DeleteTopic(grpc::ServerContext* ctx, const v1::DeleteTopicRequest* req,
                                       v1::DeleteTopicResponse*) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (absl::Status s = store::ValidateTopic(req->topic()); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = log_->DeleteTopic(req->topic()); !s.ok()) return ToGrpcStatus(s);
  TG_LOG(INFO) << "admin: deleted topic " << req->topic();
  return grpc::Status::OK;
}

grpc::Status AdminService::GetStats(grpc::ServerContext* ctx, const v1::GetStatsRequest*,
                                    v1::GetStatsResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  absl::StatusOr<store::LogStats> stats = log_->Stats();
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  res->set_watermark(stats->watermark);
  res->set_events(stats->events);
  res->set_bytes(stats->bytes);
  res->set_topics(stats->topics);
  res->set_disk_bytes(stats->disk_bytes);
  res->set_durability(durability_);
  return grpc::Status::OK;
}

grpc::Status AdminService::Checkpoint(grpc::ServerContext* ctx, const v1::CheckpointRequest* req,
                                      v1::CheckpointResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (req->dir().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "dir: must name a new directory");
  }
  // Everything acknowledged before the call is at or below this watermark,
  // and the checkpoint (taken after) contains at least that.
  // Relative to this process's working directory, which the caller cannot
  // see: resolve it here and answer with the absolute path.
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::absolute(req->dir(), ec);
  if (ec) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "dir: " + ec.message());
  const uint64_t watermark = log_->Watermark();
  if (absl::Status s = log_->Checkpoint(dir.string()); !s.ok()) {
    // The store's own message for this common mistake is an I/O error deep
    // in RocksDB; name the missing directory instead.
    const std::filesystem::path parent = dir.parent_path();
    if (!std::filesystem::is_directory(parent, ec)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "dir: the parent directory " + parent.string() +
                              " does not exist on the server; create it first");
    }
    return ToGrpcStatus(s);
  }
  TG_LOG(INFO) << "admin: checkpoint of ids <= " << watermark << " written to " << dir.string();
  res->set_dir(dir.string());
  res->set_watermark(watermark);
  return grpc::Status::OK;
}

}  // namespace tailgate
