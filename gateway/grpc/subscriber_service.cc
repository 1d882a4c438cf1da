#include "gateway/grpc/subscriber_service.h"

#include <deque>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/auth/verifier.h"
#include "gateway/grpc/grpc_auth.h"
#include "gateway/grpc/grpc_status.h"
#include "gateway/diag/logging.h"
#include "gateway/core/resume.h"
#include "gateway/core/subscription.h"
#include "store/topic.h"

namespace tailgate {

namespace net = boost::asio;
namespace v1 = tailgate::v1;

namespace {

// Finishes at once with an error (validation failures, draining).
class FailedReactor : public grpc::ServerWriteReactor<v1::Event> {
 public:
  explicit FailedReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// One Subscribe stream: gRPC's wire for a Subscription (the state machine,
// gateway/core/subscription.h): each batch becomes messages written one at a
// time, the end becomes the call's status. On its strand. The reactor (owned
// by gRPC until OnDone) forwards every reaction here; after Finish the
// reactor is never touched again, so posted work may outlive it safely.
class SubscriberService::Stream final : public Subscription {
 public:
  class Reactor : public grpc::ServerWriteReactor<v1::Event> {
   public:
    explicit Reactor(std::shared_ptr<Stream> stream) : stream_(std::move(stream)) {}
    void OnWriteDone(bool ok) override {
      net::post(stream_->strand(), [s = stream_, ok] { s->OnMessageWritten(ok); });
    }
    void OnCancel() override {
      net::post(stream_->strand(), [s = stream_] { s->PeerClosed(); });
    }
    void OnDone() override {
      stream_->service_->Unregister(stream_.get());
      delete this;
    }

   private:
    std::shared_ptr<Stream> stream_;
  };

  Stream(SubscriberService* service, net::any_io_executor strand, store::TopicFilter filter,
         SubscriptionOptions options)
      : Subscription(service->hub_, std::move(strand), std::move(filter), std::move(options)),
        service_(service) {}

 private:
  friend class SubscriberService;

  // Nothing opens a gRPC stream on the wire: the first batch, if any, is all.
  void WriteOpening(uint64_t, std::optional<Cursor::Batch> first) override {
    if (first) return WriteBatch(*std::move(first));
    WriteDone(true);
  }

  void WriteBatch(Cursor::Batch batch) override {
    if (batch.reset) {
      v1::Event e;
      e.set_id(batch.reset->resume);
      e.set_type(std::string(kResetEventType));
      e.set_data(ResetJson(*batch.reset));
      e.mutable_reset()->set_reason(std::string(ResetReasonName(batch.reset->reason)));
      e.mutable_reset()->set_requested(batch.reset->requested);
      e.mutable_reset()->set_resume(batch.reset->resume);
      queue_.push_back(std::move(e));
    }
    for (const EncodedEventPtr& ev : batch.events) {
      v1::Event e;
      e.set_id(ev->event.id);
      e.set_topic(ev->event.topic);
      e.set_type(ev->event.type);
      e.set_data(ev->event.data);
      e.set_publish_time_unix_micros(absl::ToUnixMicros(ev->event.publish_time));
      queue_.push_back(std::move(e));
    }
    if (batch.live) {
      // Id 0: not an event, nothing to resume from.
      v1::Event e;
      e.set_type(std::string(kLiveEventType));
      e.set_data(LiveJson(batch.live_at));
      queue_.push_back(std::move(e));
    }
    WriteNextMessage();
  }

  // gRPC has its own keepalive: no heartbeat is configured.
  void WriteHeartbeat() override { WriteDone(true); }

  void WriteEnd(const Ending& ending) override {
    Finish(StatusFor(ending));
    WriteDone(true);
  }

  void CloseTransport(const Ending& ending) override {
    queue_.clear();
    Finish(StatusFor(ending));
  }

  // The batch's messages, one write at a time; WriteDone after the last.
  void WriteNextMessage() {
    if (queue_.empty()) return WriteDone(true);
    current_ = std::move(queue_.front());
    queue_.pop_front();
    message_in_flight_ = true;
    reactor_->StartWrite(&current_);
  }

  void OnMessageWritten(bool ok) {
    message_in_flight_ = false;
    if (finish_pending_) {
      finish_pending_ = false;
      reactor_->Finish(std::move(final_status_));
      return;
    }
    if (finished_) return;
    if (!ok) {
      queue_.clear();
      return WriteDone(false);
    }
    WriteNextMessage();
  }

  grpc::Status StatusFor(const Ending& ending) const {
    switch (ending.reason) {
      case EndReason::kClientClosed:
      case EndReason::kWriteError:
      case EndReason::kWriteTimeout:
        return grpc::Status::CANCELLED;
      case EndReason::kTokenExpired:
        return grpc::Status(
            grpc::StatusCode::UNAUTHENTICATED,
            has_sent()
                ? absl::StrCat("token expired; subscribe again with a fresh token and after_id=",
                               resume_hint())
                : std::string("token expired; subscribe again with a fresh token"));
      case EndReason::kRevoked:
      case EndReason::kServerError:
        return ToGrpcStatus(ending.status);
      case EndReason::kDraining:
        if (!ending.status.ok()) return ToGrpcStatus(ending.status);
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            absl::StrCat("server is draining; resubscribe with after_id=",
                                         resume_hint()));
    }
    return grpc::Status::CANCELLED;
  }

