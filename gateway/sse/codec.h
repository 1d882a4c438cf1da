// Server-Sent Events wire format (WHATWG HTML, "server-sent events"):
// frames and the reserved events' frames, plus the query-string decoding the
// SSE endpoint needs. Resume points and resets are transport-neutral
// (gateway/core/resume.h).
//
// All functions are pure and thread-safe.
#ifndef TAILGATE_GATEWAY_SSE_CODEC_H_
#define TAILGATE_GATEWAY_SSE_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/core/resume.h"

namespace tailgate {

// The caught-up marker's frame (kLiveEventType):
// "event: tailgate.live\ndata: {\"id\":N}\n\n" with N the watermark it
// reports.
std::string EncodeLiveFrame(uint64_t live_at);

// "id: <id>\nevent: <type>\ndata: <line>\n...\n\n". `type` may be empty (no
// event: line). `data` is split on CRLF, CR and LF so that an EventSource
// reassembles the same lines joined by LF; empty data still yields one
// "data:" line so the event is dispatched.
std::string EncodeSseFrame(uint64_t id, std::string_view type, std::string_view data);
void AppendSseFrame(uint64_t id, std::string_view type, std::string_view data, std::string* out);

// The reset event: its id is reset.resume, so a client that reconnects after
// it resumes from there.
std::string EncodeResetFrame(const Reset& reset);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SSE_CODEC_H_
