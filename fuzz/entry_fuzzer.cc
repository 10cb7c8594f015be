// Log entry bytes, as the offline verifier and the report read them from a
// file anyone may have changed.
#include <cstdint>
#include <string>
#include <vector>

#include "audit/entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  custos::audit::ChainVerifier chain;
  (void)chain.Next(0, bytes);
  custos::v1::LogEntry entry;
  const bool parsed = entry.ParseFromString(bytes);
  // Verification reads commitments by scanning the bytes: where the scan
  // succeeds and the parser does too, they find the same commitments.
  std::vector<custos::audit::CommitmentView> scanned;
  if (custos::audit::ScanCommitments(bytes, scanned) && parsed) {
    if (static_cast<int>(scanned.size()) != entry.commitments_size())
      __builtin_trap();
    for (int i = 0; i < entry.commitments_size(); ++i) {
      if (scanned[i].field != entry.commitments(i).field() ||
          scanned[i].digest != entry.commitments(i).digest()) {
        __builtin_trap();
      }
    }
  }
  if (parsed) {
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
