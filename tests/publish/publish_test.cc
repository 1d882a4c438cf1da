// tailgate.v1.Publisher over loopback against an in-process Gateway (real
// log: RocksDB, or JetStream in publish_jetstream_test; real gRPC server on
// port 0) and a real gRPC client.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gateway/server/gateway.h"
#include "gtest/gtest.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/publish/publish_testing.h"

namespace tailgate {
namespace {

using ::tailgate::testing::In;
using ::tailgate::testing::LoopbackConfig;
using ::tailgate::testing::ReadAllEvents;
using ::tailgate::testing::Req;
using std::chrono::milliseconds;

class PublishTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(LoopbackConfig()); }

  void Start(const Config& config) {
    absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(config);
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = *std::move(gw);
    channel_ = grpc::CreateChannel(gateway_->grpc_address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Publisher::NewStub(channel_);
  }

  void Restart(const Config& config) {
    stub_.reset();
    channel_.reset();
    gateway_.reset();
    Start(config);
  }

  grpc::Status Publish(const v1::PublishRequest& req, v1::PublishResponse* res) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(milliseconds(10000)));
    return stub_->Publish(&ctx, req, res);
  }

  grpc::Status Batch(const std::vector<v1::PublishRequest>& events,
                     v1::PublishBatchResponse* res) {
    v1::PublishBatchRequest req;
    for (const v1::PublishRequest& e : events) *req.add_events() = e;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(milliseconds(10000)));
    return stub_->PublishBatch(&ctx, req, res);
  }

  struct StreamOutcome {
    std::vector<v1::PublishResponse> acks;
    grpc::Status status;
  };

  // Writes all requests from a second thread while reading acks.
  StreamOutcome Stream(const std::vector<v1::PublishRequest>& requests) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(milliseconds(60000)));
    auto stream = stub_->PublishStream(&ctx);
    std::thread writer([&] {
      for (const v1::PublishRequest& r : requests) {
        if (!stream->Write(r)) break;
      }
      stream->WritesDone();
    });
    StreamOutcome out;
    v1::PublishResponse res;
    while (stream->Read(&res)) out.acks.push_back(res);
    writer.join();
    out.status = stream->Finish();
    return out;
  }

  store::Log& log() { return *gateway_->log(); }

  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Publisher::Stub> stub_;
};

TEST_F(PublishTest, PublishReturnsIncreasingIdsAndStoresTheEvent) {
  v1::PublishResponse a, b;
  ASSERT_TRUE(Publish(Req("orders.42", "{\"id\":42}", "created"), &a).ok());
  ASSERT_TRUE(Publish(Req("orders.43", "line1\nline2"), &b).ok());
  EXPECT_GT(a.id(), 0u);
  EXPECT_EQ(b.id(), a.id() + 1);
  EXPECT_FALSE(a.duplicate());
  EXPECT_EQ(log().Watermark(), b.id());
  std::vector<store::Event> events = ReadAllEvents(log());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, a.id());
  EXPECT_EQ(events[0].topic, "orders.42");
  EXPECT_EQ(events[0].type, "created");
  EXPECT_EQ(events[0].data, "{\"id\":42}");
  EXPECT_EQ(events[1].data, "line1\nline2");
  EXPECT_EQ(events[1].type, "");
}

