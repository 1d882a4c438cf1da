#include "gateway/grpc/publish_stream.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/grpc/publish_wire.h"
#include "gateway/grpc/grpc_status.h"
#include "gateway/diag/logging.h"
#include "gateway/publish/append_failure.h"

namespace tailgate {

void PublisherService::StreamCall::Start(grpc::CallbackServerContext* context) {
  // Admitted once for the whole stream; each request's topic is checked
  // against these grants.
  absl::StatusOr<PublishCall> admitted = service_->Open(*context, std::nullopt);
  if (!admitted.ok()) return Refuse(admitted.status());
  grants_ = std::move(admitted->grants);
  // Draining may have started since Open: registering decides under the
  // service's lock.
  if (!service_->AddStream(this)) return Refuse(PublishAdmission::DrainingError());
  Step();
}

void PublisherService::StreamCall::Refuse(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  Finish(ToGrpcStatus(status));
}

void PublisherService::StreamCall::Drain() {
  Actions a;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    a = NextActions();
  }
  Run(std::move(a));
}

void PublisherService::StreamCall::Step() {
  Actions a;
  {
    absl::MutexLock lock(&mu_);
    a = NextActions();
  }
  Run(std::move(a));
}

void PublisherService::StreamCall::OnReadDone(bool ok) {
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
  if (!accept) return Step();
  // The request waits here, read but unprocessed, until the budget has
  // room; no further read starts meanwhile (budget_wait_).
  Ref();
  if (service_->admission_.budget().ChargeOrWait(bytes, [this, bytes] {
        Accept(bytes);
        Unref();
      })) {
    Accept(bytes);
    Unref();
    return;
  }
  Step();  // Acks of earlier requests still go out.
}

void PublisherService::StreamCall::Accept(size_t bytes) {
  PublishAdmission& admission = service_->admission_;
  Actions a;
  std::vector<store::EventInput> events;
  uint64_t index = 0;
  {
    absl::MutexLock lock(&mu_);
    budget_wait_ = false;
    if (finished_ || cancelled_ || draining_ || stop_reading_) {
      // Gone or draining while it waited for the budget: not accepted.
      admission.budget().Release(bytes);
    } else {
      index = next_index_++;
      publish_wire::Request wire;
      absl::Status s =
          publish_wire::Parse(&request_, &wire)
              ? admission.CheckEvent(grants_, publish_wire::Fields(wire), "request", index)
              : absl::InvalidArgumentError(absl::StrCat(
                    "request[", index, "]: not a valid tailgate.v1.PublishRequest"));
      queue_.emplace_back();
      if (!s.ok()) {
        if (service_->metrics_ != nullptr) service_->metrics_->CountCode(static_cast<int>(s.code()));
        TG_LOG(DEBUG) << "PublishStream rejected: " << s.message();
        queue_.back().done = true;
        queue_.back().status = std::move(s);
        stop_reading_ = true;
        admission.budget().Release(bytes);
      } else {
        queue_.back().bytes = bytes;
        events.push_back(publish_wire::ToEventInput(std::move(wire)));
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

void PublisherService::StreamCall::OnWriteDone(bool ok) {
  Actions a;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) cancelled_ = true;  // The stream is broken; nothing more can be written.
    a = NextActions();
  }
  Run(std::move(a));
}

void PublisherService::StreamCall::OnCancel() {
  Actions a;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    a = NextActions();
  }
  Run(std::move(a));
}

void PublisherService::StreamCall::OnDone() {
  service_->RemoveStream(this);
  Unref();
}

void PublisherService::StreamCall::OnAppended(
    uint64_t index, absl::StatusOr<std::vector<store::AppendResult>> results) {
  PublishMetrics* const metrics = service_->metrics_;
  Actions a;
  {
    absl::MutexLock lock(&mu_);
    // Entries leave the queue only once done, so this one is still there.
    Pending& p = queue_[static_cast<size_t>(index - first_index_)];
    p.done = true;
    service_->admission_.budget().Release(p.bytes);
    p.bytes = 0;
    if (results.ok() && results->size() == 1) {
      p.result = (*results)[0];
      if (metrics != nullptr) metrics->CountAppended(*results);
    } else {
      if (metrics != nullptr) {
        metrics->CountCode(static_cast<int>(results.ok() ? absl::StatusCode::kInternal
                                                         : results.status().code()));
      }
      absl::Status s = results.ok()
                           ? absl::InternalError("log returned an unexpected result count")
                           : results.status();
      LogAppendFailure("publish", s);
      p.status = absl::Status(s.code(), absl::StrCat("request[", index, "]: ", s.message()));
      stop_reading_ = true;
    }
    a = NextActions();
  }
  Run(std::move(a));
}

PublisherService::StreamCall::Actions PublisherService::StreamCall::NextActions() {
  Actions a;
  if (finished_) return a;
  if (!write_in_flight_ && !cancelled_ && !queue_.empty() && queue_.front().done &&
      queue_.front().status.ok()) {
    v1::PublishResponse ack;
    ack.set_id(queue_.front().result.id);
    ack.set_duplicate(queue_.front().result.duplicate);
    response_.Clear();
    if (grpc::Status s = publish_wire::Serialize(ack, &response_); !s.ok()) {
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
      queue_.size() < service_->admission_.config().max_inflight_per_stream) {
    read_in_flight_ = true;
    a.read = true;
  }
  return a;
}

void PublisherService::StreamCall::Run(Actions a) {
  if (a.write) {
    StartWrite(&response_, a.more ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
  }
  if (a.read) StartRead(&request_);
  if (a.finish) Finish(std::move(a.status));
}

}  // namespace tailgate
