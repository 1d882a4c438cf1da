#include "gateway/sse/codec.h"

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"

namespace tailgate {

namespace {


}  // namespace

void AppendSseFrame(uint64_t id, std::string_view type, std::string_view data, std::string* out) {
  absl::StrAppend(out, "id: ", id, "\n");
  if (!type.empty()) absl::StrAppend(out, "event: ", AbslView(type), "\n");
  // One data: line per line; CRLF, CR and LF all end a line (as the SSE
  // parser treats them), so each is re-emitted as a line break.
  size_t start = 0;
  while (true) {
    size_t end = data.find_first_of("\r\n", start);
    out->append("data: ");
    if (end == std::string_view::npos) {
      out->append(data.data() + start, data.size() - start);
      out->push_back('\n');
      break;
    }
    out->append(data.data() + start, end - start);
    out->push_back('\n');
    start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
  }
  out->push_back('\n');
}

std::string EncodeSseFrame(uint64_t id, std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(data.size() + type.size() + 48);
  AppendSseFrame(id, type, data, &out);
  return out;
}

std::string EncodeResetFrame(const Reset& reset) {
  return EncodeSseFrame(reset.resume, kResetEventType, ResetJson(reset));
}

std::string EncodeLiveFrame(uint64_t live_at) {
  return absl::StrCat("event: ", AbslView(kLiveEventType), "\ndata: ", LiveJson(live_at), "\n\n");
}

}  // namespace tailgate
