#include "tests/bench/publishers.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tailgate/v1/publisher.grpc.pb.h"

namespace tailgate::bench {
namespace {

// The measured window of a flood: lets `threads` publish for `seconds`,
// takes the count acknowledged by then, then stops and joins them (acks
// arriving after the window are not counted).
uint64_t StopAfter(double seconds, std::atomic<bool>& stop, const std::atomic<uint64_t>& acked,
                   std::vector<std::thread>& threads) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const uint64_t in_time = acked.load();
  stop = true;
  for (std::thread& t : threads) t.join();
  return in_time;
}


class TailgatePublisher : public Publisher {
 public:
  using Stream = grpc::ClientReaderWriter<v1::PublishRequest, v1::PublishResponse>;
  explicit TailgatePublisher(std::string address) : address_(std::move(address)) {}
  ~TailgatePublisher() override {
    if (stream_) {
      stream_->WritesDone();
      (void)stream_->Finish();
    }
  }

  void Burst(const std::string& topic, int n) override {
    if (!stream_) {
      stub_ = NewStub(0);
      ctx_ = std::make_unique<grpc::ClientContext>();
      stream_ = stub_->PublishStream(ctx_.get());
    }
    v1::PublishRequest req;
    req.set_topic(topic);
    for (int i = 0; i < n; ++i) {
      req.set_data(EventData(data_bytes_));
      grpc::WriteOptions options;
      if (i + 1 < n) options.set_buffer_hint();
      if (!stream_->Write(req, options)) Die("PublishStream write failed");
    }
    v1::PublishResponse res;
    for (int i = 0; i < n; ++i) {
      if (!stream_->Read(&res)) Die("PublishStream ended: " + stream_->Finish().error_message());
    }
  }

  uint64_t Paced(const std::string& topic, int rate, double seconds) override {
    auto stub = NewStub(1);
    grpc::ClientContext ctx;
    auto stream = stub->PublishStream(&ctx);
    std::atomic<uint64_t> acked{0};
    std::thread reader([&] {
      v1::PublishResponse res;
      while (stream->Read(&res)) acked.fetch_add(1, std::memory_order_relaxed);
    });
    const int64_t total = static_cast<int64_t>(rate * seconds);
    const int64_t start = MonoNanos();
    v1::PublishRequest req;
    req.set_topic(topic);
    for (int64_t i = 0; i < total; ++i) {
      SleepUntil(start + i * 1'000'000'000 / rate);
      req.set_data(EventData(data_bytes_));
      if (!stream->Write(req)) break;
    }
    stream->WritesDone();
    reader.join();
    grpc::Status s = stream->Finish();
    if (!s.ok()) Die("paced stream: " + s.error_message());
    return acked.load();
  }

  uint64_t Flood(const std::string& topic, double seconds, int conns, int window) override {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> acked{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < conns; ++s) {
      threads.emplace_back([&, s] {
        auto stub = NewStub(100 + s);
        grpc::ClientContext ctx;
        auto stream = stub->PublishStream(&ctx);
        std::mutex mu;
        std::condition_variable cv;
        int inflight = 0;
        std::thread writer([&] {
          v1::PublishRequest req;
          req.set_topic(topic);
          while (!stop.load(std::memory_order_relaxed)) {
            bool more_room = false;
            {
              std::unique_lock<std::mutex> l(mu);
              cv.wait(l, [&] { return inflight < window; });
              ++inflight;
              more_room = inflight + 1 < window;
            }
            req.set_data(EventData(data_bytes_));
            grpc::WriteOptions options;
            if (more_room) options.set_buffer_hint();  // Coalesce while the window has room.
            if (!stream->Write(req, options)) break;
          }
          stream->WritesDone();
        });
        v1::PublishResponse res;
        while (stream->Read(&res)) {
          {
            std::lock_guard<std::mutex> l(mu);
            --inflight;
          }
          cv.notify_one();
          acked.fetch_add(1, std::memory_order_relaxed);
        }
        writer.join();
        grpc::Status st = stream->Finish();
        if (!st.ok()) Die("flood stream: " + st.error_message());
      });
    }
    return StopAfter(seconds, stop, acked, threads);
  }

  uint64_t FloodBatches(const std::string& topic, double seconds, int conns, int batch) override {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> acked{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < conns; ++s) {
      threads.emplace_back([&, s] {
        auto stub = NewStub(200 + s);
        v1::PublishBatchRequest req;
        for (int i = 0; i < batch; ++i) req.add_events()->set_topic(topic);
        while (!stop.load(std::memory_order_relaxed)) {
          for (v1::PublishRequest& e : *req.mutable_events()) e.set_data(EventData(data_bytes_));
          grpc::ClientContext ctx;
          v1::PublishBatchResponse res;
          grpc::Status st = stub->PublishBatch(&ctx, req, &res);
          if (!st.ok()) Die("PublishBatch: " + st.error_message());
          if (res.results_size() != batch) Die("PublishBatch: wrong number of results");
          acked.fetch_add(static_cast<uint64_t>(batch), std::memory_order_relaxed);
        }
      });
    }
    return StopAfter(seconds, stop, acked, threads);
  }

  void set_data_bytes(size_t n) { data_bytes_ = n; }

 private:
  static void SleepUntil(int64_t at_ns) {
    const int64_t wait = at_ns - MonoNanos();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
  }

  std::unique_ptr<v1::Publisher::Stub> NewStub(int id) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", id);  // Distinct args: a connection of its own.
    return v1::Publisher::NewStub(
        grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
  }

  std::string address_;
  size_t data_bytes_ = 200;
  std::unique_ptr<v1::Publisher::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<Stream> stream_;
};

// What an HTTP publish request looks like: nchan's publisher location (the
// body is the data) or tailgate's POST /v1/publish (a JSON event).
enum class HttpApi { kNchan, kTailgate };

// A blocking HTTP/1.1 connection for an HTTP publishing API: pipelined
// POSTs, responses counted as they complete. (tailgate answers a
// connection's requests one at a time, each after its commit.)
class HttpConn {
 public:
  explicit HttpConn(const HostPort& hp) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(hp.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) Die("connect to nchan");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~HttpConn() { ::close(fd_); }

