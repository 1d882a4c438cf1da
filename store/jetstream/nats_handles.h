// Owning wrappers for the NATS C client's objects. Internal to store/.
#ifndef TAILGATE_STORE_JETSTREAM_NATS_HANDLES_H_
#define TAILGATE_STORE_JETSTREAM_NATS_HANDLES_H_

#include <nats/nats.h>

#include <memory>

namespace tailgate::store::internal {

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;
struct InfoDeleter {
  void operator()(jsStreamInfo* i) const { jsStreamInfo_Destroy(i); }
};
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, InfoDeleter>;
struct SubDeleter {
  void operator()(natsSubscription* s) const { natsSubscription_Destroy(s); }
};
using SubPtr = std::unique_ptr<natsSubscription, SubDeleter>;

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_JETSTREAM_NATS_HANDLES_H_
