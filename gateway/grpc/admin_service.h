// tailgate.v1.Admin: topic listing, trims, deletes, stats and online
// checkpoints over the log.
//
// Uses gRPC's synchronous API on purpose: every call does store I/O (scans,
// range deletes, a checkpoint copy), and sync handlers run on gRPC's own
// thread pool where blocking is allowed, never on an event loop.
//
// Thread-safety: handlers run concurrently; the Log is thread-safe.
// Ownership: the Log must outlive the service.
#ifndef TAILGATE_GATEWAY_GRPC_ADMIN_SERVICE_H_
#define TAILGATE_GATEWAY_GRPC_ADMIN_SERVICE_H_

#include <optional>
#include <string>
#include <utility>

#include "gateway/auth/verifier.h"
#include "gateway/core/presence.h"
#include "gateway/auth/revocations.h"
#include "store/log.h"
#include "tailgate/v1/admin.grpc.pb.h"

namespace tailgate {

class AdminService final : public tailgate::v1::Admin::Service {
 public:
  // `verifier` non-null: every call needs a token whose claim object has
  // "admin": true (UNAUTHENTICATED / PERMISSION_DENIED otherwise).
  // `durability` is what GetStats reports (a --durability name, or the
  // JetStream equivalent); `topic_bytes_unknown`: the log's TopicInfo::bytes
  // is always 0 (JetStream), so ListTopics says so.
  AdminService(store::Log* log, std::string durability, bool topic_bytes_unknown,
               const JwtVerifier* verifier = nullptr)
      : log_(log),
        durability_(std::move(durability)),
        topic_bytes_unknown_(topic_bytes_unknown),
        verifier_(verifier) {}

  grpc::Status ListTopics(grpc::ServerContext* ctx, const v1::ListTopicsRequest* req,
                          v1::ListTopicsResponse* res) override;
  grpc::Status TrimTopic(grpc::ServerContext* ctx, const v1::TrimTopicRequest* req,
                         v1::TrimTopicResponse* res) override;
  grpc::Status DeleteTopic(grpc::ServerContext* ctx, const v1::DeleteTopicRequest* req,
                           v1::DeleteTopicResponse* res) override;
  grpc::Status GetStats(grpc::ServerContext* ctx, const v1::GetStatsRequest* req,
                        v1::GetStatsResponse* res) override;
  grpc::Status Checkpoint(grpc::ServerContext* ctx, const v1::CheckpointRequest* req,
                          v1::CheckpointResponse* res) override;

  // Who is connected, and revocations (admin_presence.cc). Without
  // set_presence these answer FAILED_PRECONDITION.
  grpc::Status ListStreams(grpc::ServerContext* ctx, const v1::ListStreamsRequest* req,
                           v1::ListStreamsResponse* res) override;
  grpc::Status CountSubscribers(grpc::ServerContext* ctx, const v1::CountSubscribersRequest* req,
                                v1::CountSubscribersResponse* res) override;
  grpc::Status Revoke(grpc::ServerContext* ctx, const v1::RevokeRequest* req,
                      v1::RevokeResponse* res) override;
  grpc::Status ListRevocations(grpc::ServerContext* ctx, const v1::ListRevocationsRequest* req,
                               v1::ListRevocationsResponse* res) override;
  grpc::Status Unrevoke(grpc::ServerContext* ctx, const v1::UnrevokeRequest* req,
                        v1::UnrevokeResponse* res) override;

  // Before the server starts; both must outlive the service.
  void set_presence(StreamRegistry* registry, RevocationList* revocations) {
    registry_ = registry;
    revocations_ = revocations;
  }

 private:
  grpc::Status CheckAdmin(const grpc::ServerContext& ctx) const;

  store::Log* log_;
  const std::string durability_;
  const bool topic_bytes_unknown_;
  const JwtVerifier* const verifier_;
  StreamRegistry* registry_ = nullptr;
  RevocationList* revocations_ = nullptr;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_GRPC_ADMIN_SERVICE_H_