TEST_F(PublishTest, BatchStoresAllWithConsecutiveIdsInOrder) {
  v1::PublishResponse first;
  ASSERT_TRUE(Publish(Req("a", "0"), &first).ok());
  v1::PublishBatchResponse res;
  std::vector<v1::PublishRequest> events;
  for (int i = 0; i < 50; ++i) events.push_back(Req("b." + std::to_string(i % 3), std::to_string(i)));
  grpc::Status s = Batch(events, &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(res.results_size(), 50);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(res.results(i).id(), first.id() + 1 + i);
    EXPECT_FALSE(res.results(i).duplicate());
  }
  std::vector<store::Event> stored = ReadAllEvents(log());
  ASSERT_EQ(stored.size(), 51u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(stored[i + 1].data, std::to_string(i));
}

TEST_F(PublishTest, BatchWithOneBadEventStoresNothing) {
  v1::PublishResponse first;
  ASSERT_TRUE(Publish(Req("a", "0"), &first).ok());
  std::vector<v1::PublishRequest> events;
  for (int i = 0; i < 10; ++i) events.push_back(Req("ok.topic", std::to_string(i)));
  events[3].set_topic("bad topic");
  v1::PublishBatchResponse res;
  grpc::Status s = Batch(events, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "events[3].topic: topic has invalid byte 0x20 at byte 3 (allowed: A-Z a-z 0-9 _ : - "
            "and '.' between tokens)");
  EXPECT_EQ(res.results_size(), 0);
  EXPECT_EQ(log().Watermark(), first.id());
  EXPECT_EQ(log().LastAssignedId(), first.id());
  EXPECT_EQ(ReadAllEvents(log()).size(), 1u);
  // The same batch, fixed, then gets the next ids: nothing was used up.
  events[3].set_topic("ok.topic");
  ASSERT_TRUE(Batch(events, &res).ok());
  EXPECT_EQ(res.results(0).id(), first.id() + 1);
}

TEST_F(PublishTest, BatchLimits) {
  v1::PublishBatchResponse res;
  grpc::Status empty = Batch({}, &res);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(empty.error_message(), "events: a batch must have at least one event");

  std::vector<v1::PublishRequest> events(1001, Req("t", "x"));
  grpc::Status over = Batch(events, &res);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(over.error_message(), "events: batch has 1001 events; the limit is 1000");

  events.resize(1000);
  grpc::Status at_limit = Batch(events, &res);
  EXPECT_TRUE(at_limit.ok()) << at_limit.error_message();
  EXPECT_EQ(res.results_size(), 1000);
  EXPECT_EQ(log().Watermark(), 1000u);
}

TEST_F(PublishTest, RequestLargerThanMaxRequestBytesIsResourceExhausted) {
  Config config = LoopbackConfig();
  config.publish.max_request_bytes = 1 << 20;
  Restart(config);
  // Each event is allowed alone; together they exceed the request limit.
  std::vector<v1::PublishRequest> events(3, Req("t", std::string(900 * 1024, 'x')));
  v1::PublishBatchResponse res;
  grpc::Status s = Batch(events, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(log().LastAssignedId(), 0u);
  v1::PublishResponse one;
  EXPECT_TRUE(Publish(events[0], &one).ok());
}

TEST_F(PublishTest, OversizeDataIsResourceExhaustedAndMaxSizeIsAccepted) {
  v1::PublishResponse res;
  grpc::Status over = Publish(Req("big", std::string((1 << 20) + 1, 'x')), &res);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(over.error_message(), "data: data is 1048577 bytes; the limit is 1048576");
  grpc::Status at = Publish(Req("big", std::string(1 << 20, 'x')), &res);
  EXPECT_TRUE(at.ok()) << at.error_message();
  std::vector<store::Event> events = ReadAllEvents(log());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data.size(), size_t{1} << 20);
}

TEST_F(PublishTest, MaxDataBytesFollowsConfig) {
  Config config = LoopbackConfig();
  config.publish.max_data_bytes = 10;
  Restart(config);
  v1::PublishResponse res;
  EXPECT_TRUE(Publish(Req("t", "0123456789"), &res).ok());
  grpc::Status s = Publish(Req("t", "0123456789a"), &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "data: data is 11 bytes; the limit is 10");
}

TEST_F(PublishTest, IdempotentRetryReturnsTheFirstId) {
  v1::PublishResponse first, retry, other_topic, batch_dup;
  ASSERT_TRUE(Publish(Req("orders.1", "a", "", "key-1"), &first).ok());
  ASSERT_TRUE(Publish(Req("orders.1", "a", "", "key-1"), &retry).ok());
  EXPECT_FALSE(first.duplicate());
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.id(), first.id());
  // Keys are per topic.
  ASSERT_TRUE(Publish(Req("orders.2", "a", "", "key-1"), &other_topic).ok());
  EXPECT_FALSE(other_topic.duplicate());
  EXPECT_GT(other_topic.id(), first.id());
  // Through a batch and a stream too.
  v1::PublishBatchResponse batch;
  ASSERT_TRUE(Batch({Req("orders.1", "a", "", "key-1"), Req("orders.1", "b", "", "key-2")}, &batch)
                  .ok());
  EXPECT_EQ(batch.results(0).id(), first.id());
  EXPECT_TRUE(batch.results(0).duplicate());
  EXPECT_FALSE(batch.results(1).duplicate());
  StreamOutcome s = Stream({Req("orders.1", "b", "", "key-2"), Req("orders.1", "c", "", "key-3")});
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  ASSERT_EQ(s.acks.size(), 2u);
  EXPECT_EQ(s.acks[0].id(), batch.results(1).id());
  EXPECT_TRUE(s.acks[0].duplicate());
  EXPECT_FALSE(s.acks[1].duplicate());
  EXPECT_EQ(ReadAllEvents(log()).size(), 4u);
}

