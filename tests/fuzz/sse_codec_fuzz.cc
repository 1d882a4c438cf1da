// The SSE encoder (gateway/sse/codec.h), checked by decoding its output with
// an independent parser written here from the WHATWG HTML "server-sent
// events" parsing rules (9.2.6): what comes out equals what went in, and no
// input yields extra fields or events.
//
// Input: chunks separated by 0xFF (never in UTF-8 data). Each chunk is one
// event: a selector byte (bit 0: a heartbeat comment follows it, bit 1: a
// reset event follows it), then its type up to the first '\n', then its
// data. Events whose type or data the publish path would refuse
// (store/topic.h) are skipped, like the server would never encode them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/sse/codec.h"
#include "store/topic.h"
#include "tests/fuzz/fuzz_util.h"

using namespace tailgate::fuzz;  // NOLINT: a fuzz target's only code

namespace {

struct Event {
  std::string id;
  std::string type;
  std::string data;
};

struct Decoded {
  std::vector<Event> events;
  std::vector<std::string> retries;
  std::vector<std::string> other_fields;  // Anything but id/event/data/retry.
  int comments = 0;
  bool bad_event_fields = false;  // An event with a repeated id/event field.
};

// WHATWG "Interpreting an event stream", for a UTF-8 stream.
Decoded Parse(std::string_view stream) {
  Decoded out;
  if (stream.substr(0, 3) == "\xEF\xBB\xBF") stream.remove_prefix(3);
  std::string data_buf, type_buf, last_id;
  int ids = 0, types = 0;
  size_t pos = 0;
  while (pos < stream.size()) {
    // A plain scan: find_first_of calls memchr per byte, which ASan
    // intercepts, and that alone made this the slowest part of the target.
    size_t eol = pos;
    while (eol < stream.size() && stream[eol] != '\r' && stream[eol] != '\n') ++eol;
    if (eol == stream.size()) break;  // An unterminated line is never processed.
    const std::string_view line = stream.substr(pos, eol - pos);
    pos = eol + ((stream[eol] == '\r' && eol + 1 < stream.size() && stream[eol + 1] == '\n') ? 2 : 1);
    if (line.empty()) {  // Dispatch.
      if (ids > 1 || types > 1) out.bad_event_fields = true;
      ids = types = 0;
      if (data_buf.empty()) {
        type_buf.clear();
        continue;
      }
      data_buf.pop_back();  // The trailing LF.
      out.events.push_back(Event{last_id, type_buf.empty() ? "message" : type_buf, data_buf});
      data_buf.clear();
      type_buf.clear();
      continue;
    }
    if (line[0] == ':') {
      ++out.comments;
      continue;
    }
    const size_t colon = line.find(':');
    std::string_view field = line, value;
    if (colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    }
    if (field == "event") {
      type_buf = std::string(value);
      ++types;
    } else if (field == "data") {
      data_buf.append(value);
      data_buf.push_back('\n');
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) last_id = std::string(value);
      ++ids;
    } else if (field == "retry") {
      out.retries.emplace_back(value);
    } else {
      out.other_fields.emplace_back(field);
    }
  }
  FUZZ_CHECK(pos == stream.size());  // The encoder ends every line.
  FUZZ_CHECK(data_buf.empty() && type_buf.empty());  // ...and every event.
  return out;
}

// What an EventSource delivers for `data`: CRLF, CR and LF each become LF.
std::string Normalized(std::string_view data) {
  std::string out;
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
    } else {
      out.push_back(data[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(bytes), size);
  std::string stream = "retry: 3000\n\n";  // As the server starts every stream.
  // Most inputs encode to a few times their size: grow once, not per event.
  stream.reserve(64 + 4 * in.size());
  std::vector<Event> want;
  uint64_t id = 0;
  size_t start = 0;
  while (start <= in.size()) {
    size_t end = in.find('\xFF', start);
    if (end == std::string_view::npos) end = in.size();
    std::string_view chunk = in.substr(start, end - start);
    start = end + 1;
    if (chunk.empty()) continue;
    const uint8_t selector = static_cast<uint8_t>(chunk[0]);
    chunk.remove_prefix(1);
    const size_t nl = chunk.find('\n');
    const std::string_view type = nl == std::string_view::npos ? std::string_view() : chunk.substr(0, nl);
    const std::string_view data = nl == std::string_view::npos ? chunk : chunk.substr(nl + 1);
    // Ids: strictly increasing, some of them large.
    id += 1 + (uint64_t{selector} << (selector % 57));
    if ((type.empty() || tailgate::store::ValidateType(type).ok()) &&
        tailgate::store::ValidateData(data, size_t{1} << 20).ok()) {
      // Both encoders, compared where the appended frame landed (one
      // EncodeSseFrame call: it is the costly part of an iteration).
      const size_t before = stream.size();
      tailgate::AppendSseFrame(id, type, data, &stream);
      FUZZ_CHECK(std::string_view(stream).substr(before) == tailgate::EncodeSseFrame(id, type, data));
      want.push_back(Event{std::to_string(id), type.empty() ? "message" : std::string(type),
                           Normalized(data)});
    }
    if (selector & 1) stream += ": hb\n\n";
    if (selector & 2) {
      tailgate::Reset reset;
      reset.reason = (selector & 4) ? tailgate::Reset::Reason::kUnknownId
                                    : tailgate::Reset::Reason::kTrimmed;
      reset.requested = id / 2;
      reset.resume = id;
      stream += tailgate::EncodeResetFrame(reset);
      want.push_back(Event{std::to_string(id), std::string(tailgate::kResetEventType),
                           tailgate::ResetJson(reset)});
    }
  }

  const Decoded got = Parse(stream);
  FUZZ_CHECK(got.other_fields.empty());
  FUZZ_CHECK(!got.bad_event_fields);
  FUZZ_CHECK(got.retries.size() == 1 && got.retries[0] == "3000");
  FUZZ_CHECK(got.events.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    FUZZ_CHECK(got.events[i].id == want[i].id);
    FUZZ_CHECK(got.events[i].type == want[i].type);
    FUZZ_CHECK(got.events[i].data == want[i].data);
  }
  return 0;
}
