// Inclusion and consistency proofs from an untrusted server. Input: index
// and sizes as 8 bytes each, then 32-byte hashes (leaf or old root, root,
// then the proof).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "audit/merkle.h"

namespace {

uint64_t Take64(const uint8_t*& data, size_t& size) {
  uint64_t v = 0;
  const size_t n = size < 8 ? size : 8;
  std::memcpy(&v, data, n);
  data += n;
  size -= n;
  return v;
}

std::string TakeHash(const uint8_t*& data, size_t& size) {
  // Now and then a hash of the wrong length, which must be refused.
  const size_t want = size > 0 && data[0] == 0xee ? 31 : 32;
  const size_t n = size < want ? size : want;
  std::string h(reinterpret_cast<const char*>(data), n);
  data += n;
  size -= n;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint64_t a = Take64(data, size);
  const uint64_t b = Take64(data, size);
  const std::string first = TakeHash(data, size);
  const std::string root = TakeHash(data, size);
  std::vector<std::string> proof;
  while (size > 0 && proof.size() < 70) proof.push_back(TakeHash(data, size));
  (void)custos::audit::VerifyInclusion(first, a, b, proof, root);
  (void)custos::audit::VerifyConsistency(a, b, first, root, proof);
  return 0;
}
