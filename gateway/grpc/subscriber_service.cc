#include "gateway/grpc/subscriber_service.h"

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/auth/verifier.h"
#include "gateway/grpc_auth.h"
#include "gateway/grpc_status.h"
#include "gateway/logging.h"
#include "gateway/core/resume.h"
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

// One Subscribe stream's state, on its strand. The reactor (owned by gRPC
// until OnDone) forwards every reaction here; after Finish the reactor is
// never touched again, so posted work may outlive it safely.
class SubscriberService::Stream : public std::enable_shared_from_this<SubscriberService::Stream> {
 public:
  class Reactor : public grpc::ServerWriteReactor<v1::Event> {
   public:
    explicit Reactor(std::shared_ptr<Stream> stream) : stream_(std::move(stream)) {}
    void OnWriteDone(bool ok) override {
      net::post(stream_->strand_, [s = stream_, ok] { s->OnWriteDone(ok); });
    }
    void OnCancel() override {
      net::post(stream_->strand_, [s = stream_] { s->OnCancel(); });
    }
    void OnDone() override {
      stream_->service_->Unregister(stream_.get());
      delete this;
    }

   private:
    std::shared_ptr<Stream> stream_;
  };

  // `valid_until`: the token's Grants::valid_until (InfiniteFuture without
  // auth); the call is finished UNAUTHENTICATED there.
  Stream(SubscriberService* service, net::any_io_executor strand, store::TopicFilter filter,
         ResumeSpec spec, absl::Time valid_until, bool live_marker)
      : service_(service),
        strand_(std::move(strand)),
        filter_(std::move(filter)),
        spec_(spec),
        valid_until_(valid_until),
        live_marker_(live_marker),
        expiry_timer_(strand_) {}