TEST_F(PublishTest, StreamAcksTenThousandInOrderWithIncreasingIds) {
  constexpr int kEvents = 10000;
  std::vector<v1::PublishRequest> requests;
  for (int i = 0; i < kEvents; ++i) requests.push_back(Req("s.1", std::to_string(i)));
  StreamOutcome out = Stream(requests);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_EQ(out.acks.size(), size_t{kEvents});
  for (int i = 1; i < kEvents; ++i) ASSERT_EQ(out.acks[i].id(), out.acks[i - 1].id() + 1) << i;
  std::vector<store::Event> events = ReadAllEvents(log());
  ASSERT_EQ(events.size(), size_t{kEvents});
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_EQ(events[i].id, out.acks[i].id());
    ASSERT_EQ(events[i].data, std::to_string(i));
  }
}

TEST_F(PublishTest, ConcurrentStreamsEachAckInOrder) {
  constexpr int kStreams = 4;
  constexpr int kEvents = 2000;
  std::vector<StreamOutcome> outs(kStreams);
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      std::vector<v1::PublishRequest> requests;
      for (int i = 0; i < kEvents; ++i) {
        requests.push_back(Req("s." + std::to_string(s), std::to_string(i)));
      }
      outs[s] = Stream(requests);
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<uint64_t> all;
  for (const StreamOutcome& out : outs) {
    ASSERT_TRUE(out.status.ok()) << out.status.error_message();
    ASSERT_EQ(out.acks.size(), size_t{kEvents});
    for (int i = 1; i < kEvents; ++i) ASSERT_GT(out.acks[i].id(), out.acks[i - 1].id());
    for (const v1::PublishResponse& a : out.acks) all.push_back(a.id());
  }
  std::vector<store::Event> events = ReadAllEvents(log());
  ASSERT_EQ(events.size(), size_t{kStreams * kEvents});
  // Each stream's data is in order in the log, and ids map to the right events.
  for (int s = 0; s < kStreams; ++s) {
    for (int i = 0; i < kEvents; ++i) {
      const store::Event& e = events[outs[s].acks[i].id() - 1];
      ASSERT_EQ(e.topic, "s." + std::to_string(s));
      ASSERT_EQ(e.data, std::to_string(i));
    }
  }
}

TEST_F(PublishTest, StreamWithSmallInflightLimitStillAcksEverything) {
  Config config = LoopbackConfig();
  config.publish.max_inflight_per_stream = 1;
  Restart(config);
  std::vector<v1::PublishRequest> requests;
  for (int i = 0; i < 300; ++i) requests.push_back(Req("s", std::to_string(i)));
  StreamOutcome out = Stream(requests);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_EQ(out.acks.size(), 300u);
  for (int i = 1; i < 300; ++i) ASSERT_EQ(out.acks[i].id(), out.acks[i - 1].id() + 1);
}

TEST_F(PublishTest, EmptyStreamFinishesOk) {
  StreamOutcome out = Stream({});
  EXPECT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_TRUE(out.acks.empty());
}

