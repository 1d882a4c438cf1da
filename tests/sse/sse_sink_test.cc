// The SSE session's HTTP/2 path (StreamSink) in-process, without HTTP/2:
// a recording sink stands for the stream. The first write carries the
// response head (which an HTTP/2 sink turns into HEADERS) and no chunked
// framing follows; frames come from the hub as over HTTP/1.1; a drain ends
// the stream; the peer closing it stops the session. The HTTP/1.1 path is
// covered unchanged by sse_test.
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "gateway/http/http_server.h"
#include "gateway/core/hub.h"
#include "gateway/sse/frame.h"
#include "gateway/sse/service.h"
#include "gateway/http/stream_sink.h"
#include "store/log.h"
#include "tests/sse/sse_testing.h"

namespace tailgate::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;

// Records writes (completing each at once, as an HTTP/2 stream with an open
// window does) and the end.
class RecordingSink : public StreamSink {
 public:
  explicit RecordingSink(net::any_io_executor ex) : ex_(std::move(ex)) {}
  net::any_io_executor get_executor() override { return ex_; }
  void AsyncWrite(std::vector<net::const_buffer> buffers,
                  std::function<void(beast::error_code)> done) override {
    {
      std::lock_guard lock(mu_);
      std::string w;
      for (const auto& b : buffers) w.append(static_cast<const char*>(b.data()), b.size());
      writes_.push_back(std::move(w));
    }
    net::post(ex_, [done = std::move(done)] { done({}); });
  }
  void OnPeerClosed(std::shared_ptr<void> owner, Hook hook) override {
    peer_closed_owner_ = std::move(owner);
    peer_closed_ = hook;
  }
  void OnDrain(std::weak_ptr<void> owner, Hook hook) override {
    drain_owner_ = std::move(owner);
    drain_ = hook;
  }
  void End() override {
    // As the HTTP/2 sink does: the ended stream lets go of the peer-closed
    // hook's owner, the session.
    peer_closed_owner_.reset();
    peer_closed_ = nullptr;
    std::lock_guard lock(mu_);
    ++ends_;
  }
  std::string peer() const override { return "127.0.0.1:1"; }

  std::string All() {
    std::lock_guard lock(mu_);
    std::string all;
    for (const auto& w : writes_) all += w;
    return all;
  }
  std::string First() {
    std::lock_guard lock(mu_);
    return writes_.empty() ? std::string() : writes_.front();
  }
  int ends() {
    std::lock_guard lock(mu_);
    return ends_;
  }
  bool has_peer_closed() const { return peer_closed_ != nullptr; }
  bool has_drain() const { return drain_ != nullptr; }
  // What the HTTP/2 session does when the peer ends the stream (on the strand).
  void PeerClose() {
    Hook hook = std::exchange(peer_closed_, nullptr);
    std::shared_ptr<void> owner = std::move(peer_closed_owner_);
    if (hook != nullptr) hook(owner);
  }
  // What the HTTP/2 session does when the server drains.
  void Drain() {
    if (std::shared_ptr<void> owner = drain_owner_.lock(); owner && drain_ != nullptr) {
      drain_(owner);
    }
  }

 private:
  net::any_io_executor ex_;
  std::shared_ptr<void> peer_closed_owner_;
  Hook peer_closed_ = nullptr;
  std::weak_ptr<void> drain_owner_;
  Hook drain_ = nullptr;
  std::mutex mu_;
  std::vector<std::string> writes_;
  int ends_ = 0;
};

template <class Pred>
bool WaitFor(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class SseSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Options options;
    options.data_dir = MakeTempDir("sse-sink");
    options.first_id_from_clock = false;
    auto log = store::OpenRocksDbLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    HubOptions hub_options;
    hub_options.encoder = &SseEventEncoder();
    hub_ = std::make_unique<Hub>(log_.get(), hub_options);
    config_.heartbeat = absl::Seconds(60);
    service_ = std::make_unique<SseService>(hub_.get(), config_);
    service_->Register(&router_);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    work_.reset();
    hub_->Stop();
    ioc_.stop();
    thread_.join();
  }

  uint64_t Append(const std::string& topic, const std::string& data) {
    store::EventInput in;
    in.topic = topic;
    in.data = data;
    std::vector<store::EventInput> batch;
    batch.push_back(std::move(in));
    auto r = AppendAndWait(*log_, std::move(batch));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0].id : 0;
  }

  // Takes a GET over through a RecordingSink, as the HTTP/2 session does.
  std::shared_ptr<RecordingSink> Open(const std::string& target) {
    HttpRequest req{boost::beast::http::verb::get, target, 11};
    req.set(boost::beast::http::field::host, "localhost");
    const StreamHandler* h = router_.FindStream(kEventsPath);
    EXPECT_NE(h, nullptr);
    StreamDecision d = (*h)(req);
    EXPECT_FALSE(d.refusal.has_value());
    EXPECT_TRUE(d.sink_takeover);
    auto sink = std::make_shared<RecordingSink>(strand_);
    std::promise<void> started;
    net::post(strand_, [&] {
      d.sink_takeover(sink);
      started.set_value();
    });
    started.get_future().wait();
    return sink;
  }

  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(ioc_);
  net::strand<net::io_context::executor_type> strand_ = net::make_strand(ioc_);
  std::thread thread_;
  std::unique_ptr<store::Log> log_;
  std::unique_ptr<Hub> hub_;
  SseConfig config_;
  std::unique_ptr<SseService> service_;
  HttpRouter router_;
};

TEST_F(SseSinkTest, HeadFirstThenUnchunkedFramesThenDrainEnds) {
  const uint64_t first = Append("t", "one");
  Append("t", "two");
  auto sink = Open("/v1/events?topic=t&lastEventId=" + std::to_string(first));
  ASSERT_TRUE(WaitFor([&] { return sink->All().find("data: two\n\n") != std::string::npos; }))
      << sink->All();
  const std::string head = sink->First();
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  const std::string all = sink->All();
  const std::string body = all.substr(all.find("\r\n\r\n") + 4);
  // No chunked framing: the body is the SSE text itself.
  EXPECT_EQ(body.rfind("retry: 3000\n\n", 0), 0u) << body;
  EXPECT_EQ(body.find("data: one"), std::string::npos) << "resumed after `one`";
  EXPECT_EQ(body.find("\r\n"), std::string::npos) << body;
  // Live events follow.
  Append("t", "three");
  ASSERT_TRUE(WaitFor([&] { return sink->All().find("data: three\n\n") != std::string::npos; }));
  // A drain ends the stream through the sink.
  ASSERT_TRUE(sink->has_drain());
  sink->Drain();
  ASSERT_TRUE(WaitFor([&] { return sink->ends() == 1; }));
}

TEST_F(SseSinkTest, PeerClosingStopsTheSession) {
  auto sink = Open("/v1/events?topic=p");
  ASSERT_TRUE(WaitFor([&] { return !sink->All().empty(); }));
  ASSERT_TRUE(sink->has_peer_closed());
  const int active_before = service_->active_streams();
  EXPECT_EQ(active_before, 1);
  net::post(strand_, [sink] { sink->PeerClose(); });
  ASSERT_TRUE(WaitFor([&] { return sink->ends() == 1; }));
  Append("p", "after");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(sink->All().find("after"), std::string::npos);
}

}  // namespace
}  // namespace tailgate::testing
