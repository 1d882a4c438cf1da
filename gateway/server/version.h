// The tailgate version, logged at start and exported as tailgate_build_info.
#ifndef TAILGATE_GATEWAY_SERVER_VERSION_H_
#define TAILGATE_GATEWAY_SERVER_VERSION_H_

namespace tailgate {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SERVER_VERSION_H_
