// tailgate.v1.Subscriber: server-streaming Subscribe for backends, on the same
// hub and cursors as the SSE endpoint (same resume rules, same reset event,
// same no-gap/no-duplicate guarantee).
//
// Callback API: one reactor per RPC; reactions only post to the stream's
// strand (a small delivery pool owned here), never block; every RPC is
// finished, also when cancelled or when the server drains (UNAVAILABLE).
//
// Lifetime: the Hub must outlive this service; stop the hub (Hub::Stop)
// before destroying the service, and destroy it only after the gRPC server
// has shut down.
#ifndef TAILGATE_GATEWAY_GRPC_SUBSCRIBER_SERVICE_H_
#define TAILGATE_GATEWAY_GRPC_SUBSCRIBER_SERVICE_H_

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "gateway/auth/verifier.h"
#include "gateway/config.h"
#include "gateway/core/hub.h"
#include "gateway/core/subscription_request.h"
#include "gateway/core/presence.h"
#include "tailgate/v1/subscriber.grpc.pb.h"

namespace tailgate {

class SubscriberService final : public tailgate::v1::Subscriber::CallbackService {
 public:
  // `verifier` non-null: a token (authorization metadata, verified once per
  // RPC) must grant every requested pattern; it must outlive the service.
  // The call is finished UNAUTHENTICATED ("token expired ...") when the
  // token's exp plus leeway passes.
  SubscriberService(Hub* hub, const SseConfig& config, const JwtVerifier* verifier = nullptr);
  ~SubscriberService() override;

  grpc::ServerWriteReactor<tailgate::v1::Event>* Subscribe(
      grpc::CallbackServerContext* context,
      const tailgate::v1::SubscribeRequest* request) override;

  grpc::ServerUnaryReactor* GetPosition(grpc::CallbackServerContext* context,
                                        const tailgate::v1::PositionRequest* request,
                                        tailgate::v1::Position* response) override;

  // Ends every open stream with UNAVAILABLE (after its write in flight) and
  // refuses new ones. Returns at once.
  void Drain();

  // Streams register there (ListStreams, Revoke) and revoked subjects or
  // patterns are refused. Before the server starts; `registry` must outlive
  // the service. Optional.
  void set_presence(StreamRegistry* registry) { presence_ = registry; }

  class Stream;  // Internal.

 private:
  friend class Stream;
  void Unregister(Stream* stream);
  // The call's token, `topics` and `resume` through AcceptSubscription
  // (gateway/core/subscription_request.h), in gRPC's field names.
  absl::StatusOr<AcceptedSubscription> Accept(grpc::CallbackServerContext* context,
                                      const google::protobuf::RepeatedPtrField<std::string>& topics,
                                      std::vector<ResumeField> resume);

  Hub* const hub_;
  const SseConfig config_;
  const JwtVerifier* const verifier_;
  StreamRegistry* presence_ = nullptr;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  std::mutex mu_;  // Guards draining_ and streams_.
  bool draining_ = false;
  std::unordered_map<Stream*, std::weak_ptr<Stream>> streams_;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_GRPC_SUBSCRIBER_SERVICE_H_
