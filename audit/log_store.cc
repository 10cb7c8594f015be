#include "audit/log_store.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/mutex.h"

namespace custos::audit {

absl::StatusOr<custos::v1::LogEntry> LogStore::Append(
    custos::v1::LogEntry entry, std::vector<PersonalValue> personal) {
  Notification done;
  absl::StatusOr<custos::v1::LogEntry> result;
  AppendAsync(std::move(entry), std::move(personal),
              [&](absl::StatusOr<custos::v1::LogEntry> stored) {
                result = std::move(stored);
                done.Notify();
              });
  done.WaitForNotification();
  return result;
}

std::string MaskAddress(absl::string_view address) {
  const std::string text(address);
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    bytes[2] = bytes[3] = 0;
    return inet_ntop(AF_INET, bytes, out, sizeof(out)) ? out : "";
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
    std::memset(bytes + 6, 0, 10);  // hextets 4 to 8
    return inet_ntop(AF_INET6, bytes, out, sizeof(out)) ? out : "";
  }
  return "";
}

bool MaskedWithAge(absl::string_view field, absl::string_view value) {
  return field == "source_ip" ||
         (field == "erased_subject" && !MaskAddress(value).empty());
}

}  // namespace custos::audit
