// The policy file: custosd parses it at start and on every SIGHUP.
#include <cstdint>
#include <string>

#include "policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto policy = custos::policy::Policy::Parse(text, "fuzz.textproto");
  // A policy that parses must answer what custosd asks of it.
  if (policy.ok()) {
    for (const std::string& name : (*policy)->category_names())
      (void)(*policy)->FindCategory(name);
    (void)(*policy)->networks();
  }
  return 0;
}
