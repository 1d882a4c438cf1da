#include "gateway/publisher_service.h"

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/serialization_traits.h>

#include "absl/strings/str_cat.h"
#include "gateway/grpc_auth.h"
#include "gateway/grpc_status.h"
#include "gateway/logging.h"
#include "store/event_validation.h"
#include "tailgate/internal/publish_wire.pb.h"

namespace tailgate {
namespace {

using WireRequest = ::tailgate::internal::PublishRequestWire;
using WireBatch = ::tailgate::internal::PublishBatchRequestWire;

store::EventFields Fields(const WireRequest& r) {
  return store::EventFields{r.topic(), r.type(), r.data(), r.idempotency_key()};
}

store::EventInput ToEventInput(WireRequest&& r) {
  store::EventInput e;
  e.topic = std::move(*r.mutable_topic());
  e.type = std::move(*r.mutable_type());
  e.data = std::move(*r.mutable_data());
  e.idempotency_key = std::move(*r.mutable_idempotency_key());
  return e;
}

// Parses a request received as bytes; consumes `buffer`.
template <typename Message>
bool Parse(grpc::ByteBuffer* buffer, Message* message) {
  return grpc::SerializationTraits<Message>::Deserialize(buffer, message).ok();
}

// Parses a unary call's request and empties gRPC's buffer of it: the parsed
// fields own their bytes, and the wire bytes would otherwise stay alive until
// the call ends (a large batch twice in memory while it waits for its
// commit). gRPC only destroys that buffer after the call; empty is fine.
template <typename Message>
bool ParseAndRelease(const grpc::ByteBuffer* request, Message* message) {
  grpc::ByteBuffer bytes(*request);  // Shares the slices.
  const_cast<grpc::ByteBuffer*>(request)->Clear();
  return Parse(&bytes, message);
}

template <typename Message>
grpc::Status Serialize(const Message& message, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::SerializationTraits<Message>::Serialize(message, out, &own_buffer);
}

void LogIfServerFault(const absl::Status& s) {
  if (absl::IsInternal(s) || absl::IsDataLoss(s) || absl::IsUnknown(s)) {
    // Every request fails alike while the store is down: one line per 10 s.
    static LogThrottle throttle(absl::Seconds(10));
    if (uint64_t held = 0; throttle.Admit(&held)) {
      TG_LOG(ERROR) << "publish: append failed: " << s.ToString() << Held(held);
    }
  }
}

const grpc::Status& DrainingStatus() {
  static const grpc::Status* const status =
      new grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is draining");
  return *status;
}

}  // namespace

// ---------------------------------------------------------------------------
// Publish and PublishBatch.
//
// Invariant: exactly one of {the append callback, OnCancel, a rejection}
// calls Finish (finished_ decides), and only that caller touches the response.
class PublisherService::UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(grpc::ByteBuffer* response, bool batch, PublishMetrics* metrics)
      : response_(response), batch_(batch), metrics_(metrics) {}

  // Events the request carries, for the metrics (1 until known).
  void set_events(size_t n) { events_ = n > 0 ? n : 1; }

  // Charges the request's bytes to `budget` until the call is destroyed.
  bool Charge(PublishBudget* budget, size_t bytes) {
    if (!budget->TryCharge(bytes)) return false;
    budget_ = budget;
    charged_ = bytes;
    return true;
  }

