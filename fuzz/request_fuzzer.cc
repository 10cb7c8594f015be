// Request validation: the first byte picks the request, the rest is its
// wire bytes, as a client would send them.
#include <cstdint>
#include <memory>
#include <string>

#include "gateway/validate.h"
#include "policy/default_policy.h"
#include "policy/policy.h"

namespace {

const custos::policy::Policy& DefaultPolicy() {
  static const auto* policy = new std::shared_ptr<const custos::policy::Policy>(
      *custos::policy::Policy::Parse(kDefaultPolicy, "default"));
  return **policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      custos::v1::RequestAccessRequest request;
      if (request.ParseFromString(bytes))
        (void)custos::gateway::ValidateRequestAccess(request, DefaultPolicy());
      break;
    }
    case 1: {
      custos::v1::ListEntriesRequest request;
      if (request.ParseFromString(bytes))
        (void)custos::gateway::ValidateListEntries(request);
      break;
    }
    case 2:
      (void)custos::gateway::ValidateText("note", bytes, 1024, true);
      break;
    default:
      (void)custos::gateway::ValidateId("customer_id", bytes, true);
  }
  return 0;
}
