// The single-use link's exchange in custos-web: the input is the posted
// link_token field, still %-encoded as in the form body. A token custos-web
// accepts is one custosd's own validation accepts too, so nothing malformed
// is ever forwarded.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "clients/web/web_security.h"
#include "gateway/validate.h"

namespace {

void Check(absl::string_view token) {
  if (!custos::web::ValidateLinkToken(token).ok()) return;
  if (token.size() < 4 || token.size() > 64 || token.substr(0, 3) != "lt_" ||
      token.find_first_not_of("0123456789abcdef", 3) !=
          absl::string_view::npos) {
    std::abort();
  }
  if (!custos::gateway::ValidateText("link_token", token, 64, true).ok()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view raw(reinterpret_cast<const char*>(data), size);
  Check(raw);
  if (auto decoded = custos::web::UrlDecode(raw); decoded.ok()) Check(*decoded);
  return 0;
}
