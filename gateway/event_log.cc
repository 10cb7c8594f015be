#include "gateway/event_log.h"

#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace custos::gateway {

namespace {

// Appends `value` as a JSON string.
void AppendJsonString(std::string& out, absl::string_view value) {
  out.push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void AppendField(std::string& out, absl::string_view key,
                 absl::string_view value) {
  if (out.size() > 1) out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
  AppendJsonString(out, value);
}

}  // namespace

void LogEvent(
    absl::string_view level, absl::string_view event, absl::string_view message,
    std::initializer_list<std::pair<absl::string_view, std::string>> fields) {
  // Keys in a fixed order, so people can read the lines too.
  std::string json = "{";
  AppendField(json, "time",
              absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                               absl::UTCTimeZone()));
  AppendField(json, "level", level);
  AppendField(json, "event", event);
  AppendField(json, "msg", message);
  for (const auto& [key, value] : fields) AppendField(json, key, value);
  json += "}\n";
  static Mutex mu;
  MutexLock lock(&mu);
  FILE* out = level == "info" ? stdout : stderr;
  std::fwrite(json.data(), 1, json.size(), out);
  std::fflush(out);
}

}  // namespace custos::gateway
