// Static files compiled into the binary (the demo page works offline, with no CDN).
#ifndef TAILGATE_GATEWAY_WEB_ASSETS_H_
#define TAILGATE_GATEWAY_WEB_ASSETS_H_

#include <string_view>

namespace tailgate {

// gateway/web/demo.html: pick topics, watch events live over EventSource.
std::string_view DemoPageHtml();
// gateway/web/tailgate.js: the browser client module, served at /v1/tailgate.js.
std::string_view TailgateJs();

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_WEB_ASSETS_H_
