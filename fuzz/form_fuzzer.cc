// custos-web's POST bodies: the input is "<content-type>\n<session csrf>\n
// <body>", taken by ParsePostedForm as every POST handler takes it. A form
// that is accepted carries the session's CSRF token, holds at most 64
// fields, and parses back to itself once re-encoded.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "clients/web/web_security.h"

namespace {

std::string Encode(absl::string_view text) {
  std::string out;
  for (unsigned char c : text)
    absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
  return out;
}

absl::string_view NextLine(absl::string_view& rest) {
  const size_t end = rest.find('\n');
  const absl::string_view line = rest.substr(0, end);
  rest = end == absl::string_view::npos ? "" : rest.substr(end + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view rest(reinterpret_cast<const char*>(data), size);
  const absl::string_view content_type = NextLine(rest);
  const absl::string_view csrf = NextLine(rest);
  const absl::string_view body = rest;

  auto posted = custos::web::ParsePostedForm(content_type, body, csrf);
  if (posted.ok()) {
    auto it = posted->find("csrf");
    if (csrf.empty() || it == posted->end() || it->second != csrf) std::abort();
  }
  auto form = custos::web::ParseForm(body);
  if (!form.ok()) return 0;
  if (form->size() > 64) std::abort();
  std::string again;
  for (const auto& [key, value] : *form) {
    absl::StrAppend(&again, again.empty() ? "" : "&", Encode(key), "=",
                    Encode(value));
  }
  // Three bytes per byte may pass the size limit; only compare what fits.
  if (again.size() <= 16 * 1024) {
    auto reparsed = custos::web::ParseForm(again);
    if (!reparsed.ok() || *reparsed != *form) std::abort();
  }
  return 0;
}
