// Failover on JetStream: a 3-node JetStream cluster (stream R3) and two
// //gateway:tailgate processes on loopback. Publishers write through both
// gateways, SSE subscribers (single topics, patterns, several topics) read
// from both. Under load the stream's leader node and gateway A are SIGKILLed
// together; publishers retry every failed publish with the same idempotency
// key on the other gateway, subscribers reconnect to the other gateway with
// Last-Event-ID. In the end every acknowledged event has reached every
// subscriber whose filter matches it, exactly once and in id order, and the
// stream holds each event once (a "match everything" subscriber sees the
// whole log). A late subscriber then reads history back from JetStream
// itself, right after the failover.
//
// Gateway B is given only the leader's URL, so losing that node also forces
// B's NATS connection over to a node it learned from the cluster, with its
// ordered consumer recreated on a new stream leader: the hardest case for a
// surviving node.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "store/topic.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/http_client.h"
#include "tests/testing/nats_server.h"
#include "tests/testing/process.h"
#include "tests/testing/sse_client.h"

namespace tailgate {
namespace {

using ::tailgate::testing::HttpFetch;
using ::tailgate::testing::NatsCluster;
using ::tailgate::testing::NatsServer;
using ::tailgate::testing::Process;
using ::tailgate::testing::RunningGateway;
using ::tailgate::testing::StartGatewayProcess;
using ::tailgate::testing::SseClient;
using ::tailgate::testing::SseEvent;
using ::tailgate::testing::ValueAfter;

constexpr char kStream[] = "FAILOVER";

// Unary publishers, one event in flight each.
constexpr int kPublishers = 4;
constexpr int kEventsPerPublisher = 300;
// PublishStream publishers, kChunk events in flight each, publishing until
// the unary publishers are done: at the crash many requests are accepted
// but unacknowledged, the case idempotent retries exist for.
constexpr int kStreamPublishers = 2;
constexpr size_t kChunk = 50;
// The crash happens once this many events are acknowledged: mid-load.
constexpr int kKillAfterAcks = kPublishers * kEventsPerPublisher / 4;
const std::vector<std::string> kTopics = {"orders.eu", "orders.us", "audit.log", "noise.x"};
// Everything must be over well within this (the test's own deadline, far
// below Bazel's timeout so a hang reports what was missing).
constexpr absl::Duration kDeadline = absl::Seconds(240);

RunningGateway StartGateway(const std::string& nats_url) {
  return StartGatewayProcess(
      {"--store=jetstream", "--nats_url=" + nats_url, absl::StrCat("--nats_stream=", kStream),
       "--nats_subject_prefix=fo", "--nats_replicas=3", "--heartbeat=1s",
       // JetStream reserves the stream's byte limit (times 3 replicas) up
       // front; the 10 GiB default fails on a disk with less free.
       "--retention_max_bytes=268435456",
       // Far fewer than the events published: replays that fall behind, and
       // the late subscriber, read from JetStream, not from memory.
       "--tail_cache_events=2000"},
      absl::Seconds(60));
}

// Reads a child's stderr for `d` so its pipe never fills while the test
// waits on something else (no line contains "\n": nothing matches).
void Drain(Process& p, absl::Duration d) { p.WaitForLine("\n", d); }

// The server_name of the stream's current leader, from a node's /jsz; empty
// when the node does not know one (yet).
std::string StreamLeader(const NatsServer& node) {
  return node.JszLeader("/jsz?streams=true", absl::StrCat("\"name\": \"", kStream, "\""));
}

// What every publisher thread shares with the test thread.
struct Ack {
  std::string topic;
  uint64_t id = 0;
};
struct Shared {
  std::vector<std::string> grpc;  // gateway addresses, A first
  std::atomic<int> acked{0};     // by the unary publishers
  std::atomic<int> finished{0};  // unary publisher threads done (acked all, or gave up)
  std::atomic<int> stream_acked{0};
  std::atomic<int> retries{0};
  std::atomic<int> duplicates{0};  // retries that found the event already stored
  std::mutex mu;
  std::map<std::string, Ack> acks;  // idempotency key -> ack; guarded by mu
  std::vector<std::string> errors;  // guarded by mu
  void Error(std::string e) {
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back(std::move(e));
  }
};

// Publishes one event, retrying with the same idempotency key until it is
// acknowledged; every failure moves to the next gateway, as a client behind
// a load balancer would. `gateway` is where to start and is left where the
// ack came from.
bool PublishUntilAcked(Shared& shared,
                       std::vector<std::unique_ptr<v1::Publisher::Stub>>& stubs, int* gateway,
                       const std::string& topic, const std::string& key, absl::Time deadline) {
  v1::PublishRequest req;
  req.set_topic(topic);
  req.set_type("fo");
  req.set_data(key);
  req.set_idempotency_key(key);
  bool retried = false;
  std::string last_error;
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    // Short enough that an ack lost in the crash is retried quickly.
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::PublishResponse res;
    grpc::Status s = stubs[static_cast<size_t>(*gateway)]->Publish(&ctx, req, &res);
    if (s.ok()) {
      if (res.duplicate() && !retried) {
        shared.Error(absl::StrCat(key, ": first attempt answered duplicate, id ", res.id()));
      }
      if (res.duplicate()) shared.duplicates++;
      std::lock_guard<std::mutex> lock(shared.mu);
      auto [it, fresh] = shared.acks.emplace(key, Ack{topic, res.id()});
      if (!fresh) {
        shared.errors.push_back(absl::StrCat(key, ": acknowledged twice"));
      }
      return true;
    }
    // Every failure is retried the same way: the event may or may not be
    // stored, and the idempotency key makes the retry safe either way.
    last_error = absl::StrCat(s.error_code(), " ", s.error_message());
    retried = true;
    shared.retries++;
    *gateway = (*gateway + 1) % static_cast<int>(stubs.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // retry pacing
  }
  shared.Error(absl::StrCat(key, ": never acknowledged; last error: ", last_error));
  return false;
}

void PublisherThread(Shared& shared, int index, absl::Time deadline) {
  std::vector<std::unique_ptr<v1::Publisher::Stub>> stubs;
  for (const std::string& addr : shared.grpc) {
    stubs.push_back(
        v1::Publisher::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials())));
  }
  int gateway = index % static_cast<int>(stubs.size());  // half start on A, half on B
  for (int j = 0; j < kEventsPerPublisher; ++j) {
    const std::string& topic = kTopics[static_cast<size_t>(index + j) % kTopics.size()];
    const std::string key = absl::StrCat("p", index, "-", j);
    if (!PublishUntilAcked(shared, stubs, &gateway, topic, key, deadline)) break;
    shared.acked++;
  }
  shared.finished++;
}

