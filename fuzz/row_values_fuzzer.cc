// An entry's personal values as `custos verify`, erasure and masking read
// them from the `personal` column of a file anyone may have changed.
#include <cstdint>
#include <string>

#include "audit/sqlite/held_values.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto values = custos::audit::sqlite::DecodeRowValues(bytes);
  // What decodes encodes back to the very same bytes (one encoding each).
  if (values.ok() && custos::audit::sqlite::EncodeRowValues(*values) != bytes) {
    __builtin_trap();
  }
  return 0;
}