  void Reject(const grpc::Status& status) {
    if (!TryFinish()) return;
    Count(status.error_code());
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      TG_LOG(DEBUG) << (batch_ ? "PublishBatch" : "Publish")
                    << " rejected: " << status.error_message();
    }
    Finish(status);
  }

  void Append(store::Log* log, std::vector<store::EventInput> events) {
    Ref();
    log->AppendAsync(std::move(events),
                     [this](absl::StatusOr<std::vector<store::AppendResult>> results) {
                       OnAppended(std::move(results));
                       Unref();
                     });
  }

  void OnCancel() override {
    // The append (if any) still commits; the client just gets no ack.
    if (TryFinish()) {
      Count(grpc::StatusCode::CANCELLED);
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled before the ack"));
    }
  }

  void OnDone() override { Unref(); }

 private:
  ~UnaryCall() override {
    if (budget_ != nullptr) budget_->Release(charged_);
  }

  bool TryFinish() { return !finished_.exchange(true, std::memory_order_acq_rel); }
  void Count(int code) {
    if (metrics_ != nullptr) metrics_->CountCode(code, events_);
  }
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnAppended(absl::StatusOr<std::vector<store::AppendResult>> results) {
    if (!TryFinish()) return;  // Cancelled: the response may be gone.
    if (!results.ok()) {
      LogIfServerFault(results.status());
      Count(static_cast<int>(results.status().code()));
      Finish(ToGrpcStatus(results.status()));
      return;
    }
    if (metrics_ != nullptr) metrics_->CountAppended(*results);
    if (batch_) {
      v1::PublishBatchResponse out;
      out.mutable_results()->Reserve(static_cast<int>(results->size()));
      for (const store::AppendResult& r : *results) {
        v1::PublishResponse* one = out.add_results();
        one->set_id(r.id);
        one->set_duplicate(r.duplicate);
      }
      Finish(Serialize(out, response_));
    } else if (results->size() == 1) {
      v1::PublishResponse out;
      out.set_id((*results)[0].id);
      out.set_duplicate((*results)[0].duplicate);
      Finish(Serialize(out, response_));
    } else {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL, "log returned an unexpected result count"));
    }
  }

  grpc::ByteBuffer* const response_;  // Owned by gRPC; valid until Finish.
  const bool batch_;
  PublishMetrics* const metrics_;  // May be null.
  PublishBudget* budget_ = nullptr;
  size_t charged_ = 0;
  size_t events_ = 1;
  std::atomic<bool> finished_{false};
  std::atomic<int> refs_{1};  // gRPC's, dropped in OnDone.
};

namespace {

bool DeadlinePassed(const grpc::CallbackServerContext* context) {
  return context->deadline() <= std::chrono::system_clock::now();
}

grpc::Status BudgetStatus(const PublishBudget& budget) {
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat("the server holds its whole publish memory budget (--publish_memory_budget=",
                   budget.limit(), " bytes) in requests not yet acknowledged: retry shortly"));
}

const grpc::Status& DeadlineStatus() {
  static const grpc::Status* const status = new grpc::Status(
      grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded before the request was accepted");
  return *status;
}

}  // namespace

grpc::ServerUnaryReactor* PublisherService::Publish(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  auto* call = new UnaryCall(response, /*batch=*/false, metrics_);
  WireRequest wire;
  if (draining()) {
    call->Reject(DrainingStatus());
  } else if (DeadlinePassed(context)) {
    call->Reject(DeadlineStatus());
  } else if (!call->Charge(&budget_, request->Length())) {
    call->Reject(BudgetStatus(budget_));
  } else if (absl::StatusOr<std::optional<Grants>> grants = Authenticate(*context); !grants.ok()) {
    call->Reject(ToGrpcStatus(grants.status()));
  } else if (!ParseAndRelease(request, &wire)) {
    call->Reject(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "request is not a valid tailgate.v1.PublishRequest"));
  } else if (absl::Status s = store::ValidateEvent(Fields(wire), config_.max_data_bytes);
             !s.ok()) {
    call->Reject(ToGrpcStatus(s));
  } else if (absl::Status s = *grants ? AuthorizePublish(**grants, wire.topic()) : absl::OkStatus();
             !s.ok()) {
    call->Reject(ToGrpcStatus(s));
  } else {
    std::vector<store::EventInput> events;
    events.push_back(ToEventInput(std::move(wire)));
    call->Append(log_, std::move(events));
  }
  return call;
}

grpc::ServerUnaryReactor* PublisherService::PublishBatch(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  auto* call = new UnaryCall(response, /*batch=*/true, metrics_);
  if (draining()) {
    call->Reject(DrainingStatus());
    return call;
  }
  if (DeadlinePassed(context)) {
    call->Reject(DeadlineStatus());
    return call;
  }
  if (!call->Charge(&budget_, request->Length())) {
    call->Reject(BudgetStatus(budget_));
    return call;
  }
  absl::StatusOr<std::optional<Grants>> grants = Authenticate(*context);
  if (!grants.ok()) {
    call->Reject(ToGrpcStatus(grants.status()));
    return call;
  }
  WireBatch wire;
  if (!ParseAndRelease(request, &wire)) {
    call->Reject(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "request is not a valid tailgate.v1.PublishBatchRequest"));
    return call;
  }
  const size_t n = static_cast<size_t>(wire.events_size());
  call->set_events(n);
  if (n == 0) {
    call->Reject(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "events: a batch must have at least one event"));
    return call;
  }
  if (n > config_.max_batch_events) {
    call->Reject(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              absl::StrCat("events: batch has ", n, " events; the limit is ",
                                           config_.max_batch_events)));
    return call;
  }
  // All or none: every event is checked before any is handed to the log, and
  // the log appends the batch atomically.
  for (size_t i = 0; i < n; ++i) {
    absl::Status s = store::ValidateEvent(Fields(wire.events(static_cast<int>(i))),
                                           config_.max_data_bytes, "events", i);
    if (s.ok() && *grants) {
      s = AuthorizePublish(**grants, wire.events(static_cast<int>(i)).topic());
      if (!s.ok()) s = absl::PermissionDeniedError(absl::StrCat("events[", i, "]: ", s.message()));
    }
    if (!s.ok()) {
      call->Reject(ToGrpcStatus(s));
      return call;
    }
  }
  std::vector<store::EventInput> events;
  events.reserve(n);
  for (WireRequest& r : *wire.mutable_events()) events.push_back(ToEventInput(std::move(r)));
  call->Append(log_, std::move(events));
  return call;
}

