#include "gateway/server/config.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gateway/server/config_check.h"
#include "gtest/gtest.h"

namespace tailgate {
namespace {

// ConfigFromFlags with `flags` ("--name=value") set; every flag is back to
// its default afterwards.
absl::StatusOr<ServerConfig> FromFlags(const std::vector<std::string>& flags) {
  absl::FlagSaver saver;
  for (const std::string& arg : flags) {
    std::vector<std::string> parts = absl::StrSplit(arg.substr(2), absl::MaxSplits('=', 1));
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(parts[0]);
    if (flag == nullptr) return absl::NotFoundError("test: no flag " + arg);
    std::string error;
    if (!flag->ParseFrom(parts.size() > 1 ? parts[1] : "true", &error)) {
      return absl::InternalError("test: " + arg + ": " + error);
    }
  }
  return ConfigFromFlags();
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(ConfigFromFlagsTest, DefaultsAreTheStructsDefaults) {
  absl::StatusOr<ServerConfig> got = FromFlags({});
  ASSERT_TRUE(got.ok()) << got.status();
  const Config& c = got->gateway;
  const Config want;
  EXPECT_EQ(got->log.min_level, LogLevel::kInfo);
  EXPECT_FALSE(got->log.json);
  EXPECT_EQ(c.http.listen, want.http.listen);
  EXPECT_EQ(c.grpc.listen, want.grpc.listen);
  EXPECT_EQ(c.store.data_dir, "./tailgate-data");
  EXPECT_EQ(c.store_backend, Config::StoreBackend::kRocksDb);
  EXPECT_EQ(c.store.durability, store::Durability::kFsync);
  EXPECT_EQ(c.store.dedup_window, absl::Minutes(10));
  EXPECT_EQ(c.http.threads, want.http.threads);
  EXPECT_EQ(c.http.max_connections, want.http.max_connections);
  EXPECT_EQ(c.http.header_timeout, want.http.header_timeout);
  EXPECT_EQ(c.http.http2, want.http.http2);
  EXPECT_EQ(c.http.http2_max_streams, want.http.http2_max_streams);
  EXPECT_EQ(c.http.http2_max_resets_per_second, want.http.http2_max_resets_per_second);
  EXPECT_EQ(c.http.write_timeout, want.http.write_timeout);
  EXPECT_EQ(c.sse.retry, want.sse.retry);
  EXPECT_EQ(c.sse.heartbeat, want.sse.heartbeat);
  EXPECT_EQ(c.sse.write_timeout, want.sse.write_timeout);
  EXPECT_EQ(c.sse.tail_cache_events, want.sse.tail_cache_events);
  EXPECT_EQ(c.sse.tail_cache_bytes, want.sse.tail_cache_bytes);
  EXPECT_TRUE(c.sse.cors_origins.empty());
  EXPECT_EQ(c.publish.max_data_bytes, want.publish.max_data_bytes);
  EXPECT_EQ(c.store.max_data_bytes, want.publish.max_data_bytes);
  EXPECT_EQ(c.publish.max_batch_events, want.publish.max_batch_events);
  EXPECT_EQ(c.publish.max_request_bytes, want.publish.max_request_bytes);
  EXPECT_EQ(c.publish.max_inflight_per_stream, want.publish.max_inflight_per_stream);
  EXPECT_EQ(c.publish.memory_budget_bytes, want.publish.memory_budget_bytes);
  EXPECT_EQ(c.publish.http_mode, PublishConfig::HttpMode::kOff);
  EXPECT_EQ(c.ops.admin, want.ops.admin);
  EXPECT_EQ(c.ops.metrics_topics_limit, want.ops.metrics_topics_limit);
  EXPECT_EQ(c.ops.stats_interval, want.ops.stats_interval);
  EXPECT_EQ(c.ops.slow_commit, want.ops.slow_commit);
  EXPECT_EQ(c.ops.drain_grace, want.ops.drain_grace);
  EXPECT_EQ(c.drain_timeout, want.drain_timeout);
  EXPECT_EQ(c.store.default_retention.pattern, ">");
  EXPECT_EQ(c.store.default_retention.max_age, absl::Hours(7 * 24));
  EXPECT_EQ(c.store.default_retention.max_events, 1000000u);
  EXPECT_EQ(c.store.max_total_bytes, uint64_t{10} << 30);
  EXPECT_EQ(c.store.retention_interval, absl::Seconds(10));
  EXPECT_TRUE(c.store.retention_rules.empty());
  EXPECT_FALSE(c.auth.enabled());
  EXPECT_EQ(c.auth.claim, want.auth.claim);
  EXPECT_EQ(c.auth.leeway, want.auth.leeway);
  EXPECT_EQ(c.auth.jwks_refresh, want.auth.jwks_refresh);
  EXPECT_EQ(c.auth.jwks_min_refetch, want.auth.jwks_min_refetch);
  EXPECT_EQ(c.jetstream.stream, "TAILGATE");
  EXPECT_EQ(c.jetstream.subject_prefix, "tailgate");
  EXPECT_EQ(c.jetstream.replicas, 1);
}

struct GoodCase {
  std::vector<std::string> flags;
  std::function<void(const ServerConfig&)> check;
};

TEST(ConfigFromFlagsTest, GoodFlagsSetTheirFields) {
  const std::string secret = WriteFile("secret", "0123456789abcdef0123456789abcdef\r\n");
  const std::vector<GoodCase> cases = {
      {{"--log_level=debug", "--log_json"},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.log.min_level, LogLevel::kDebug);
         EXPECT_TRUE(s.log.json);
       }},
      {{"--log_format=json"}, [](const ServerConfig& s) { EXPECT_TRUE(s.log.json); }},
      {{"--store=jetstream", "--nats_url= nats://a:4222,nats://b:4222 ", "--nats_replicas=3",
        "--data_dir="},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.gateway.store_backend, Config::StoreBackend::kJetStream);
         EXPECT_EQ(s.gateway.jetstream.url, "nats://a:4222,nats://b:4222");
         EXPECT_EQ(s.gateway.jetstream.replicas, 3);
         EXPECT_EQ(s.gateway.jetstream.read_cache_bytes, size_t{256} << 20);
       }},
      {{"--store=jetstream", "--nats_url=nats://a:4222", "--nats_read_cache_bytes=0"},
       [](const ServerConfig& s) { EXPECT_EQ(s.gateway.jetstream.read_cache_bytes, 0u); }},
      {{"--durability=wal", "--dedup_window=0s"},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.gateway.store.durability, store::Durability::kWal);
         EXPECT_EQ(s.gateway.store.dedup_window, absl::ZeroDuration());
       }},
      {{"--max_data_bytes=1024"},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.gateway.publish.max_data_bytes, 1024u);
         EXPECT_EQ(s.gateway.store.max_data_bytes, 1024u);
       }},
      {{"--retry_ms=0", "--cors_origins= https://a.example , ,https://b.example",
        "--cors_credentials"},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.gateway.sse.retry, absl::ZeroDuration());
         EXPECT_EQ(s.gateway.sse.cors_origins,
                   (std::vector<std::string>{"https://a.example", "https://b.example"}));
         EXPECT_TRUE(s.gateway.sse.cors_credentials);
       }},
      {{"--write_timeout=7s"},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.gateway.sse.write_timeout, absl::Seconds(7));
         EXPECT_EQ(s.gateway.http.write_timeout, absl::Seconds(7));
       }},
      {{"--http2=off"}, [](const ServerConfig& s) { EXPECT_FALSE(s.gateway.http.http2); }},
      {{"--http_publish=open", "--publish_cors_origins=*"},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.gateway.publish.http_mode, PublishConfig::HttpMode::kOpen);
         EXPECT_EQ(s.gateway.publish.http_cors_origins, std::vector<std::string>{"*"});
       }},
      {{"--retention=orders.>=7d,metrics.*=1000", "--retention_default_age=0",
        "--retention_max_bytes=0"},
       [](const ServerConfig& s) {
         ASSERT_EQ(s.gateway.store.retention_rules.size(), 2u);
         EXPECT_EQ(s.gateway.store.retention_rules[1].max_events, 1000u);
         EXPECT_EQ(s.gateway.store.default_retention.max_age, absl::ZeroDuration());
         EXPECT_EQ(s.gateway.store.max_total_bytes, 0u);
         EXPECT_EQ(s.retention_text, "orders.>=7d,metrics.*=1000");
       }},
      {{"--auth_subscribe=required", "--http_publish=on", "--auth_publish=required",
        "--jwt_algorithms= HS256 ,RS256", "--jwt_hs256_secret_file=" + secret},
       [](const ServerConfig& s) {
         EXPECT_TRUE(s.gateway.auth.subscribe_required);
         EXPECT_TRUE(s.gateway.auth.publish_required);
         EXPECT_EQ(s.gateway.auth.algorithms, (std::vector<std::string>{"HS256", "RS256"}));
         EXPECT_EQ(s.gateway.auth.hs256_secret, "0123456789abcdef0123456789abcdef");
         EXPECT_EQ(s.gateway.publish.http_mode, PublishConfig::HttpMode::kOn);
       }},
      {{"--grpc_tls_cert=c.pem", "--grpc_tls_key=k.pem", "--grpc_tls_client_ca=ca.pem"},
       [](const ServerConfig& s) {
         EXPECT_EQ(s.gateway.grpc.tls_cert_file, "c.pem");
         EXPECT_EQ(s.gateway.grpc.tls_client_ca_file, "ca.pem");
       }},
      {{"--admin=false", "--metrics_topics", "--metrics_topics_limit=10000",
        "--revocations_file=/r", "--drain_grace=2s"},
       [](const ServerConfig& s) {
         EXPECT_FALSE(s.gateway.ops.admin);
         EXPECT_TRUE(s.gateway.ops.metrics_topics);
         EXPECT_EQ(s.gateway.ops.metrics_topics_limit, 10000u);
         EXPECT_EQ(s.gateway.ops.revocations_file, "/r");
         EXPECT_EQ(s.gateway.ops.drain_grace, absl::Seconds(2));
       }},
  };
  for (const GoodCase& c : cases) {
    absl::StatusOr<ServerConfig> got = FromFlags(c.flags);
    ASSERT_TRUE(got.ok()) << c.flags[0] << ": " << got.status();
    SCOPED_TRACE(c.flags[0]);
    c.check(*got);
  }
}

