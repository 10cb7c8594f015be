#include "audit/log_store.h"

#include "absl/synchronization/notification.h"

namespace custos::audit {

absl::StatusOr<custos::v1::LogEntry> LogStore::Append(
    custos::v1::LogEntry entry) {
  absl::Notification done;
  absl::StatusOr<custos::v1::LogEntry> result;
  AppendAsync(std::move(entry),
              [&](absl::StatusOr<custos::v1::LogEntry> stored) {
                result = std::move(stored);
                done.Notify();
              });
  done.WaitForNotification();
  return result;
}

}  // namespace custos::audit
