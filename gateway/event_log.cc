#include "gateway/event_log.h"

#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace custos::gateway {

void LogEvent(
    absl::string_view level, absl::string_view event, absl::string_view message,
    std::initializer_list<std::pair<absl::string_view, std::string>> fields) {
  google::protobuf::Struct line;
  auto& f = *line.mutable_fields();
  f["time"].set_string_value(absl::FormatTime(
      "%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  f["level"].set_string_value(std::string(level));
  f["event"].set_string_value(std::string(event));
  f["msg"].set_string_value(std::string(message));
  for (const auto& [key, value] : fields)
    f[std::string(key)].set_string_value(value);
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(line, &json);
  json.push_back('\n');
  static absl::Mutex mu;
  absl::MutexLock lock(&mu);
  FILE* out = level == "info" ? stdout : stderr;
  std::fwrite(json.data(), 1, json.size(), out);
  std::fflush(out);
}

}  // namespace custos::gateway