  void Start() {
    if (valid_until_ != absl::InfiniteFuture()) {
      // The timer's handler runs on the strand (its executor), like every
      // other reaction of the stream.
      expiry_timer_.expires_after(std::chrono::duration_cast<net::steady_timer::duration>(
          absl::ToChronoNanoseconds(TokenTimeLeft(valid_until_, absl::Now()))));
      expiry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->OnTokenExpired();
      });
    }
    service_->hub_->ResolveStart(spec_, filter_,
                                 [self = shared_from_this()](absl::StatusOr<Hub::Start> s) {
                                   net::post(self->strand_, [self, s = std::move(s)]() mutable {
                                     self->OnResolved(std::move(s));
                                   });
                                 });
  }

  void Drain() {
    draining_ = true;
    MaybeFinish();
  }

 private:
  friend class SubscriberService;

  void OnResolved(absl::StatusOr<Hub::Start> start) {
    if (finished_) return;
    if (!start.ok()) return Finish(ToGrpcStatus(start.status()));
    start_position_ = start->position;
    start->notify_live = live_marker_;
    registration_.set_position(start_position_);
    cursor_ = std::make_shared<Cursor>(service_->hub_, strand_, filter_, *std::move(start));
    RequestNext();
  }

  void RequestNext() {
    if (next_pending_ || finished_ || !cursor_) return;
    next_pending_ = true;
    cursor_->Next([self = shared_from_this()](Cursor::Batch b) { self->OnBatch(std::move(b)); });
  }

  void OnBatch(Cursor::Batch batch) {
    next_pending_ = false;
    if (finished_ || token_expired_ || revoked_) return;
    // The timer may not have run yet at the deadline: nothing read after it
    // goes out.
    if (absl::Now() >= valid_until_) return OnTokenExpired();
    if (!batch.status.ok()) {
      end_status_ = ToGrpcStatus(batch.status);
      draining_ = true;
      return MaybeFinish();
    }
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
      last_id_ = ev->event.id;
    }
    if (batch.live) {
      // Id 0: not an event, nothing to resume from (sent_id_ skips it).
      v1::Event e;
      e.set_type(std::string(kLiveEventType));
      e.set_data(LiveJson(batch.live_at));
      queue_.push_back(std::move(e));
    }
    WriteNext();
  }

  void WriteNext() {
    if (writing_ || finished_) return;
    if (draining_ || cancelled_ || token_expired_ || revoked_) return MaybeFinish();
    if (queue_.empty()) return RequestNext();
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    reactor_->StartWrite(&current_);
  }

  void OnWriteDone(bool ok) {
    writing_ = false;
    if (!ok) cancelled_ = true;
    if (ok && current_.id() != 0) {
      sent_id_ = current_.id();
      registration_.set_position(*sent_id_);
    }
    WriteNext();
  }

  // The token's valid_until passed: the write in flight (started before)
  // completes, nothing else is sent, and the call ends UNAUTHENTICATED.
  // Events read but not sent are dropped; the resume hint points before them.
  void OnTokenExpired() {
    if (finished_ || token_expired_) return;
    token_expired_ = true;
    queue_.clear();
    if (cursor_) cursor_->Close();
    MaybeFinish();
  }

  void OnCancel() {
    cancelled_ = true;
    MaybeFinish();
  }

  // An admin revoked the stream's subject or a pattern covering it: like
  // token expiry, the write in flight completes, then the call ends with
  // `reason` (UNAUTHENTICATED / PERMISSION_DENIED).
  void OnRevoked(const absl::Status& reason) {
    if (finished_ || revoked_) return;
    revoked_ = ToGrpcStatus(reason);
    queue_.clear();
    if (cursor_) cursor_->Close();
    MaybeFinish();
  }

  void MaybeFinish() {
    if (finished_ || writing_) return;  // OnWriteDone comes back here.
    if (cancelled_) return Finish(grpc::Status::CANCELLED);
    if (revoked_) return Finish(*revoked_);
    if (token_expired_) {
      return Finish(grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          sent_id_ ? absl::StrCat("token expired; subscribe again with a fresh token and after_id=",
                                  *sent_id_)
                   : std::string("token expired; subscribe again with a fresh token")));
    }
    if (draining_) {
      if (end_status_.ok()) {
        end_status_ = grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            absl::StrCat("server is draining; resubscribe with after_id=",
                         sent_id_.value_or(start_position_)));
      }
      return Finish(end_status_);
    }
  }

  void Finish(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    registration_.Reset();
    if (cursor_) cursor_->Close();
    expiry_timer_.cancel();
    queue_.clear();
    reactor_->Finish(std::move(status));
  }

  SubscriberService* const service_;
  const net::any_io_executor strand_;
  const store::TopicFilter filter_;
  const ResumeSpec spec_;
  const absl::Time valid_until_;
  const bool live_marker_;
  net::steady_timer expiry_timer_;
  Reactor* reactor_ = nullptr;
  std::shared_ptr<Cursor> cursor_;
  std::deque<v1::Event> queue_;
  v1::Event current_;
  uint64_t last_id_ = 0;
  std::optional<uint64_t> sent_id_;  // Id of the last message written.
  // Where the subscription started. The drain hint is the last id written
  // (or this): the cursor's position may be past events that were read but
  // still queued, or in a batch on its way, when the drain cut them off.
  uint64_t start_position_ = 0;
  grpc::Status end_status_;
  // Set in Subscribe before Start; then touched only on the strand.
  StreamRegistry::Registration registration_;
  std::optional<grpc::Status> revoked_;
  bool next_pending_ = false;
  bool writing_ = false;
  bool cancelled_ = false;
  bool draining_ = false;
  bool token_expired_ = false;
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
  for (auto& s : streams) net::post(s->strand_, [s] { s->Drain(); });
}

absl::StatusOr<Subscription> SubscriberService::Accept(
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
  absl::StatusOr<Subscription> accepted = Accept(context, request->topics(), {});
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
  absl::StatusOr<Subscription> accepted = Accept(context, request->topics(), std::move(resume));
  if (!accepted.ok()) return new FailedReactor(ToGrpcStatus(accepted.status()));
  auto stream = std::make_shared<Stream>(this, net::make_strand(pool_->get_executor()),
                                         store::TopicFilter(std::move(accepted->patterns)),
                                         accepted->resume, accepted->valid_until,
                                         request->live_marker());
  if (presence_ != nullptr) {
    StreamInfo info{accepted->subject, stream->filter_.patterns(), "grpc",
                    context->peer(), absl::Now()};
    // The registry calls this from an admin thread: only post to the strand.
    absl::StatusOr<StreamRegistry::Registration> r = presence_->Register(
        std::move(info), 0, [weak = std::weak_ptr<Stream>(stream)](const absl::Status& reason) {
          if (auto s = weak.lock()) net::post(s->strand_, [s, reason] { s->OnRevoked(reason); });
        });
    if (!r.ok()) return new FailedReactor(ToGrpcStatus(r.status()));
    stream->registration_ = *std::move(r);
  }
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
  net::post(stream->strand_, [stream] { stream->Start(); });
  return reactor;
}

}  // namespace tailgate
