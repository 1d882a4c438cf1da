// TLS on both listeners with a test-made CA: HTTPS (plain requests and an SSE
// stream), gRPC over TLS, and mutual TLS refusing clients without a
// certificate from the configured CA.
#include <memory>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/security/security_testing.h"
#include "tests/sse/sse_testing.h"
#include "tests/testing/http_client.h"

namespace tailgate::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(MakePki(MakeTempDir("pki"))); }
  static void TearDownTestSuite() { delete pki_; }

  std::unique_ptr<Gateway> Start(bool mutual) {
    Config c = SseTestConfig();
    c.http.tls_cert_file = pki_->server_cert;
    c.http.tls_key_file = pki_->server_key;
    c.grpc.tls_cert_file = pki_->server_cert;
    c.grpc.tls_key_file = pki_->server_key;
    if (mutual) c.grpc.tls_client_ca_file = pki_->ca_cert;
    return StartGateway(c);
  }

  // A verifying HTTPS client on a fresh connection.
  struct HttpsClient {
    net::io_context ioc;
    ssl::context ctx{ssl::context::tls_client};
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
    beast::flat_buffer buffer;

    beast::error_code Connect(int port) {
      ctx.load_verify_file(pki_->ca_cert);
      ctx.set_verify_mode(ssl::verify_peer);
      stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, ctx);
      SSL_set_tlsext_host_name(stream->native_handle(), "localhost");
      stream->set_verify_callback(ssl::host_name_verification("localhost"));
      beast::error_code ec;
      beast::get_lowest_layer(*stream).connect(
          tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
      if (!ec) stream->handshake(ssl::stream_base::client, ec);
      return ec;
    }
    void Send(const std::string& target) {
      http::request<http::empty_body> req{http::verb::get, target, 11};
      req.set(http::field::host, "localhost");
      http::write(*stream, req);
    }
  };

  static Pki* pki_;
};

Pki* TlsTest::pki_ = nullptr;

TEST_F(TlsTest, HttpsServesRequestsAndStreams) {
  std::unique_ptr<Gateway> gw = Start(false);
  ASSERT_NE(gw, nullptr);
  HttpsClient client;
  ASSERT_FALSE(client.Connect(gw->http_port())) << "handshake";
  client.Send("/healthz");
  http::response<http::string_body> res;
  http::read(*client.stream, client.buffer, res);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "ok\n");
  // Same connection (keep-alive), now an SSE stream.
  client.Send("/v1/events?topic=orders.>");
  http::response_parser<http::buffer_body> parser;
  http::read_header(*client.stream, client.buffer, parser);
  EXPECT_EQ(parser.get().result_int(), 200);
  EXPECT_EQ(parser.get()[http::field::content_type], "text/event-stream");
  Publish(*gw, "orders.eu", "over-tls");
  std::string body;
  char buf[4096];
  while (body.find("data: over-tls\n") == std::string::npos) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof(buf);
    beast::error_code ec;
    http::read_some(*client.stream, client.buffer, parser, ec);
    ASSERT_TRUE(!ec || ec == http::error::need_buffer) << ec.message();
    body.append(buf, sizeof(buf) - parser.get().body().size);
  }
}

TEST_F(TlsTest, PlaintextClientGetsNoHttpFromTheTlsPort) {
  std::unique_ptr<Gateway> gw = Start(false);
  ASSERT_NE(gw, nullptr);
  absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw->http_port(), "GET", "/healthz");
  EXPECT_TRUE(!r.ok() || r->status != 200);
  // And the server still serves TLS clients afterwards.
  HttpsClient client;
  EXPECT_FALSE(client.Connect(gw->http_port()));
}

TEST_F(TlsTest, ClientRejectsAServerItDoesNotTrust) {
  std::unique_ptr<Gateway> gw = Start(false);
  ASSERT_NE(gw, nullptr);
  net::io_context ioc;
  ssl::context other(ssl::context::tls_client);
  other.load_verify_file(pki_->rogue_cert);  // Trusts some other CA only.
  other.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> s(ioc, other);
  beast::get_lowest_layer(s).connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), gw->http_port()));
  beast::error_code ec;
  s.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec) << "a certificate from another CA must not verify";
}

v1::PublishRequest Event() {
  v1::PublishRequest r;
  r.set_topic("orders.1");
  r.set_data("x");
  return r;
}

std::shared_ptr<grpc::Channel> TlsChannel(const Gateway& gw, const Pki& pki,
                                          const std::string& cert = "",
                                          const std::string& key = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileOrDie(pki.ca_cert);
  if (!cert.empty()) {
    options.pem_cert_chain = ReadFileOrDie(cert);
    options.pem_private_key = ReadFileOrDie(key);
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(gw.grpc_address(), grpc::SslCredentials(options), args);
}

grpc::Status PublishOnce(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Publisher::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::PublishResponse res;
  return stub->Publish(&ctx, Event(), &res);
}

TEST_F(TlsTest, GrpcOverTls) {
  std::unique_ptr<Gateway> gw = Start(false);
  ASSERT_NE(gw, nullptr);
  grpc::Status s = PublishOnce(TlsChannel(*gw, *pki_));
  EXPECT_TRUE(s.ok()) << s.error_message();
  // A plaintext client cannot talk to the TLS port.
  s = PublishOnce(grpc::CreateChannel(gw->grpc_address(), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutAValidCertificate) {
  std::unique_ptr<Gateway> gw = Start(true);
  ASSERT_NE(gw, nullptr);
  grpc::Status s = PublishOnce(TlsChannel(*gw, *pki_));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << "no client certificate";
  s = PublishOnce(TlsChannel(*gw, *pki_, pki_->rogue_cert, pki_->rogue_key));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << "self-signed client certificate";
  s = PublishOnce(TlsChannel(*gw, *pki_, pki_->client_cert, pki_->client_key));
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TlsTest, UnusableCertificateFailsStart) {
  Config c = SseTestConfig();
  c.http.tls_cert_file = pki_->dir + "/missing.pem";
  c.http.tls_key_file = pki_->server_key;
  absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(c);
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(gw.status().message().find("--http_tls_cert"), absl::string_view::npos);
  c = SseTestConfig();
  c.grpc.tls_cert_file = pki_->server_cert;
  c.grpc.tls_key_file = pki_->dir + "/missing.key";
  gw = Gateway::Start(c);
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(gw.status().message().find("--grpc_tls_key"), absl::string_view::npos);
}

}  // namespace
}  // namespace tailgate::testing