TEST_F(PublishTest, StreamErrorWritesEarlierAcksThenFinishesNamingTheRequest) {
  std::vector<v1::PublishRequest> requests;
  for (int i = 0; i < 100; ++i) requests.push_back(Req("s", std::to_string(i)));
  requests[57].set_type("x\ny");
  StreamOutcome out = Stream(requests);
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(out.status.error_message(),
            "request[57].type: type has invalid byte 0x0a at byte 1 (allowed: A-Z a-z 0-9 _ . : -)");
  ASSERT_EQ(out.acks.size(), 57u);
  EXPECT_EQ(log().Watermark(), out.acks.back().id());
  EXPECT_EQ(log().LastAssignedId(), out.acks.back().id());
  std::vector<store::Event> events = ReadAllEvents(log());
  ASSERT_EQ(events.size(), 57u);
  EXPECT_EQ(events.back().data, "56");
}

// Every validation rule, through each RPC, with the exact code and message.
struct RuleCase {
  std::string name;
  v1::PublishRequest request;
  grpc::StatusCode code;
  std::string message;  // For field prefix "": "topic: ...".
};

std::vector<RuleCase> RuleCases() {
  const std::string topic_chars = "(allowed: A-Z a-z 0-9 _ : - and '.' between tokens)";
  const std::string type_chars = "(allowed: A-Z a-z 0-9 _ . : -)";
  const auto inv = grpc::StatusCode::INVALID_ARGUMENT;
  return {
      {"EmptyTopic", Req("", "d"), inv, "topic: topic must not be empty"},
      {"TopicTooLong", Req(std::string(256, 'a'), "d"), inv,
       "topic: topic is 256 bytes; the limit is 255"},
      {"TopicEmptyToken", Req("orders..42", "d"), inv,
       "topic: topic has an empty token at byte 7 (tokens are separated by single dots)"},
      {"TopicLeadingDot", Req(".orders", "d"), inv,
       "topic: topic has an empty token at byte 0 (tokens are separated by single dots)"},
      {"TopicTrailingDot", Req("orders.", "d"), inv,
       "topic: topic has an empty token at byte 7 (tokens are separated by single dots)"},
      {"TopicSpace", Req("orders eu", "d"), inv,
       "topic: topic has invalid byte 0x20 at byte 6 " + topic_chars},
      {"TopicSlash", Req("orders/eu", "d"), inv,
       "topic: topic has invalid '/' at byte 6 " + topic_chars},
      {"TopicNewline", Req("orders\n", "d"), inv,
       "topic: topic has invalid byte 0x0a at byte 6 " + topic_chars},
      {"TopicStar", Req("orders.*", "d"), inv,
       "topic: topic has invalid '*' at byte 7 (wildcards are for subscriptions, not topics)"},
      {"TopicGt", Req("orders.>", "d"), inv,
       "topic: topic has invalid '>' at byte 7 (wildcards are for subscriptions, not topics)"},
      {"TopicNonAscii", Req("caf\xc3\xa9", "d"), inv,
       "topic: topic has invalid byte 0xc3 at byte 3 " + topic_chars},
      {"TypeTooLong", Req("t", "d", std::string(65, 'a')), inv,
       "type: type is 65 bytes; the limit is 64"},
      {"TypeLf", Req("t", "d", "created\nid: 9"), inv,
       "type: type has invalid byte 0x0a at byte 7 " + type_chars},
      {"TypeCr", Req("t", "d", "created\r"), inv,
       "type: type has invalid byte 0x0d at byte 7 " + type_chars},
      {"TypeNul", Req("t", "d", std::string("a\0b", 3)), inv,
       "type: type has invalid byte 0x00 at byte 1 " + type_chars},
      {"TypeSpace", Req("t", "d", "order created"), inv,
       "type: type has invalid byte 0x20 at byte 5 " + type_chars},
      {"TypeColonSpaceInjection", Req("t", "d", "x:y z"), inv,
       "type: type has invalid byte 0x20 at byte 3 " + type_chars},
      {"TypeReservedPrefix", Req("t", "d", "tailgate.reset"), inv,
       "type: type prefix \"tailgate.\" is reserved for the gateway's own events"},
      {"DataInvalidUtf8", Req("t", "ok\xff"), inv, "data: data is not valid UTF-8"},
      {"DataTruncatedUtf8", Req("t", "caf\xc3"), inv, "data: data is not valid UTF-8"},
      {"DataOverlongUtf8", Req("t", "\xc0\xaf"), inv, "data: data is not valid UTF-8"},
      {"DataSurrogate", Req("t", "\xed\xa0\x80"), inv, "data: data is not valid UTF-8"},
      {"DataNul", Req("t", std::string("abc\0", 4)), inv,
       "data: data contains a NUL byte at byte 3"},
      {"DataTooBig", Req("t", std::string((1 << 20) + 1, 'x')),
       grpc::StatusCode::RESOURCE_EXHAUSTED, "data: data is 1048577 bytes; the limit is 1048576"},
      {"KeyTooLong", Req("t", "d", "", std::string(129, 'k')), inv,
       "idempotency_key: idempotency_key is 129 bytes; the limit is 128"},
      {"KeySpace", Req("t", "d", "", "a b"), inv,
       "idempotency_key: idempotency_key has invalid byte 0x20 at byte 1 (allowed: printable "
       "ASCII, no space)"},
      {"KeyNewline", Req("t", "d", "", "a\n"), inv,
       "idempotency_key: idempotency_key has invalid byte 0x0a at byte 1 (allowed: printable "
       "ASCII, no space)"},
  };
}

