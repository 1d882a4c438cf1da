// A pull consumer that lives for one read and is deleted after it.
//
// Thread-compatible: one reader uses it at a time; the NATS connection it
// is given must outlive it.
#ifndef TAILGATE_STORE_JETSTREAM_PULL_CONSUMER_H_
#define TAILGATE_STORE_JETSTREAM_PULL_CONSUMER_H_

#include <nats/nats.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "store/jetstream_log.h"

namespace tailgate::store::internal {

// Longest wait for a read's pull consumer to be created (it takes
// milliseconds when it works).
inline constexpr int64_t kCreateConsumerWaitMillis = 500;
// A fetch only waits when messages vanished (retention) between counting and
// fetching; this bounds that wait.
inline constexpr int64_t kFetchExpiresNanos = 1'000'000'000;

class ScopedPullConsumer {
 public:
  ScopedPullConsumer(natsConnection* nc, jsCtx* js, const std::string& stream)
      : nc_(nc), js_(js), stream_(stream) {}
  ~ScopedPullConsumer() {
    if (sub_ != nullptr) natsSubscription_Destroy(sub_);
    if (name_.empty()) return;
    // Fire and forget: the read does not wait a round trip for the answer.
    // A delete that gets lost leaves the consumer to InactiveThreshold.
    const std::string api = absl::StrCat("$JS.API.CONSUMER.DELETE.", stream_, ".", name_);
    if (natsConnection_Publish(nc_, api.c_str(), nullptr, 0) != NATS_OK) {
      js_DeleteConsumer(js_, stream_.c_str(), name_.c_str(), nullptr, nullptr);
    }
  }

  // Creates it on `subject`; *pending is the number of matching messages.
  absl::Status Create(const std::string& subject, jsDeliverPolicy policy, uint64_t start_seq,
                      int64_t start_time_nanos, bool headers_only, uint64_t* pending,
                      bool unfiltered = false) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.DeliverPolicy = policy;
    if (policy == js_DeliverByStartSequence) cc.OptStartSeq = std::max<uint64_t>(start_seq, 1);
    if (policy == js_DeliverByStartTime) cc.OptStartTime = start_time_nanos;
    cc.AckPolicy = js_AckNone;
    if (!unfiltered) cc.FilterSubject = subject.c_str();
    cc.HeadersOnly = headers_only;
    cc.MemoryStorage = true;
    cc.Replicas = 1;
    // Removed by the server if this process dies before deleting it.
    cc.InactiveThreshold = 30'000'000'000;
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    // A bounded wait: a consumer placed on a crashed replica never answers
    // (see FetchRange), and the read falls back to direct gets after it.
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = kCreateConsumerWaitMillis;
    natsStatus s = js_AddConsumer(&ci, js_, stream_.c_str(), &cc, &o, &jerr);
    if (s != NATS_OK) return FromNats(s, jerr, absl::StrCat("creating a reader on ", subject));
    name_ = ci->Name;
    *pending = ci->NumPending;
    jsConsumerInfo_Destroy(ci);
    if (*pending == 0) return absl::OkStatus();
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.Consumer = name_.c_str();
    so.Config = cc;  // binding checks that the settings agree
    so.Config.Name = name_.c_str();
    s = js_PullSubscribe(&sub_, js_, subject.c_str(), nullptr, nullptr, &so, &jerr);
    if (s != NATS_OK) return FromNats(s, jerr, absl::StrCat("reading ", subject));
    return absl::OkStatus();
  }

  // Fetches up to `batch` messages that are known to exist.
  absl::Status Fetch(int batch, natsMsgList* list) {
    jsFetchRequest fr;
    jsFetchRequest_Init(&fr);
    fr.Batch = batch;
    fr.NoWait = true;
    fr.Expires = kFetchExpiresNanos;
    natsStatus s = natsSubscription_FetchRequest(list, sub_, &fr);
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) return absl::OkStatus();  // fewer than expected
    if (s != NATS_OK) return FromNats(s, 0, "fetching events");
    return absl::OkStatus();
  }

 private:
  natsConnection* const nc_;
  jsCtx* const js_;
  const std::string stream_;
  std::string name_;
  natsSubscription* sub_ = nullptr;
};

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_JETSTREAM_PULL_CONSUMER_H_
