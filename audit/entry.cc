#include "audit/entry.h"

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace custos::audit {

std::string SerializeEntry(const custos::v1::LogEntry& entry) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    entry.SerializeToCodedStream(&coded);
  }
  return bytes;
}

std::string ZeroHash() { return std::string(kHashSize, '\0'); }

absl::Status ChainVerifier::Next(uint64_t position,
                                 absl::string_view entry_bytes) {
  custos::v1::LogEntry entry;
  if (!entry.ParseFromArray(entry_bytes.data(),
                            static_cast<int>(entry_bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("entry ", position,
                     ": bytes do not parse as a LogEntry (entry changed)"));
  }
  if (entry.index() != position) {
    return absl::DataLossError(absl::StrCat(
        "entry ", position, ": its index field says ", entry.index(),
        entry.index() > position ? " (entries missing or reordered before it)"
                                 : " (entries reordered or inserted)"));
  }
  if (entry.prev_hash() != last_leaf_hash_) {
    return absl::DataLossError(absl::StrCat(
        "entry ", position,
        ": prev_hash does not match the leaf hash of entry ",
        position == 0 ? std::string("(none)") : absl::StrCat(position - 1),
        " (an entry was changed, inserted or reordered)"));
  }
  last_leaf_hash_ = HashLeaf(entry_bytes);
  ++count_;
  return absl::OkStatus();
}

}  // namespace custos::audit