TEST_F(PublishTest, EveryValidationRuleThroughEveryRpc) {
  uint64_t stored = 0;
  for (const RuleCase& c : RuleCases()) {
    SCOPED_TRACE(c.name);
    // Publish: the bare field name.
    v1::PublishResponse res;
    grpc::Status unary = Publish(c.request, &res);
    EXPECT_EQ(unary.error_code(), c.code);
    EXPECT_EQ(unary.error_message(), c.message);

    // PublishBatch: the index of the bad event; nothing stored.
    v1::PublishBatchResponse batch_res;
    grpc::Status batch = Batch({Req("ok", "1"), Req("ok", "2"), c.request}, &batch_res);
    EXPECT_EQ(batch.error_code(), c.code);
    EXPECT_EQ(batch.error_message(), "events[2]." + c.message);
    EXPECT_EQ(log().LastAssignedId(), stored);

    // PublishStream: the acks before it, then the status naming the request.
    StreamOutcome s = Stream({Req("ok", "1"), Req("ok", "2"), c.request, Req("ok", "3")});
    EXPECT_EQ(s.status.error_code(), c.code);
    EXPECT_EQ(s.status.error_message(), "request[2]." + c.message);
    ASSERT_EQ(s.acks.size(), 2u);
    stored += 2;
    EXPECT_EQ(s.acks[1].id(), stored);
    EXPECT_EQ(log().LastAssignedId(), stored);
  }
  EXPECT_EQ(log().Watermark(), stored);
}

TEST_F(PublishTest, ValidEdgeCasesAreAccepted) {
  const std::vector<v1::PublishRequest> ok = {
      Req(std::string(255, 'a'), ""),
      Req("A-z_0:9.x", "emoji \xf0\x9f\x98\x80 and\nnewlines\r\n"),
      Req("t", "d", std::string(64, 't')),
      Req("t", "d", "a.b:c-d_e"),
      Req("t", "d", "", std::string(128, '~')),
  };
  for (const v1::PublishRequest& r : ok) {
    v1::PublishResponse res;
    grpc::Status s = Publish(r, &res);
    EXPECT_TRUE(s.ok()) << r.topic() << ": " << s.error_message();
  }
}

TEST_F(PublishTest, ShutdownEndsOpenStreamsWithUnavailableAfterTheirAcks) {
  // An open stream before draining gets its acks, then UNAVAILABLE.
  grpc::ClientContext sctx;
  auto stream = stub_->PublishStream(&sctx);
  ASSERT_TRUE(stream->Write(Req("s", "before")));
  v1::PublishResponse ack;
  ASSERT_TRUE(stream->Read(&ack));

  std::thread shutdown([&] { gateway_->Shutdown(); });
  // The stream ends by itself (the server does not wait for the client).
  while (stream->Read(&ack)) {
  }
  grpc::Status s = stream->Finish();
  shutdown.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(),
            "server is draining: requests from request[1] on were not accepted; every earlier "
            "request is acknowledged");
}