TEST(ConfigFromFlagsTest, BadFlagsGiveTheirOneMessage) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--log_level=loud"}, "--log_level: ..."},
      {{"--log_format=xml"}, "--log_format must be text or json, got 'xml'"},
      {{"--http_listen="}, "--http_listen must not be empty"},
      {{"--grpc_listen="}, "--grpc_listen must not be empty"},
      {{"--http_threads=-1"}, "--http_threads must be >= 0"},
      {{"--max_connections=0"}, "--max_connections must be >= 1"},
      {{"--http2=maybe"}, "--http2 must be on or off"},
      {{"--http2_max_streams=0"}, "--http2_max_streams must be >= 1"},
      {{"--http2_max_resets=-1"}, "--http2_max_resets must be >= 0"},
      {{"--http_header_timeout=0s"}, "--http_header_timeout must be > 0"},
      {{"--drain_timeout=-1s"}, "--drain_timeout must be >= 0"},
      {{"--store=kafka"}, "--store must be rocksdb or jetstream, got 'kafka'"},
      {{"--store=jetstream"},
       "--store=jetstream needs --nats_url (e.g. --nats_url=nats://127.0.0.1:4222)"},
      {{"--store=jetstream", "--nats_url=nats://n:4222", "--nats_stream=a.b"},
       "--nats_stream must be a non-empty name without spaces, '.', '*', '>', '/' or '\\', got "
       "'a.b'"},
      {{"--store=jetstream", "--nats_url=nats://n:4222", "--nats_stream="},
       "--nats_stream must be a non-empty name without spaces, '.', '*', '>', '/' or '\\', got "
       "''"},
      {{"--store=jetstream", "--nats_url=nats://n:4222", "--nats_subject_prefix=a..b"},
       "--nats_subject_prefix must be a literal NATS subject (tokens joined by '.', no spaces or "
       "wildcards), got 'a..b'"},
      {{"--store=jetstream", "--nats_url=nats://n:4222", "--nats_subject_prefix=a.>"},
       "--nats_subject_prefix must be a literal NATS subject (tokens joined by '.', no spaces or "
       "wildcards), got 'a.>'"},
      {{"--store=jetstream", "--nats_url=nats://n:4222", "--nats_read_cache_bytes=-1"},
       "--nats_read_cache_bytes must be >= 0"},
      {{"--store=jetstream", "--nats_url=nats://n:4222", "--nats_replicas=6"},
       "--nats_replicas must be in [1, 5]"},
      {{"--dedup_window=-1s"}, "--dedup_window must be >= 0"},
      {{"--max_data_bytes=0"}, "--max_data_bytes must be in [1, 1073741824]"},
      {{"--max_data_bytes=1073741825"}, "--max_data_bytes must be in [1, 1073741824]"},
      {{"--max_batch_events=0"}, "--max_batch_events must be >= 1"},
      {{"--max_request_bytes=2147483648"}, "--max_request_bytes must be in [1, 2147483647]"},
      {{"--max_inflight_per_stream=0"}, "--max_inflight_per_stream must be >= 1"},
      {{"--publish_memory_budget=1048575"}, "--publish_memory_budget must be >= 1048576 (1 MiB)"},
      {{"--http_publish=maybe"}, "--http_publish must be off, on or open"},
      {{"--retry_ms=-1"}, "--retry_ms must be >= 0"},
      {{"--heartbeat=0s"}, "--heartbeat must be > 0"},
      {{"--write_timeout=0s"}, "--write_timeout must be > 0"},
      {{"--tail_cache_events=-1"}, "--tail_cache_events and --tail_cache_bytes must be >= 0"},
      {{"--tail_cache_bytes=-5"}, "--tail_cache_events and --tail_cache_bytes must be >= 0"},
      {{"--metrics_topics_limit=0"}, "--metrics_topics_limit must be in [1, 10000]"},
      {{"--metrics_subscribers_limit=10001"}, "--metrics_subscribers_limit must be in [1, 10000]"},
      {{"--metrics_interval=0s"}, "--metrics_interval must be > 0"},
      {{"--slow_commit=-1s"}, "--slow_commit must be >= 0"},
      {{"--drain_grace=-1s"}, "--drain_grace must be >= 0"},
      {{"--retention=orders.>"}, "--retention: 'orders.>': expected PATTERN=LIMIT..."},
      {{"--retention_default_age=week"}, "--retention_default_age: 'week' is not a duration..."},
      {{"--retention_default_events=-1"}, "--retention_default_events must be >= 0"},
      {{"--retention_max_bytes=-1"}, "--retention_max_bytes must be >= 0"},
      {{"--retention_interval=0s"}, "--retention_interval must be > 0"},
      {{"--auth_subscribe=yes"}, "--auth_subscribe must be off or required"},
      {{"--auth_publish=yes"}, "--auth_publish must be off or required"},
      {{"--jwt_hs256_secret_file=/nonexistent/secret"},
       "--jwt_hs256_secret_file=/nonexistent/secret: cannot read"},
      {{"--jwt_public_key_file=/nonexistent/key.pem"},
       "--jwt_public_key_file=/nonexistent/key.pem: cannot read"},
      {{"--jwt_leeway=-1s"}, "--jwt_leeway must be >= 0"},
      {{"--auth_jwks_refresh=500ms"}, "--auth_jwks_refresh must be >= 1s"},
      {{"--auth_jwks_min_refetch=-1s"}, "--auth_jwks_min_refetch must be >= 0"},
      // The rules between flags (config_check.h).
      {{"--cors_origins=https://a.example,*", "--cors_credentials"},
       "--cors_origins=* cannot be combined with --cors_credentials (any site could read a "
       "logged-in user's stream); list the allowed origins instead"},
      {{"--data_dir="}, "--data_dir must not be empty"},
      {{"--auth_subscribe=required"},
       "--jwt_algorithms is required when --auth_subscribe or --auth_publish is required"},
      {{"--http_tls_cert=c.pem"}, "--http_tls_cert and --http_tls_key must be given together"},
      {{"--http_tls_key=k.pem"}, "--http_tls_cert and --http_tls_key must be given together"},
      {{"--grpc_tls_key=k.pem"}, "--grpc_tls_cert and --grpc_tls_key must be given together"},
      {{"--grpc_tls_client_ca=ca.pem"},
       "--grpc_tls_client_ca needs --grpc_tls_cert and --grpc_tls_key"},
      {{"--http_publish=on"},
       "--http_publish=on checks tokens like gRPC publishing: it needs --auth_publish=required "
       "and a JWT configuration (--jwt_*); --http_publish=open accepts anyone"},
      {{"--auth_jwks_url=https://idp.example/jwks"},
       "--auth_jwks_file / --auth_jwks_url need --auth_subscribe or --auth_publish=required"},
  };
  for (const auto& [flags, message] : cases) {
    SCOPED_TRACE(flags[0]);
    absl::StatusOr<ServerConfig> got = FromFlags(flags);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string text(got.status().message());
    if (absl::EndsWith(message, "...")) {  // The rest is another module's wording.
      EXPECT_EQ(text.substr(0, message.size() - 3), message.substr(0, message.size() - 3));
    } else {
      EXPECT_EQ(text, message);
    }
  }
}

