#include "clients/web/web_security.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/openssl.h"

namespace custos::web {
namespace {

constexpr size_t kMaxFormBytes = 16 * 1024;
constexpr size_t kMaxFormFields = 64;
constexpr char kHttpStatusPayload[] =
    "type.custos.invalid/custos.web.HttpStatus";

absl::Status WithHttpStatus(absl::Status status, int http_status) {
  status.SetPayload(kHttpStatusPayload, absl::Cord(absl::StrCat(http_status)));
  return status;
}

bool IsLowerHex(absl::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == absl::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> RandomToken() {
  unsigned char bytes[32];
  if (auto s = RandomBytes(bytes, sizeof bytes); !s.ok()) return s;
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

std::string SessionIdFromCookies(absl::string_view cookie_header) {
  std::string found;
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (!absl::ConsumePrefix(&part, kSessionCookie) ||
        !absl::ConsumePrefix(&part, "=")) {
      continue;
    }
    if (part.size() != 64 || !IsLowerHex(part)) return "";
    if (!found.empty() && found != part) return "";
    found = std::string(part);
  }
  return found;
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
    return WithHttpStatus(
        absl::InvalidArgumentError("form: larger than 16 KiB"), 413);
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

absl::StatusOr<std::map<std::string, std::string>> ParsePostedForm(
    absl::string_view content_type, absl::string_view body,
    absl::string_view session_csrf) {
  // Only what a browser's plain <form> sends: a multipart or JSON body would
  // reach no parser of ours, and refusing it keeps CSRF checking in one place.
  absl::string_view media = content_type.substr(0, content_type.find(';'));
  media = absl::StripAsciiWhitespace(media);
  if (!absl::EqualsIgnoreCase(media, "application/x-www-form-urlencoded")) {
    return WithHttpStatus(
        absl::InvalidArgumentError(
            "content-type: expected application/x-www-form-urlencoded"),
        415);
  }
  auto form = ParseForm(body);
  if (!form.ok()) return form.status();
  if (auto s = CheckCsrf(session_csrf, *form); !s.ok()) return s;
  return form;
}

int HttpStatusOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kHttpStatusPayload);
  int code = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &code)) {
    return 0;
  }
  return code;
}

absl::Status ValidateLinkToken(absl::string_view token) {
  absl::string_view rest = token;
  if (!absl::ConsumePrefix(&rest, "lt_") || rest.empty() || token.size() > 64 ||
      !IsLowerHex(rest)) {
    return absl::InvalidArgumentError(
        "link_token: expected the token after '#' in the link that "
        "`custos identity start` printed (lt_ and hex digits)");
  }
  return absl::OkStatus();
}

absl::Status ValidateHeaderValue(absl::string_view name,
                                 absl::string_view value) {
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      return absl::InvalidArgumentError(
          absl::StrCat("header ", name, ": control character in the value"));
    }
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
