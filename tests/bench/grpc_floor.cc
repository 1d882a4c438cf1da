// The gRPC floor for ingest: a server that speaks tailgate.v1.Publisher's
// PublishStream the way the gateway does (callback API, raw byte buffers, one
// write in flight, buffer_hint while more acks are ready) but stores,
// validates and forwards nothing: each request is answered with the next id.
// Its server CPU per event is what gRPC C++ alone costs on this machine, the
// bound below which no gRPC publish path can go; tests/bench/compare.sh runs
// the same ingest load against it next to tailgate and nchan.
//
//   grpc_floor [--listen=127.0.0.1:0]   # prints "grpc_floor ready grpc=HOST:PORT"
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "tailgate/v1/publisher.grpc.pb.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC listen address");

namespace {

namespace v1 = tailgate::v1;

class AckOnly final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  AckOnly() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    bool write = false, more = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (ok) {
        ++unacked_;
      } else {
        reads_done_ = true;
      }
      Next(&write, &more, &finish);
    }
    if (ok) StartRead(&request_);
    Act(write, more, finish);
  }

  void OnWriteDone(bool ok) override {
    bool write = false, more = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      writing_ = false;
      if (!ok) broken_ = true;
      Next(&write, &more, &finish);
    }
    Act(write, more, finish);
  }

  void OnDone() override { delete this; }

 private:
  // Under mu_: what to start next. One write at a time (gRPC allows no more).
  void Next(bool* write, bool* more, bool* finish) {
    if (writing_ || finished_) return;
    if (unacked_ > 0 && !broken_) {
      --unacked_;
      writing_ = true;
      *write = true;
      *more = unacked_ > 0;
      v1::PublishResponse res;
      res.set_id(++last_id_);
      bool own = false;
      grpc::GenericSerialize<grpc::ProtoBufferWriter, v1::PublishResponse>(res, &response_, &own);
    } else if (reads_done_ || broken_) {
      finished_ = true;
      *finish = true;
    }
  }

  void Act(bool write, bool more, bool finish) {
    if (write) {
      grpc::WriteOptions options;
      if (more) options.set_buffer_hint();
      StartWrite(&response_, options);
    }
    if (finish) Finish(grpc::Status::OK);
  }

  grpc::ByteBuffer request_;   // Only this reactor's reads touch it.
  grpc::ByteBuffer response_;  // Rewritten only while no write is in flight.
  std::mutex mu_;
  uint64_t unacked_ = 0;
  uint64_t last_id_ = 0;
  bool writing_ = false;
  bool reads_done_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

class FloorService final
    : public v1::Publisher::WithRawCallbackMethod_PublishStream<v1::Publisher::Service> {
 public:
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PublishStream(
      grpc::CallbackServerContext*) override {
    return new AckOnly();
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As tailgate does (gateway/server/main.cc): Debian's Abseil is built
  // without NDEBUG, and gRPC's locks would otherwise pay for absl::Mutex's
  // lock-order graph; the floor does the least a server can do.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  FloorService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    fprintf(stderr, "grpc_floor: cannot listen on %s\n", absl::GetFlag(FLAGS_listen).c_str());
    return 1;
  }
  const std::string listen = absl::GetFlag(FLAGS_listen);
  fprintf(stderr, "grpc_floor ready grpc=%s:%d\n", listen.substr(0, listen.rfind(':')).c_str(),
          port);
  server->Wait();  // Until killed: the benchmark script stops it with SIGTERM.
  return 0;
}