// A Config made by hand (tests, embedders) meets the same rules at
// Gateway::Start.
TEST(CheckConfigTest, AppliesToAConfigMadeByHand) {
  Config c;  // store::Options has no data dir of its own.
  EXPECT_EQ(CheckConfig(c).message(), "--data_dir must not be empty");
  c.store.data_dir = "/d";
  EXPECT_TRUE(CheckConfig(c).ok());
  c.store.data_dir.clear();
  c.store_backend = Config::StoreBackend::kJetStream;  // No data dir on JetStream.
  EXPECT_TRUE(CheckConfig(c).ok());
  c.grpc.tls_cert_file = "c.pem";
  EXPECT_EQ(CheckConfig(c).message(), "--grpc_tls_cert and --grpc_tls_key must be given together");
  c.grpc.tls_key_file = "k.pem";
  c.grpc.tls_client_ca_file = "ca.pem";
  EXPECT_TRUE(CheckConfig(c).ok());
  c.auth.jwks_file = "jwks.json";
  EXPECT_EQ(CheckConfig(c).code(), absl::StatusCode::kInvalidArgument);
  c.auth.publish_required = true;
  c.auth.algorithms = {"RS256"};
  EXPECT_TRUE(CheckConfig(c).ok());
}

}  // namespace
}  // namespace tailgate
