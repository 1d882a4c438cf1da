// Test support: a blocking Server-Sent Events client over loopback
// (Boost.Beast), parsing the stream exactly as the WHATWG HTML spec's
// EventSource does (lines end at CRLF, LF or CR; "field: value" with one
// leading space stripped; a blank line dispatches; comments start with ':').
//
// Not thread-safe: one thread drives a client.
#ifndef TAILGATE_TESTS_TESTING_SSE_CLIENT_H_
#define TAILGATE_TESTS_TESTING_SSE_CLIENT_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tailgate::testing {

// A dispatched event, as an EventSource's MessageEvent would show it.
struct SseEvent {
  std::string type;           // "message" when the stream named none.
  std::string data;           // Lines joined by '\n'.
  std::string last_event_id;  // The stream's last event id at dispatch.
};

class SseClient {
 public:
  // Connects, sends `GET target` with `headers`, and reads the response head.
  // A non-200 response is returned as a client with status() != 200 and the
  // whole body in body().
  static absl::StatusOr<std::unique_ptr<SseClient>> Connect(
      const std::string& host, int port, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers = {},
      absl::Duration timeout = absl::Seconds(10));
  ~SseClient();

  int status() const { return status_; }
  // Response headers, lower-case names.
  const std::map<std::string, std::string>& headers() const { return headers_; }
  std::string header(const std::string& lower_name) const;
  const std::string& body() const { return body_; }

  // The next dispatched event. DEADLINE_EXCEEDED after `timeout`;
  // OUT_OF_RANGE when the server ended the stream (cleanly or not; see
  // clean_end()).
  absl::StatusOr<SseEvent> Next(absl::Duration timeout = absl::Seconds(10));
  // Reads until a comment line arrives (heartbeats); returns its text
  // without the ':'.
  absl::StatusOr<std::string> NextComment(absl::Duration timeout = absl::Seconds(10));

  // Every body byte received so far (after chunked decoding).
  const std::string& raw() const { return raw_; }
  // The last "retry:" value, if any.
  std::optional<int64_t> retry_ms() const { return retry_ms_; }
  const std::string& last_event_id() const { return last_event_id_; }
  // True when the stream ended with the HTTP terminating chunk.
  bool clean_end() const { return clean_end_; }
  // Comments seen so far, in order.
  const std::vector<std::string>& comments() const { return comments_; }

  // Closes the connection at once.
  void Close();

  struct Impl;

 private:
  SseClient();
  // Reads more body bytes into the parser. false at end of stream.
  absl::Status ReadMore(absl::Time deadline);
  // Parses complete lines; returns true when an event was dispatched.
  void ParseLines();

  std::unique_ptr<Impl> impl_;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  std::string body_;
  std::string raw_;
  std::string pending_;  // Unparsed text (an incomplete line).
  size_t comments_consumed_ = 0;
  // Parser state (WHATWG).
  std::string data_buf_;
  std::string type_buf_;
  std::string last_event_id_;
  std::optional<int64_t> retry_ms_;
  std::deque<SseEvent> ready_;
  std::vector<std::string> comments_;
  bool ended_ = false;
  bool clean_end_ = false;
  bool first_line_ = true;
};

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_SSE_CLIENT_H_