TEST_F(PublishTest, ShutdownWithAnIdleConnectedClientIsPrompt) {
  Config config = LoopbackConfig();
  config.store.durability = store::Durability::kWal;
  Restart(config);
  v1::PublishResponse res;
  ASSERT_TRUE(Publish(Req("t", "d"), &res).ok());
  const absl::Time start = absl::Now();
  gateway_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(PublishTest, CancelledAndDeadlineExceededCallsLeaveTheLogConsistent) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  std::mutex mu;
  std::vector<std::pair<uint64_t, std::string>> acked;  // (id, data)
  std::atomic<int> not_acked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string data = std::to_string(t) + ":" + std::to_string(i);
        grpc::ClientContext ctx;
        // From already expired to comfortably long.
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::microseconds((i % 10) * 300));
        v1::PublishResponse res;
        grpc::Status s;
        if (i % 3 == 0) {
          v1::PublishBatchRequest batch;
          *batch.add_events() = Req("c.b", data + "a");
          *batch.add_events() = Req("c.b", data + "b");
          v1::PublishBatchResponse bres;
          s = stub_->PublishBatch(&ctx, batch, &bres);
          if (s.ok()) {
            std::lock_guard<std::mutex> l(mu);
            acked.emplace_back(bres.results(0).id(), data + "a");
            acked.emplace_back(bres.results(1).id(), data + "b");
          }
        } else {
          s = stub_->Publish(&ctx, Req("c.u", data), &res);
          if (s.ok()) {
            std::lock_guard<std::mutex> l(mu);
            acked.emplace_back(res.id(), data);
          }
        }
        if (!s.ok()) {
          EXPECT_TRUE(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                      s.error_code() == grpc::StatusCode::CANCELLED)
              << s.error_code() << " " << s.error_message();
          not_acked++;
        }
      }
    });
  }
  // Streams cancelled by the client with many acks in flight.
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        grpc::ClientContext ctx;
        auto stream = stub_->PublishStream(&ctx);
        for (int i = 0; i < 200; ++i) {
          const std::string data = "s" + std::to_string(t) + ":" + std::to_string(round) + ":" +
                                   std::to_string(i);
          if (!stream->Write(Req("c.s", data))) break;
        }
        std::vector<uint64_t> ids;
        v1::PublishResponse res;
        for (int i = 0; i < 20 * (round + 1) && stream->Read(&res); ++i) {
          std::lock_guard<std::mutex> l(mu);
          acked.emplace_back(res.id(), "s" + std::to_string(t) + ":" + std::to_string(round) +
                                           ":" + std::to_string(i));
        }
        ctx.TryCancel();
        while (stream->Read(&res)) {
        }
        EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GT(not_acked.load(), 0);  // Some calls really were cut short.
  // A cancelled stream's server side may still be appending requests it read
  // before the cancel reached it (they count as "may or may not be stored").
  // Once every stream call is done, all its appends are in the log's queue.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (gateway_->publish_streams() > 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(gateway_->publish_streams(), 0u);

  // Everything that will commit has: a final publish goes behind it.
  v1::PublishResponse last;
  ASSERT_TRUE(Publish(Req("c.end", "end"), &last).ok());
  EXPECT_EQ(log().Watermark(), last.id());
  EXPECT_EQ(log().LastAssignedId(), last.id());
  std::vector<store::Event> events = ReadAllEvents(log());
  // Ids are 1..watermark with no gap and no repeat.
  ASSERT_EQ(events.size(), last.id());
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].id, i + 1);
  // Every ack names the event the client sent.
  for (const auto& [id, data] : acked) {
    ASSERT_GE(id, 1u);
    ASSERT_LE(id, events.size());
    EXPECT_EQ(events[id - 1].data, data) << id;
  }
  // Shutdown does not hang on any RPC left unfinished.
  gateway_->Shutdown();
}

}  // namespace
}  // namespace tailgate
