#include "gateway/diag/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tailgate {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndHistograms) {
  MetricsRegistry r;
  r.GetCounter("tg_publish_total", "Publishes by result.", {{"result", "ok"}})->Increment(3);
  r.GetCounter("tg_publish_total", "Publishes by result.", {{"result", "invalid"}})->Increment();
  r.GetGauge("tg_connections", "Open SSE connections.")->Set(7);
  Histogram* h = r.GetHistogram("tg_commit_seconds", "Commit latency.", {0.001, 0.01});
  h->Observe(0.0005);
  h->Observe(0.005);
  h->Observe(1);
  r.AddCallbackGauge("tg_watermark", "Highest durable id.", [] { return 42.0; });
  EXPECT_EQ(r.Render(),
            "# HELP tg_commit_seconds Commit latency.\n"
            "# TYPE tg_commit_seconds histogram\n"
            "tg_commit_seconds_bucket{le=\"0.001\"} 1\n"
            "tg_commit_seconds_bucket{le=\"0.01\"} 2\n"
            "tg_commit_seconds_bucket{le=\"+Inf\"} 3\n"
            "tg_commit_seconds_sum 1.0055\n"
            "tg_commit_seconds_count 3\n"
            "# HELP tg_connections Open SSE connections.\n"
            "# TYPE tg_connections gauge\n"
            "tg_connections 7\n"
            "# HELP tg_publish_total Publishes by result.\n"
            "# TYPE tg_publish_total counter\n"
            "tg_publish_total{result=\"invalid\"} 1\n"
            "tg_publish_total{result=\"ok\"} 3\n"
            "# HELP tg_watermark Highest durable id.\n"
            "# TYPE tg_watermark gauge\n"
            "tg_watermark 42\n");
}

TEST(MetricsTest, EscapesLabelValues) {
  MetricsRegistry r;
  r.GetCounter("tg_x_total", "x", {{"topic", "a\"b\\c\nd"}})->Increment();
  EXPECT_NE(r.Render().find("tg_x_total{topic=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
      << r.Render();
}

TEST(MetricsTest, SameNameAndLabelsReturnSameMetric) {
  MetricsRegistry r;
  Counter* a = r.GetCounter("tg_a_total", "a", {{"k", "v"}});
  EXPECT_EQ(a, r.GetCounter("tg_a_total", "a", {{"k", "v"}}));
  EXPECT_NE(a, r.GetCounter("tg_a_total", "a", {{"k", "w"}}));
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry r;
  Counter* c = r.GetCounter("tg_c_total", "c");
  Histogram* h = r.GetHistogram("tg_h", "h", ExponentialBuckets(1, 2, 4));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c->Increment();
        h->Observe(3);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->value(), 400000u);
  EXPECT_EQ(h->Take().count, 400000u);
  EXPECT_EQ(h->Take().cumulative[1], 0u);  // le=2
  EXPECT_EQ(h->Take().cumulative[2], 400000u);  // le=4
}

// The exposition must satisfy Prometheus' own linter.
TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  const char* promtool = "/usr/bin/promtool";
  if (std::FILE* f = std::fopen(promtool, "r")) {
    std::fclose(f);
  } else {
    GTEST_FAIL() << "promtool missing: run bazel/setup (Debian package prometheus)";
  }
  MetricsRegistry r;
  r.GetCounter("tg_publish_total", "Publishes by result.", {{"result", "ok"}})->Increment(3);
  r.GetGauge("tg_connections", "Open SSE connections.")->Set(7);
  r.GetHistogram("tg_commit_seconds", "Commit latency.", ExponentialBuckets(0.0001, 4, 8))
      ->Observe(0.002);
  r.AddCallbackGaugeFamily("tg_topic_events", "Retained events per topic.", [] {
    return std::vector<std::pair<Labels, double>>{{{{"topic", "orders.eu"}}, 12}};
  });
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/metrics.txt";
  std::ofstream(path) << r.Render();
  const std::string cmd = std::string(promtool) + " check metrics < " + path + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "") << out;
}

}  // namespace
}  // namespace tailgate