  // Once; after the message in flight, if any (gRPC takes one write at a time).
  void Finish(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    queue_.clear();
    if (message_in_flight_) {
      final_status_ = std::move(status);
      finish_pending_ = true;
      return;
    }
    reactor_->Finish(std::move(status));
  }

  SubscriberService* const service_;
  Reactor* reactor_ = nullptr;
  std::deque<v1::Event> queue_;
  v1::Event current_;
  grpc::Status final_status_;
  bool message_in_flight_ = false;
  bool finish_pending_ = false;
  bool finished_ = false;
};

SubscriberService::SubscriberService(Hub* hub, const SseConfig& config,
                                     const JwtVerifier* verifier)
    : hub_(hub), config_(config), verifier_(verifier), pool_(std::make_unique<net::thread_pool>(2)) {}

SubscriberService::~SubscriberService() {
  pool_->join();
}

void SubscriberService::Unregister(Stream* stream) {
  std::lock_guard lock(mu_);
  streams_.erase(stream);
}

void SubscriberService::Drain() {
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    for (auto& [ptr, weak] : streams_) {
      if (auto s = weak.lock()) streams.push_back(std::move(s));
    }
  }
  for (auto& s : streams) net::post(s->strand(), [s] { s->Drain(); });
}

absl::StatusOr<AcceptedSubscription> SubscriberService::Accept(
    grpc::CallbackServerContext* context,
    const google::protobuf::RepeatedPtrField<std::string>& topics,
    std::vector<ResumeField> resume) {
  SubscriptionRequest request;
  if (verifier_ != nullptr) {
    request.authentication = AuthenticateGrpc(*verifier_, *context);
    if (!request.authentication->ok()) {
      TG_LOG(DEBUG) << "subscriber: " << request.authentication->status().message();
    }
  }
  for (const std::string& t : topics) request.topics.push_back(t);
  request.topics_field = "topics";
  request.no_topics_message = "topics: at least one pattern is required";
  request.pattern_field = [](size_t index, std::string_view) {
    return absl::StrCat("topics[", index, "]");
  };
  request.max_topics = config_.max_topics;
  request.resume = std::move(resume);
  return AcceptSubscription(request);
}

grpc::ServerUnaryReactor* SubscriberService::GetPosition(grpc::CallbackServerContext* context,
                                                         const v1::PositionRequest* request,
                                                         v1::Position* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<AcceptedSubscription> accepted = Accept(context, request->topics(), {});
  if (!accepted.ok()) {
    reactor->Finish(ToGrpcStatus(accepted.status()));
    return reactor;
  }
  // The watermark, as GET /v1/position (sse_position.cc says why).
  response->set_id(hub_->watermark());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<v1::Event>* SubscriberService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  // Highest precedence first: after_id > since > last (subscriber.proto).
  using Kind = ResumeField::Kind;
  std::vector<ResumeField> resume;
  const std::string after_id = request->has_after_id() ? absl::StrCat(request->after_id()) : "";
  const std::string last = request->has_last() ? absl::StrCat(request->last()) : "";
  if (request->has_after_id()) resume.push_back({Kind::kAfterId, "after_id", after_id});
  // proto3: an empty `since` cannot be told from an absent one.
  if (!request->since().empty()) resume.push_back({Kind::kSince, "since", request->since()});
  if (request->has_last()) resume.push_back({Kind::kLast, "last", last});
  absl::StatusOr<AcceptedSubscription> accepted = Accept(context, request->topics(), std::move(resume));
  if (!accepted.ok()) return new FailedReactor(ToGrpcStatus(accepted.status()));
  SubscriptionOptions options;
  options.resume = accepted->resume;
  options.live_marker = request->live_marker();
  options.valid_until = accepted->valid_until;
  options.presence = presence_;
  options.stream = StreamInfo{accepted->subject, "grpc", context->peer(), absl::Now()};
  auto stream = std::make_shared<Stream>(this, net::make_strand(pool_->get_executor()),
                                         store::TopicFilter(std::move(accepted->patterns)),
                                         std::move(options));
  {
    std::lock_guard lock(mu_);
    if (draining_) {
      return new FailedReactor(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is draining; retry elsewhere"));
    }
    streams_[stream.get()] = stream;
  }
  auto* reactor = new Stream::Reactor(stream);
  stream->reactor_ = reactor;
  // Start on the strand: nothing of the stream runs outside it.
  net::post(stream->strand(), [stream] { stream->Start(); });
  return reactor;
}

}  // namespace tailgate