// One PublishStream attempt for items[*acked..]: writes them all, half-closes,
// reads acks (in request order) into `shared`. True when every item is acked.
bool StreamAttempt(Shared& shared, v1::Publisher::Stub& stub,
                   const std::vector<std::pair<std::string, std::string>>& items,
                   const std::vector<int>& attempts, size_t* acked, std::string* error) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  auto stream = stub.PublishStream(&ctx);
  for (size_t i = *acked; i < items.size(); ++i) {
    v1::PublishRequest req;
    req.set_topic(items[i].first);
    req.set_type("fo");
    req.set_data(items[i].second);
    req.set_idempotency_key(items[i].second);
    if (!stream->Write(req)) break;
  }
  stream->WritesDone();
  v1::PublishResponse res;
  while (*acked < items.size() && stream->Read(&res)) {
    const auto& [topic, key] = items[*acked];
    if (res.duplicate()) {
      shared.duplicates++;
      if (attempts[*acked] == 1) {
        shared.Error(absl::StrCat(key, ": first attempt answered duplicate, id ", res.id()));
      }
    }
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      if (!shared.acks.emplace(key, Ack{topic, res.id()}).second) {
        shared.errors.push_back(absl::StrCat(key, ": acknowledged twice"));
      }
    }
    ++*acked;
    shared.stream_acked++;
  }
  grpc::Status s = stream->Finish();
  if (*acked == items.size()) return true;
  *error = s.ok() ? "stream ended early" : absl::StrCat(s.error_code(), " ", s.error_message());
  return false;
}

