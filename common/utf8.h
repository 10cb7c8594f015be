// UTF-8 as the log needs it: protobuf's string fields must hold valid UTF-8
// or the entry holding them never parses again, and a log entry cannot be
// mended afterwards. So text from outside the request messages (which gRPC
// has checked already), such as a certificate's names or an error's
// message, passes through here before it goes into an entry.
#ifndef CUSTOS_COMMON_UTF8_H_
#define CUSTOS_COMMON_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace custos {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not valid
// there (overlong forms, surrogates and code points past U+10FFFF included).
// `i` must be less than s.size().
size_t Utf8SequenceLength(absl::string_view s, size_t i);

bool IsValidUtf8(absl::string_view s);

// `s` with every byte that starts no valid sequence replaced by U+FFFD.
std::string ToValidUtf8(absl::string_view s);

// The longest prefix of `s` of at most `max_bytes` that ends between two
// characters, for `s` valid UTF-8: a cut never splits a character.
absl::string_view Utf8Prefix(absl::string_view s, size_t max_bytes);

}  // namespace custos

#endif  // CUSTOS_COMMON_UTF8_H_
