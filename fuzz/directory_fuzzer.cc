// The staff and customer directory file.
#include <cstdint>
#include <string>

#include "gateway/directory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto directory = custos::gateway::Directory::Parse(text, "fuzz.textproto");
  if (directory.ok()) {
    for (const std::string& id : (*directory)->StaffIds())
      (void)(*directory)->FindStaff(id);
  }
  return 0;
}
