// Static files compiled into the binary (the demo page works offline, with no CDN).
#ifndef TAILGATE_GATEWAY_WEB_ASSETS_H_
#define TAILGATE_GATEWAY_WEB_ASSETS_H_

#include <string_view>

namespace tailgate {

// gateway/web/demo.html: pick topics, watch events live over EventSource.
std::string_view DemoPageHtml();

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_WEB_ASSETS_H_
