#include "tests/testing/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"

namespace tailgate::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

absl::StatusOr<HttpResult> HttpFetch(
    const std::string& host, int port, const std::string& method, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address(host), static_cast<uint16_t>(port)), ec);
  if (ec) return absl::UnavailableError("connect: " + ec.message());
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req, ec);
  if (ec) return absl::UnavailableError("write: " + ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res, ec);
  if (ec) return absl::UnavailableError("read: " + ec.message());
  HttpResult out;
  out.status = res.result_int();
  for (const auto& field : res) {
    out.headers[absl::AsciiStrToLower(
        absl::string_view(field.name_string().data(), field.name_string().size()))] =
        std::string(field.value());
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace tailgate::testing
