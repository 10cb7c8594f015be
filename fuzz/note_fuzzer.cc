// Signed notes and checkpoints, as `custos verify`, `custos log prove`, the
// report and the browser's verifier receive them from a server they do not
// trust. Input: a verifier key on the first line, then the signed note.
#include <cstdint>
#include <string>

#include "audit/checkpoint.h"
#include "audit/note.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string key = input.substr(0, newline);
  const std::string note =
      newline == std::string::npos ? std::string() : input.substr(newline + 1);
  (void)custos::audit::ParseCheckpointBody(note);
  auto verifier = custos::audit::NoteVerifier::FromVerifierKey(key);
  if (verifier.ok()) {
    auto text = verifier->Open(note);
    if (text.ok()) (void)custos::audit::ParseCheckpointBody(*text);
  }
  return 0;
}