// ---------------------------------------------------------------------------
// PublishStream.
//
// Requests are read one at a time; each valid one goes to the log at once,
// so many appends are in flight. queue_ holds one entry per accepted request
// whose ack is not yet written, in request order; only its front may be
// written, one write at a time. Reading pauses while the queue holds
// max_inflight_per_stream entries.
//
// The stream ends, exactly once, when the first of these holds with no write
// in flight:
//   - cancelled (or a write failed): CANCELLED;
//   - the front entry is an error (a bad request or a failed append): that
//     status; every earlier ack has been written, nothing later is accepted;
//   - the queue is empty and the client half-closed: OK;
//   - the queue is empty and the server is draining: UNAVAILABLE.
//
// Decisions are made under mu_; the gRPC operations they call for (StartRead,
// StartWrite, Finish) and AppendAsync run after mu_ is released. No read
// starts between accepting a request and its AppendAsync call (appending_),
// so a stream's events reach the committer, and get ids, in request order.
// An ack with more ready acks behind it is written with buffer_hint, so a run
// of acks leaves in one HTTP/2 write (the last of the run flushes).
class PublisherService::StreamCall final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit StreamCall(PublisherService* service) : service_(service) {}

  // Called once, right after construction, from the method handler.
  void Start(grpc::CallbackServerContext* context) {
    // Authenticated once for the whole stream; each request's topic is
    // checked against these grants.
    if (absl::StatusOr<std::optional<Grants>> grants = service_->Authenticate(*context);
        !grants.ok()) {
      {
        absl::MutexLock lock(&mu_);
        finished_ = true;
      }
      Finish(ToGrpcStatus(grants.status()));
      return;
    } else {
      grants_ = *std::move(grants);
    }
    if (!service_->AddStream(this)) {
      {
        absl::MutexLock lock(&mu_);
        finished_ = true;
      }
      Finish(DrainingStatus());
      return;
    }
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      a = NextActions();
    }
    Run(std::move(a));
  }

  void Drain() {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      draining_ = true;
      a = NextActions();
    }
    Run(std::move(a));
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnReadDone(bool ok) override {
    bool accept = false;
    size_t bytes = 0;
    {
      absl::MutexLock lock(&mu_);
      read_in_flight_ = false;
      if (!ok) {
        reads_done_ = true;  // Half-close (or the call is going away).
      } else if (!finished_ && !cancelled_ && !draining_ && !stop_reading_) {
        accept = true;
        bytes = request_.Length();
        budget_wait_ = true;  // Before ChargeOrWait: the grant may run at once.
      }
      // else: read after draining started; not accepted, reported in the
      // final status as "from request[N] on".
    }
    if (!accept) {
      Actions a;
      {
        absl::MutexLock lock(&mu_);
        a = NextActions();
      }
      Run(std::move(a));
      return;
    }
    // The request waits here, read but unprocessed, until the budget has
    // room; no further read starts meanwhile (budget_wait_).
    Ref();
    if (service_->budget_.ChargeOrWait(bytes, [this, bytes] {
          Accept(bytes);
          Unref();
        })) {
      Accept(bytes);
      Unref();
      return;
    }
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      a = NextActions();  // Acks of earlier requests still go out.
    }
    Run(std::move(a));
  }

  // Processes the request in request_, whose `bytes` are charged to the
  // budget (released when its append completes, or now if it goes no further).
  void Accept(size_t bytes) {
    Actions a;
    std::vector<store::EventInput> events;
    uint64_t index = 0;
    {
      absl::MutexLock lock(&mu_);
      budget_wait_ = false;
      if (finished_ || cancelled_ || draining_ || stop_reading_) {
        // Gone or draining while it waited for the budget: not accepted.
        service_->budget_.Release(bytes);
      } else {
        index = next_index_++;
        WireRequest wire;
        absl::Status s =
            Parse(&request_, &wire)
                ? store::ValidateEvent(Fields(wire), service_->config_.max_data_bytes, "request",
                                        index)
                : absl::InvalidArgumentError(absl::StrCat(
                      "request[", index, "]: not a valid tailgate.v1.PublishRequest"));
        if (s.ok() && grants_) {
          s = AuthorizePublish(*grants_, wire.topic());
          if (!s.ok()) {
            s = absl::PermissionDeniedError(absl::StrCat("request[", index, "]: ", s.message()));
          }
        }
        queue_.emplace_back();
        if (!s.ok()) {
          if (service_->metrics_ != nullptr) service_->metrics_->CountCode(static_cast<int>(s.code()));
          TG_LOG(DEBUG) << "PublishStream rejected: " << s.message();
          queue_.back().done = true;
          queue_.back().status = std::move(s);
          stop_reading_ = true;
          service_->budget_.Release(bytes);
        } else {
          queue_.back().bytes = bytes;
          events.push_back(ToEventInput(std::move(wire)));
          appending_ = true;
        }
      }
      a = NextActions();
    }
    if (!events.empty()) {
      // Outside mu_: the callback may run inline. No read starts while
      // appending_ is set, so one stream's events reach the committer in
      // request order.
      Ref();
      service_->log_->AppendAsync(
          std::move(events),
          [this, index](absl::StatusOr<std::vector<store::AppendResult>> results) {
            OnAppended(index, std::move(results));
            Unref();
          });
      Run(std::move(a));
      absl::MutexLock lock(&mu_);
      appending_ = false;
      a = NextActions();
    }
    Run(std::move(a));
  }

  void OnWriteDone(bool ok) override {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok) cancelled_ = true;  // The stream is broken; nothing more can be written.
      a = NextActions();
    }
    Run(std::move(a));
  }

  void OnCancel() override {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      a = NextActions();
    }
    Run(std::move(a));
  }

  void OnDone() override {
    service_->RemoveStream(this);
    Unref();
  }

 private:
  struct Pending {
    bool done = false;
    absl::Status status;  // Not OK: the stream ends with it at this request.
    store::AppendResult result;
    size_t bytes = 0;  // Charged to the budget until the append completes.
  };

  struct Actions {
    bool read = false;
    bool write = false;
    bool more = false;  // With `write`: another ack follows right after.
    bool finish = false;
    grpc::Status status;
  };

  ~StreamCall() override = default;

  void OnAppended(uint64_t index, absl::StatusOr<std::vector<store::AppendResult>> results) {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      // Entries leave the queue only once done, so this one is still there.
      Pending& p = queue_[static_cast<size_t>(index - first_index_)];
      p.done = true;
      service_->budget_.Release(p.bytes);
      p.bytes = 0;
      if (results.ok() && results->size() == 1) {
        p.result = (*results)[0];
        if (service_->metrics_ != nullptr) service_->metrics_->CountAppended(*results);
      } else {
        if (service_->metrics_ != nullptr) {
          service_->metrics_->CountCode(static_cast<int>(
              results.ok() ? absl::StatusCode::kInternal : results.status().code()));
        }
        absl::Status s = results.ok()
                             ? absl::InternalError("log returned an unexpected result count")
                             : results.status();
        LogIfServerFault(s);
        p.status = absl::Status(s.code(), absl::StrCat("request[", index, "]: ", s.message()));
        stop_reading_ = true;
      }
      a = NextActions();
    }
    Run(std::move(a));
  }

  Actions NextActions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions a;
    if (finished_) return a;
    if (!write_in_flight_ && !cancelled_ && !queue_.empty() && queue_.front().done &&
        queue_.front().status.ok()) {
      v1::PublishResponse ack;
      ack.set_id(queue_.front().result.id);
      ack.set_duplicate(queue_.front().result.duplicate);
      response_.Clear();
      if (grpc::Status s = Serialize(ack, &response_); !s.ok()) {
        queue_.front().status = absl::InternalError(
            absl::StrCat("request[", first_index_, "]: cannot encode the ack: ", s.error_message()));
        return NextActions();
      }
      queue_.pop_front();
      ++first_index_;
      write_in_flight_ = true;
      a.write = true;
      // More acks ready behind this one: let gRPC coalesce; the last of the
      // run goes without the hint and flushes them all.
      a.more = !queue_.empty() && queue_.front().done && queue_.front().status.ok();
    }
    if (!write_in_flight_) {
      if (cancelled_) {
        a.finish = true;
        a.status = grpc::Status(grpc::StatusCode::CANCELLED,
                                absl::StrCat("stream cancelled after ", first_index_, " acks"));
      } else if (!queue_.empty() && queue_.front().done) {
        a.finish = true;  // An error at the front (an OK front was written above).
        a.status = ToGrpcStatus(queue_.front().status);
      } else if (queue_.empty() && reads_done_) {
        a.finish = true;
        a.status = grpc::Status::OK;
      } else if (queue_.empty() && draining_) {
        a.finish = true;
        a.status = grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            absl::StrCat("server is draining: requests from request[", next_index_,
                         "] on were not accepted; every earlier request is acknowledged"));
      }
      if (a.finish) {
        finished_ = true;
        return a;
      }
    }
    if (!read_in_flight_ && !appending_ && !budget_wait_ && !reads_done_ && !stop_reading_ &&
        !draining_ && !cancelled_ &&
        queue_.size() < service_->config_.max_inflight_per_stream) {
      read_in_flight_ = true;
      a.read = true;
    }
    return a;
  }

  // Performs what NextActions decided, without holding mu_. Each buffer is
  // untouched until its operation completes (read_in_flight_ and
  // write_in_flight_ guard request_ and response_).
  void Run(Actions a) {
    if (a.write) {
      StartWrite(&response_, a.more ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
    }
    if (a.read) StartRead(&request_);
    if (a.finish) Finish(std::move(a.status));
  }

  PublisherService* const service_;
  std::optional<Grants> grants_;  // Set in Start when auth is on; read-only after.
  std::atomic<int> refs_{1};  // gRPC's, dropped in OnDone; +1 per append in flight.

  absl::Mutex mu_;
  grpc::ByteBuffer request_;   // Read buffer (read_in_flight_).
  grpc::ByteBuffer response_;  // Write buffer (write_in_flight_).
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t first_index_ ABSL_GUARDED_BY(mu_) = 0;  // Request index of queue_.front().
  uint64_t next_index_ ABSL_GUARDED_BY(mu_) = 0;   // Requests accepted so far.
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool appending_ ABSL_GUARDED_BY(mu_) = false;  // Between accepting a request and AppendAsync.
  bool budget_wait_ ABSL_GUARDED_BY(mu_) = false;  // A read request waits for the budget.
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_reading_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PublisherService::PublishStream(
    grpc::CallbackServerContext* context) {
  // Deadlines and cancellation arrive as OnCancel.
  auto* call = new StreamCall(this);
  call->Start(context);
  return call;
}

// ---------------------------------------------------------------------------

PublisherService::PublisherService(store::Log* log, const PublishConfig& config,
                                   const JwtVerifier* verifier)
    : log_(log), config_(config), verifier_(verifier), budget_(config.memory_budget_bytes) {}

absl::StatusOr<std::optional<Grants>> PublisherService::Authenticate(
    const grpc::CallbackServerContext& context) const {
  if (verifier_ == nullptr) return std::optional<Grants>();
  absl::StatusOr<Grants> grants = AuthenticateGrpc(*verifier_, context);
  if (!grants.ok()) {
    TG_LOG(DEBUG) << "publish: " << grants.status().message();
    return grants.status();
  }
  return std::optional<Grants>(*std::move(grants));
}

PublisherService::~PublisherService() = default;

bool PublisherService::AddStream(StreamCall* stream) {
  absl::MutexLock lock(&mu_);
  if (draining()) return false;
  streams_.insert(stream);
  return true;
}

size_t PublisherService::open_streams() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

void PublisherService::RemoveStream(StreamCall* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

void PublisherService::StartDraining() {
  std::vector<StreamCall*> streams;
  {
    absl::MutexLock lock(&mu_);
    if (draining()) return;
    draining_.store(true, std::memory_order_release);
    streams.reserve(streams_.size());
    for (StreamCall* s : streams_) {
      s->Ref();  // Registered streams have not passed OnDone: still alive.
      streams.push_back(s);
    }
  }
  for (StreamCall* s : streams) {
    s->Drain();
    s->Unref();
  }
}

}  // namespace tailgate