void StreamPublisherThread(Shared& shared, int index, absl::Time deadline) {
  std::vector<std::unique_ptr<v1::Publisher::Stub>> stubs;
  for (const std::string& addr : shared.grpc) {
    stubs.push_back(
        v1::Publisher::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials())));
  }
  int gateway = index % static_cast<int>(stubs.size());
  int n = 0;
  while (shared.finished.load() < kPublishers) {
    std::vector<std::pair<std::string, std::string>> items;  // (topic, key)
    for (size_t i = 0; i < kChunk; ++i, ++n) {
      items.emplace_back(kTopics[static_cast<size_t>(n) % kTopics.size()],
                         absl::StrCat("s", index, "-", n));
    }
    std::vector<int> attempts(items.size(), 0);
    size_t acked = 0;
    std::string error;
    while (acked < items.size()) {
      if (absl::Now() > deadline) {
        shared.Error(absl::StrCat(items[acked].second, ": never acknowledged; last error: ",
                                  error));
        return;
      }
      for (size_t i = acked; i < items.size(); ++i) attempts[i]++;
      if (StreamAttempt(shared, *stubs[static_cast<size_t>(gateway)], items, attempts, &acked,
                        &error)) {
        break;
      }
      // The unacknowledged suffix may or may not be stored: resend it, same
      // keys, through the next gateway.
      shared.retries++;
      gateway = (gateway + 1) % static_cast<int>(stubs.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // retry pacing
    }
  }
}

// One SSE subscriber: follows its filter, and on any stream failure
// reconnects to the next gateway with Last-Event-ID (what EventSource does
// behind a load balancer). Stops once it has the fence event of every topic
// it matches (published last), or at the deadline.
struct Subscriber {
  Subscriber(std::string n, std::vector<std::string> p, int first_gateway)
      : name(std::move(n)), patterns(std::move(p)), gateway(first_gateway) {}

  std::string name;
  std::vector<std::string> patterns;
  int gateway;  // where it connects (first, then after each failure the next one)

  std::vector<std::pair<uint64_t, std::string>> got;  // (id, data), as received
  std::vector<std::string> errors;
  int reconnects = 0;
  bool done = false;

  bool Matches(const std::string& topic) const {
    for (const std::string& p : patterns) {
      if (store::TopicPattern::Parse(p)->Matches(topic)) return true;
    }
    return false;
  }

  void Run(const std::vector<int>& http_ports, absl::Time deadline) {
    std::string query = "/v1/events?";
    for (size_t i = 0; i < patterns.size(); ++i) {
      absl::StrAppend(&query, i == 0 ? "" : "&", "topic=", patterns[i]);
    }
    std::set<std::string> fences_wanted;
    for (const std::string& t : kTopics) {
      if (Matches(t)) fences_wanted.insert("fence-" + t);
    }
    std::string last_id;
    bool first = true;
    while (!fences_wanted.empty() && absl::Now() < deadline) {
      if (!first) {
        reconnects++;
        gateway = (gateway + 1) % static_cast<int>(http_ports.size());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // reconnect pacing
      }
      first = false;
      std::vector<std::pair<std::string, std::string>> headers;
      std::string target = query;
      // The first connection takes all history (the stream is new); later
      // ones resume after the last event received.
      if (last_id.empty()) {
        target += "&since=earliest";
      } else {
        headers.emplace_back("Last-Event-ID", last_id);
      }
      auto sse = SseClient::Connect("127.0.0.1", http_ports[static_cast<size_t>(gateway)],
                                    target, headers, absl::Seconds(5));
      if (!sse.ok() || (*sse)->status() != 200) continue;
      while (!fences_wanted.empty() && absl::Now() < deadline) {
        absl::StatusOr<SseEvent> e = (*sse)->Next(absl::Seconds(1));
        if (absl::IsDeadlineExceeded(e.status())) continue;
        if (!e.ok()) break;  // the stream ended: reconnect elsewhere
        if (e->type != "fo") {
          errors.push_back(absl::StrCat("unexpected event type ", e->type, " id ",
                                        e->last_event_id, ": ", e->data));
          continue;
        }
        uint64_t id = 0;
        if (!absl::SimpleAtoi(e->last_event_id, &id)) {
          errors.push_back(absl::StrCat("bad id '", e->last_event_id, "'"));
          continue;
        }
        last_id = e->last_event_id;
        got.emplace_back(id, e->data);
        fences_wanted.erase(e->data);
      }
    }
    done = fences_wanted.empty();
  }
};

