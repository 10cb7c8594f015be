// What the gateway's own files keep of a justification's free text.
#ifndef CUSTOS_GATEWAY_STORED_NOTES_H_
#define CUSTOS_GATEWAY_STORED_NOTES_H_

#include <string>

namespace custos::gateway {

// Grants and sessions keep no free-text note: the log holds it, as a salted
// commitment whose value erasure removes; a copy here would outlive that.
// Clears the note of the justification in `blob`, a serialized Message
// (Grant, TakeIdentitySession); true when there was one to clear.
template <typename Message>
bool ClearJustificationNote(std::string& blob) {
  Message message;
  if (!message.ParseFromString(blob) || message.justification().note().empty())
    return false;
  message.mutable_justification()->clear_note();
  blob = message.SerializeAsString();
  return true;
}

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_STORED_NOTES_H_
