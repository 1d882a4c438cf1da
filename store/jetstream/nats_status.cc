#include <nats/nats.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/jetstream_log.h"

namespace tailgate::store {

namespace {


std::string NatsErrorText(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  std::string out = natsStatus_GetText(s);
  if (text != nullptr && *text != '\0') absl::StrAppend(&out, ": ", text);
  return out;
}


}  // namespace

absl::Status FromNats(int status, int js_error_code, std::string_view what) {
  const natsStatus s = static_cast<natsStatus>(status);
  std::string msg = absl::StrCat(AbslView(what), ": ", NatsErrorText(s));
  if (js_error_code != 0) absl::StrAppend(&msg, " (JetStream error ", js_error_code, ")");
  switch (js_error_code) {
    case JSStreamNotFoundErr:
    case JSConsumerNotFoundErr:
    case JSNoMessageFoundErr:
      return absl::NotFoundError(msg);
    case JSInsufficientResourcesErr:
    case JSStorageResourcesExceededErr:
    case JSMemoryResourcesExceededErr:
      return absl::ResourceExhaustedError(msg);
    case JSClusterNoPeersErr:
    case JSStreamReplicasNotSupportedErr:
    case JSStreamReplicasNotUpdatableErr:
    case JSStreamNameExistErr:
      return absl::FailedPreconditionError(msg);
    default:
      break;
  }
  switch (s) {
    case NATS_OK:
      return absl::OkStatus();
    case NATS_NOT_FOUND:
      return absl::NotFoundError(msg);
    case NATS_TIMEOUT:
    case NATS_NO_SERVER:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
    case NATS_DRAINING:
    case NATS_SLOW_CONSUMER:
      return absl::UnavailableError(msg);
    case NATS_MAX_PAYLOAD:
      return absl::ResourceExhaustedError(msg);
    case NATS_INVALID_ARG:
      return absl::InvalidArgumentError(msg);
    case NATS_NO_MEMORY:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string JetStreamMsgId(std::string_view topic, std::string_view key) {
  // Keys are printable ASCII without blanks, so they survive as a header
  // value unchanged.
  return absl::StrCat(AbslView(topic), "|", AbslView(key));
}

}  // namespace tailgate::store
