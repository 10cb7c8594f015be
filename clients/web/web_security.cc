#include "clients/web/web_security.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/openssl.h"

namespace custos::web {
namespace {

constexpr size_t kMaxFormBytes = 16 * 1024;
constexpr size_t kMaxFormFields = 64;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> RandomToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return OpenSslError("drawing a random token");
  }
  return HexEncode(
      absl::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

std::string CookieValue(absl::string_view cookie_header,
                        absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

std::string SessionCookie(absl::string_view value, absl::Duration max_age) {
  return absl::StrCat(kSessionCookie, "=", value,
                      "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=",
                      absl::ToInt64Seconds(max_age));
}

std::string ClearedSessionCookie() {
  return absl::StrCat(
      kSessionCookie,
      "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
}

absl::StatusOr<std::string> UrlDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return absl::InvalidArgumentError("form: truncated %-escape");
      }
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError("form: bad %-escape");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseForm(
    absl::string_view body) {
  if (body.size() > kMaxFormBytes) {
    return absl::InvalidArgumentError("form: larger than 16 KiB");
  }
  std::map<std::string, std::string> fields;
  for (absl::string_view pair : absl::StrSplit(body, '&', absl::SkipEmpty())) {
    if (fields.size() == kMaxFormFields) {
      return absl::InvalidArgumentError("form: more than 64 fields");
    }
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    auto key = UrlDecode(kv.first);
    if (!key.ok()) return key.status();
    auto value = UrlDecode(kv.second);
    if (!value.ok()) return value.status();
    if (!fields.emplace(*key, *value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("form: field \"", *key, "\" given twice"));
    }
  }
  return fields;
}

bool TokensEqual(absl::string_view a, absl::string_view b) {
  if (a.empty() || b.empty() || a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status CheckCsrf(absl::string_view session_csrf,
                       const std::map<std::string, std::string>& form) {
  auto it = form.find("csrf");
  if (it == form.end() || !TokensEqual(session_csrf, it->second)) {
    return absl::PermissionDeniedError(
        "csrf: the form's token does not match this session; reload the page "
        "and try again");
  }
  return absl::OkStatus();
}

absl::Status ValidateLinkToken(absl::string_view token) {
  absl::string_view rest = token;
  if (!absl::ConsumePrefix(&rest, "lt_") || rest.empty() || token.size() > 64 ||
      rest.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "link_token: expected the token after '#' in the link that "
        "`custos identity start` printed (lt_ and hex digits)");
  }
  return absl::OkStatus();
}

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string StaffPseudonym(absl::string_view secret,
                           absl::string_view customer_id,
                           absl::string_view staff_id) {
  const std::string message = absl::StrCat(customer_id, "\n", staff_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       mac, &mac_len);
  return absl::StrCat(
      "staff-", HexEncode(absl::string_view(reinterpret_cast<char*>(mac), 6)));
}

}  // namespace custos::web
