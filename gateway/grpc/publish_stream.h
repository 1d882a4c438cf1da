// The reactor of one tailgate.v1.Publisher/PublishStream call (internal to
// gateway/grpc/publisher_service.cc).
//
// Requests are read one at a time; each admitted one goes to the log at once,
// so many appends are in flight. queue_ holds one entry per accepted request
// whose ack is not yet written, in request order; only its front may be
// written, one write at a time. Reading pauses while the queue holds
// max_inflight_per_stream entries, and while a read request waits for room
// on the memory budget (so HTTP/2 flow control holds the client back).
//
// The stream ends, exactly once, when the first of these holds with no write
// in flight:
//   - cancelled (or a write failed): CANCELLED;
//   - the front entry is an error (a bad request or a failed append): that
//     status; every earlier ack has been written, nothing later is accepted;
//   - the queue is empty and the client half-closed: OK;
//   - the queue is empty and the server is draining: UNAVAILABLE.
//
// Thread-safety: decisions are made under mu_; the gRPC operations they call
// for (StartRead, StartWrite, Finish) and AppendAsync run after mu_ is
// released. No read starts between accepting a request and its AppendAsync
// call (appending_), so a stream's events reach the committer, and get ids,
// in request order. An ack with more ready acks behind it is written with
// buffer_hint, so a run of acks leaves in one HTTP/2 write.
//
// Lifetime: reference-counted, one reference for gRPC (dropped in OnDone)
// and one per append in flight or budget wait.
#ifndef TAILGATE_GATEWAY_GRPC_PUBLISH_STREAM_H_
#define TAILGATE_GATEWAY_GRPC_PUBLISH_STREAM_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/auth/verifier.h"
#include "gateway/grpc/publisher_service.h"
#include "store/log.h"

namespace tailgate {

class PublisherService::StreamCall final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit StreamCall(PublisherService* service) : service_(service) {}

  // Called once, right after construction, from the method handler.
  void Start(grpc::CallbackServerContext* context);
  // The server started draining: stop reading, ack what was accepted, finish.
  void Drain();

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

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

  // Finishes a stream that was never admitted.
  void Refuse(const absl::Status& status);
  // Processes the request in request_, whose `bytes` are charged to the
  // budget (released when its append completes, or now if it goes no further).
  void Accept(size_t bytes);
  void OnAppended(uint64_t index, absl::StatusOr<std::vector<store::AppendResult>> results);
  Actions NextActions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Decides under mu_, then performs outside it.
  void Step();
  // Performs what NextActions decided, without holding mu_. Each buffer is
  // untouched until its operation completes (read_in_flight_ and
  // write_in_flight_ guard request_ and response_).
  void Run(Actions a);

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

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_GRPC_PUBLISH_STREAM_H_