TEST(JetStreamFailoverTest, LeaderNodeAndGatewayCrashLoseAndDuplicateNothing) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + kDeadline;
  NatsCluster cluster(3);

  // Gateway A knows every node and creates the R3 stream.
  RunningGateway a = StartGateway(cluster.urls());
  ASSERT_NE(a.http_port, 0);
  int leader = -1;
  // Polled: the monitoring endpoint is the only place the leader shows.
  // 30 s like the other waits here (an election on a loaded 2-core box).
  for (const absl::Time until = absl::Now() + absl::Seconds(30); leader < 0 && absl::Now() < until;) {
    const std::string name = StreamLeader(cluster.node(0));
    for (int i = 0; i < cluster.size(); ++i) {
      if (!name.empty() && cluster.node(i).name() == name) leader = i;
    }
    if (leader < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll
  }
  ASSERT_GE(leader, 0) << "no leader for stream " << kStream;
  // Gateway B knows only the leader (see the top of the file).
  RunningGateway b = StartGateway(cluster.node(leader).url());
  ASSERT_NE(b.http_port, 0);
  // B outlives the test's busy phases and logs every failed append of the
  // failover: its stderr is read all along (a full pipe would block its
  // logging threads). Only this thread touches b.process until it is joined.
  std::atomic<bool> stop_drain{false};
  std::thread drainer([&b, &stop_drain] {
    while (!stop_drain.load()) Drain(*b.process, absl::Milliseconds(50));
  });
  // Stops it on every way out of the test (ASSERTs included).
  struct StopDrainer {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~StopDrainer() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } stop_drainer{stop_drain, drainer};
  const std::vector<int> http_ports = {a.http_port, b.http_port};

  std::vector<Subscriber> subs = {
      {"A:orders.eu", {"orders.eu"}, 0},
      {"A:orders.us", {"orders.us"}, 0},
      {"A:orders.>", {"orders.>"}, 0},
      {"A:>", {">"}, 0},
      {"B:orders.eu", {"orders.eu"}, 1},
      {"B:audit.log", {"audit.log"}, 1},
      {"B:orders.>+audit.log", {"orders.>", "audit.log"}, 1},
      {"B:*.us", {"*.us"}, 1},
  };
  std::vector<std::thread> sub_threads;
  for (Subscriber& s : subs) {
    sub_threads.emplace_back([&s, &http_ports, deadline] { s.Run(http_ports, deadline); });
  }

  Shared shared;
  shared.grpc = {a.grpc, b.grpc};
  std::vector<std::thread> pub_threads;
  for (int i = 0; i < kPublishers; ++i) {
    pub_threads.emplace_back([&shared, i, deadline] { PublisherThread(shared, i, deadline); });
  }
  for (int i = 0; i < kStreamPublishers; ++i) {
    pub_threads.emplace_back(
        [&shared, i, deadline] { StreamPublisherThread(shared, i, deadline); });
  }

  // Under load: the stream leader's node and gateway A die together.
  while (shared.acked.load() < kKillAfterAcks && absl::Now() < deadline) {
    Drain(*a.process, absl::Milliseconds(10));
  }
  const int acked_at_kill = shared.acked.load();
  const absl::Time killed_at = absl::Now();
  cluster.node(leader).Kill();
  const int status = a.process->Signal(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status)) << status;
  std::fprintf(stderr, "killed nats node %s (stream leader) and gateway A after %d acks\n",
               cluster.node(leader).name().c_str(), acked_at_kill);

  // Publishing goes on through B; wait for it, then publish one fence per
  // topic (last in the stream) so subscribers know when they are complete.
  absl::Time resumed_at = absl::InfiniteFuture();
  while (shared.finished.load() < kPublishers) {
    // The acks of requests in flight at the kill may still come in; more
    // than one per publisher means publishing goes on.
    if (resumed_at == absl::InfiniteFuture() &&
        shared.acked.load() > acked_at_kill + kPublishers) {
      resumed_at = absl::Now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll
  }
  for (std::thread& t : pub_threads) t.join();
  const absl::Time published_at = absl::Now();
  {
    std::vector<std::unique_ptr<v1::Publisher::Stub>> stubs;
    stubs.push_back(
        v1::Publisher::NewStub(grpc::CreateChannel(b.grpc, grpc::InsecureChannelCredentials())));
    int gw = 0;
    for (const std::string& t : kTopics) {
      // On failure (reported through shared.errors) the subscribers give
      // up at the deadline.
      if (!PublishUntilAcked(shared, stubs, &gw, t, "fence-" + t, deadline)) break;
    }
  }
  for (std::thread& t : sub_threads) t.join();
  const absl::Time end = absl::Now();
  // A late subscriber on the survivor reads its topics' history back from
  // the stream as it is after the failover (new leader, one replica dead
  // but not yet known to be): a deep replay through JetStream reads, which
  // once stalled here for good (read consumers placed on the dead replica).
  subs.emplace_back("B-late:orders.eu+*.us", std::vector<std::string>{"orders.eu", "*.us"}, 1);
  subs.back().Run(http_ports, deadline);
  const absl::Time late_done = absl::Now();

  // Publishers: every event acknowledged exactly once, ids unique.
  {
    std::lock_guard<std::mutex> lock(shared.mu);
    for (const std::string& e : shared.errors) ADD_FAILURE() << "publisher: " << e;
    ASSERT_EQ(shared.acks.size(), static_cast<size_t>(kPublishers * kEventsPerPublisher +
                                                      shared.stream_acked.load()) +
                                      kTopics.size());
    std::map<uint64_t, std::string> by_id;
    for (const auto& [key, ack] : shared.acks) {
      auto [it, fresh] = by_id.emplace(ack.id, key);
      EXPECT_TRUE(fresh) << key << " and " << it->second << " share id " << ack.id;
    }
  }

  // Subscribers: exactly the acknowledged events of their filter, in id
  // order, each once.
  for (const Subscriber& s : subs) {
    SCOPED_TRACE(s.name);
    EXPECT_TRUE(s.done) << "did not get every fence by the deadline";
    for (const std::string& e : s.errors) ADD_FAILURE() << e;
    std::vector<std::pair<uint64_t, std::string>> want;
    for (const auto& [key, ack] : shared.acks) {
      if (s.Matches(ack.topic)) want.emplace_back(ack.id, key);
    }
    std::sort(want.begin(), want.end());
    for (size_t i = 1; i < s.got.size(); ++i) {
      EXPECT_LT(s.got[i - 1].first, s.got[i].first)
          << "out of order or repeated at " << i << ": " << s.got[i - 1].second << " then "
          << s.got[i].second;
    }
    std::set<std::string> seen;
    for (const auto& [id, data] : s.got) {
      EXPECT_TRUE(seen.insert(data).second) << data << " received twice (id " << id << ")";
    }
    EXPECT_EQ(s.got.size(), want.size());
    if (s.got != want) {
      // Name the first difference instead of dumping both lists.
      size_t i = 0;
      while (i < s.got.size() && i < want.size() && s.got[i] == want[i]) ++i;
      ADD_FAILURE() << "first difference at position " << i << ": got "
                    << (i < s.got.size() ? absl::StrCat(s.got[i].first, " ", s.got[i].second)
                                         : "nothing")
                    << ", want "
                    << (i < want.size() ? absl::StrCat(want[i].first, " ", want[i].second)
                                        : "nothing");
    }
  }

  // The survivor is ready (connected to a live node, commits working). Appends
  // lost with the dead leader time out on B up to 30 s after the crash,
  // which may keep it unready for a while then: wait for it.
  int ready_status = 0;
  std::string ready_body;
  for (const absl::Time until = absl::Now() + absl::Seconds(60);
       ready_status != 200 && absl::Now() < until;) {
    auto ready = HttpFetch("127.0.0.1", b.http_port, "GET", "/readyz");
    ASSERT_TRUE(ready.ok()) << ready.status();
    ready_status = ready->status;
    ready_body = ready->body;
    if (ready_status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));  // poll
  }
  EXPECT_EQ(ready_status, 200) << ready_body;
  const absl::Time ready_at = absl::Now();
  stop_drain = true;
  drainer.join();  // b.process is the test thread's again

  std::vector<std::string> reconnects;
  for (const Subscriber& s : subs) reconnects.push_back(absl::StrCat(s.name, "=", s.reconnects));
  std::fprintf(stderr,
               "failover: %d unary + %d streamed events (+%zu fences) in %.1f s; kill at %.1f s; publishing resumed "
               "%.2f s after the kill; %d retries (%d found the event already stored); all "
               "subscribers complete %.2f s after the last publish; late subscriber read its history "
               "in %.1f s; B ready %.1f s after the kill; reconnects: %s\n",
               kPublishers * kEventsPerPublisher, shared.stream_acked.load(), kTopics.size(),
               absl::ToDoubleSeconds(published_at - start), absl::ToDoubleSeconds(killed_at - start),
               absl::ToDoubleSeconds(resumed_at - killed_at), shared.retries.load(),
               shared.duplicates.load(), absl::ToDoubleSeconds(end - published_at),
               absl::ToDoubleSeconds(late_done - end), absl::ToDoubleSeconds(ready_at - killed_at),
               absl::StrJoin(reconnects, " ").c_str());
  if (HasFailure()) std::fprintf(stderr, "gateway B:\n%s\n", b.process->output().c_str());
}

}  // namespace
}  // namespace tailgate
