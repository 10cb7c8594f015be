// custos-web's Cookie header parsing: the input is the header's value as a
// browser (or anyone) sends it. The session id that comes out is either
// nothing or exactly what RandomToken makes, and is the cookie's value; a
// value the header check lets through holds no control character.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "clients/web/web_security.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view header(reinterpret_cast<const char*>(data), size);
  const std::string id = custos::web::SessionIdFromCookies(header);
  if (!id.empty()) {
    if (id.size() != 64 ||
        id.find_first_not_of("0123456789abcdef") != std::string::npos) {
      std::abort();
    }
    if (custos::web::CookieValue(header, custos::web::kSessionCookie) != id) {
      std::abort();
    }
  }
  if (custos::web::ValidateHeaderValue("Cookie", header).ok()) {
    for (unsigned char c : header) {
      if ((c < 0x20 && c != '\t') || c == 0x7F) std::abort();
    }
  }
  return 0;
}
