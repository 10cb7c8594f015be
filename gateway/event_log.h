// Structured server logs: one JSON object per line, for operators and log
// shippers. (What staff did is in the audit log, not here.)
//
//   {"time":"2026-11-22T10:00:00Z","level":"info","event":"serving",
//    "msg":"serving on port 7443, data in .custos","port":"7443"}
//
// Thread-safe: each event is written with one call under a mutex.
#ifndef CUSTOS_GATEWAY_EVENT_LOG_H_
#define CUSTOS_GATEWAY_EVENT_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace custos::gateway {

// Writes one event to stdout ("info") or stderr (any other level).
void LogEvent(absl::string_view level, absl::string_view event,
              absl::string_view message,
              std::initializer_list<std::pair<absl::string_view, std::string>>
                  fields = {});

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_EVENT_LOG_H_