  // `data` is EventData: ASCII without quotes or backslashes, JSON-safe as is.
  static void AppendPost(std::string* out, HttpApi api, const std::string& topic,
                         const std::string& data, int batch = 1) {
    if (api == HttpApi::kNchan) {
      absl::StrAppend(out, "POST /pub/", topic, " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ",
                      data.size(), "\r\n\r\n", data);
      return;
    }
    const std::string event = absl::StrCat(R"({"topic":")", topic, R"(","data":")", data, "\"}");
    std::string body;
    if (batch <= 1) {
      body = event;
    } else {
      body = R"({"events":[)";
      for (int i = 0; i < batch; ++i) absl::StrAppend(&body, i > 0 ? "," : "", event);
      body += "]}";
    }
    absl::StrAppend(out, "POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/json\r\nContent-Length: ",
                    body.size(), "\r\n\r\n", body);
  }
  void Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) Die("send to nchan failed");
      off += static_cast<size_t>(n);
    }
  }
  // Blocks until at least one more response is complete; returns how many
  // completed (0 at EOF). Non-2xx responses are fatal.
  int ReadResponses() {
    for (;;) {
      const int done = ParseResponses();
      if (done > 0) return done;
      char tmp[16384];
      const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) return 0;
      in_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  int ParseResponses() {
    int done = 0;
    size_t pos = 0;
    for (;;) {
      const size_t end = in_.find("\r\n\r\n", pos);
      if (end == std::string::npos) break;
      const absl::string_view head(in_.data() + pos, end - pos);
      if (!absl::StartsWith(head, "HTTP/1.1 2")) {
        Die(absl::StrCat("HTTP publish: ", head.substr(0, head.find('\r'))));
      }
      size_t body = 0;
      const size_t cl = absl::AsciiStrToLower(head).find("content-length:");
      if (cl != std::string::npos) {
        absl::string_view v = head.substr(cl + 15);
        v = absl::StripLeadingAsciiWhitespace(v.substr(0, v.find('\r')));
        (void)absl::SimpleAtoi(v, &body);
      }
      if (in_.size() < end + 4 + body) break;
      pos = end + 4 + body;
      ++done;
    }
    in_.erase(0, pos);
    return done;
  }

  int fd_ = -1;
  std::string in_;
};

// Publishing over HTTP: nchan's only API, tailgate's POST /v1/publish
// (--publish_http).
class HttpPublisher : public Publisher {
 public:
  HttpPublisher(HostPort hp, HttpApi api) : hp_(std::move(hp)), api_(api) {}

  void Burst(const std::string& topic, int n) override {
    if (!conn_) conn_ = std::make_unique<HttpConn>(hp_);
    std::string out;
    for (int i = 0; i < n; ++i) HttpConn::AppendPost(&out, api_, topic, EventData(data_bytes_));
    conn_->Send(out);
    for (int got = 0; got < n;) {
      const int k = conn_->ReadResponses();
      if (k == 0) Die("the server closed the publisher connection");
      got += k;
    }
  }

  uint64_t Paced(const std::string& topic, int rate, double seconds) override {
    HttpConn conn(hp_);
    const int64_t total = static_cast<int64_t>(rate * seconds);
    std::atomic<uint64_t> acked{0};
    std::thread reader([&] {
      while (acked.load() < static_cast<uint64_t>(total)) {
        const int k = conn.ReadResponses();
        if (k == 0) break;
        acked += static_cast<uint64_t>(k);
      }
    });
    const int64_t start = MonoNanos();
    for (int64_t i = 0; i < total; ++i) {
      const int64_t wait = start + i * 1'000'000'000 / rate - MonoNanos();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
      std::string out;
      HttpConn::AppendPost(&out, api_, topic, EventData(data_bytes_));
      conn.Send(out);
    }
    reader.join();
    return acked.load();
  }

