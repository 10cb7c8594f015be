// Log entry bytes, as the offline verifier and the report read them from a
// file anyone may have changed.
#include <cstdint>
#include <string>

#include "audit/entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  custos::audit::ChainVerifier chain;
  (void)chain.Next(0, bytes);
  custos::v1::LogEntry entry;
  if (entry.ParseFromString(bytes)) {
    // Serialization is deterministic: what parses serializes the same way
    // twice.
    const std::string once = custos::audit::SerializeEntry(entry);
    custos::v1::LogEntry again;
    if (!again.ParseFromString(once) ||
        custos::audit::SerializeEntry(again) != once) {
      __builtin_trap();
    }
  }
  return 0;
}
