// Internal to gateway/http: serving one accepted connection for HttpServer.
//
// The connection stays silent (not counted against max_connections, held in
// the tracker's silent pool) until its first byte, then takes a slot, does
// the TLS handshake if any, and either hands itself to an HTTP/2 session
// (ALPN h2, or the plaintext preface) or reads HTTP/1.1 requests until one
// is handed to a stream route, the peer closes, a limit is hit or the server
// drains. See http_server.h for the behaviour clients see.
#ifndef TAILGATE_GATEWAY_HTTP_HTTP_SESSION_H_
#define TAILGATE_GATEWAY_HTTP_HTTP_SESSION_H_

#include <memory>

#include "gateway/config.h"
#include "gateway/http/http_server.h"
#include "gateway/http/http_stream.h"

namespace tailgate {

namespace http2 {
struct H2Counts;
}  // namespace http2

// Starts serving `stream` on its executor (the connection's strand) and
// returns at once; the session owns itself through its pending operations.
// `config` must outlive the session (HttpServer's does: Stop joins the event
// loop first). Thread-safe: call from any thread.
void StartHttpSession(HttpStream stream, const HttpConfig& config,
                      std::shared_ptr<const HttpRouter> router,
                      std::shared_ptr<ConnectionSlot::Tracker> tracker,
                      std::shared_ptr<http2::H2Counts> h2_counts);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_HTTP_SESSION_H_