  uint64_t FloodBatches(const std::string& topic, double seconds, int conns, int batch) override {
    if (api_ == HttpApi::kNchan) Die("--batch: nchan has no batch publishing API (use --batch=1)");
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> acked{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < conns; ++s) {
      threads.emplace_back([&] {
        HttpConn conn(hp_);
        while (!stop.load(std::memory_order_relaxed)) {
          std::string out;
          HttpConn::AppendPost(&out, api_, topic, EventData(data_bytes_), batch);
          conn.Send(out);
          if (conn.ReadResponses() == 0) Die("the server closed a publisher connection");
          acked += static_cast<uint64_t>(batch);
        }
      });
    }
    return StopAfter(seconds, stop, acked, threads);
  }

  uint64_t Flood(const std::string& topic, double seconds, int conns, int window) override {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> acked{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < conns; ++s) {
      threads.emplace_back([&] {
        HttpConn conn(hp_);
        int inflight = 0;
        for (;;) {
          if (!stop.load(std::memory_order_relaxed)) {
            std::string out;
            for (; inflight < window; ++inflight) {
              HttpConn::AppendPost(&out, api_, topic, EventData(data_bytes_));
            }
            conn.Send(out);
          } else if (inflight == 0) {
            break;
          }
          const int k = conn.ReadResponses();
          if (k == 0) Die("the server closed a publisher connection");
          inflight -= k;
          acked += static_cast<uint64_t>(k);
        }
      });
    }
    return StopAfter(seconds, stop, acked, threads);
  }

  void set_data_bytes(size_t n) { data_bytes_ = n; }

 private:
  HostPort hp_;
  HttpApi api_;
  size_t data_bytes_ = 200;
  std::unique_ptr<HttpConn> conn_;
};

class RedisPublisher : public Publisher {
 public:
  RedisPublisher(HostPort hp, size_t data_bytes) : hp_(std::move(hp)), data_bytes_(data_bytes) {}

  void Burst(const std::string&, int) override { Die("redis: ingest only"); }
  uint64_t Paced(const std::string&, int, double) override { Die("redis: ingest only"); }
  uint64_t FloodBatches(const std::string&, double, int, int) override {
    Die("--batch: use --window (pipelined XADD)");
  }

  uint64_t Flood(const std::string& topic, double seconds, int conns, int window) override {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> acked{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < conns; ++s) {
      threads.emplace_back([&] {
        redisContext* c = redisConnect(hp_.host.c_str(), hp_.port);
        if (c == nullptr || c->err) Die(absl::StrCat("redis connect: ", c ? c->errstr : "no memory"));
        int inflight = 0;
        for (;;) {
          if (!stop.load(std::memory_order_relaxed)) {
            for (; inflight < window; ++inflight) {
              const std::string data = EventData(data_bytes_);
              redisAppendCommand(c, "XADD %s * d %b", topic.c_str(), data.data(), data.size());
            }
          } else if (inflight == 0) {
            break;
          }
          // One reply at a time: the first flushes the pipeline and blocks;
          // later ones mostly come from what was already read.
          void* reply = nullptr;
          if (redisGetReply(c, &reply) != REDIS_OK) Die(absl::StrCat("redis: ", c->errstr));
          auto* r = static_cast<redisReply*>(reply);
          if (r->type == REDIS_REPLY_ERROR) Die(absl::StrCat("redis XADD: ", r->str));
          freeReplyObject(r);
          --inflight;
          acked.fetch_add(1, std::memory_order_relaxed);
        }
        redisFree(c);
      });
    }
    return StopAfter(seconds, stop, acked, threads);
  }

 private:
  HostPort hp_;
  size_t data_bytes_;
};

}  // namespace

std::unique_ptr<Publisher> NewTailgatePublisher(std::string grpc_address, size_t data_bytes) {
  auto p = std::make_unique<TailgatePublisher>(std::move(grpc_address));
  p->set_data_bytes(data_bytes);
  return p;
}

std::unique_ptr<Publisher> NewHttpPublisher(HostPort http, bool tailgate, size_t data_bytes) {
  auto p = std::make_unique<HttpPublisher>(std::move(http),
                                           tailgate ? HttpApi::kTailgate : HttpApi::kNchan);
  p->set_data_bytes(data_bytes);
  return p;
}

std::unique_ptr<Publisher> NewRedisPublisher(HostPort redis, size_t data_bytes) {
  return std::make_unique<RedisPublisher>(std::move(redis), data_bytes);
}

}  // namespace tailgate::bench
