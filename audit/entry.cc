#include "audit/entry.h"

#include <algorithm>

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

namespace {

constexpr uint8_t kFormatVersionTag = (1 << 3) | 0;  // field 1, varint
constexpr uint8_t kIndexTag = (2 << 3) | 0;          // field 2, varint

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// The length of the format_version field at the start of `bytes`, or 0.
size_t FormatVersionFieldSize(absl::string_view bytes) {
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kFormatVersionTag)
    return 0;
  size_t size = 1;
  while (size < bytes.size() && (static_cast<uint8_t>(bytes[size]) & 0x80))
    ++size;
  return std::min(size + 1, bytes.size());
}

}  // namespace

std::string LinkEntryBytes(absl::string_view unlinked, uint64_t index,
                           absl::string_view prev_hash) {
  const size_t head = FormatVersionFieldSize(unlinked);
  std::string bytes;
  bytes.reserve(unlinked.size() + 16 + prev_hash.size());
  bytes.append(unlinked.data(), head);
  if (index != 0) {  // proto3 leaves out a zero
    bytes.push_back(static_cast<char>(kIndexTag));
    AppendVarint(bytes, index);
  }
  bytes.append(unlinked.data() + head, unlinked.size() - head);
  if (!prev_hash.empty()) {
    AppendVarint(bytes, (20 << 3) | 2);  // field 20, length-delimited
    AppendVarint(bytes, prev_hash.size());
    bytes.append(prev_hash.data(), prev_hash.size());
  }
  return bytes;
}

namespace {

// Reads a varint at `p`; false if it runs past `end` or over 10 bytes.
bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t byte = *p++;
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Walks the fields of the message in `bytes`, telling `on_varint(field,
// value)` of each varint and `on_bytes(field, view)` of each
// length-delimited field (the view points into `bytes`); fixed-width fields
// are skipped. False when the bytes are not well-formed protobuf (groups,
// which LogEntry never has, included).
template <typename OnVarint, typename OnBytes>
bool WalkFields(absl::string_view bytes, OnVarint on_varint, OnBytes on_bytes) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* const end = p + bytes.size();
  while (p < end) {
    uint64_t tag;
    if (!ReadVarint(p, end, tag)) return false;
    const uint64_t field = tag >> 3;
    uint64_t value;
    switch (tag & 7) {
      case 0:  // varint
        if (!ReadVarint(p, end, value)) return false;
        on_varint(field, value);
        break;
      case 1:  // 64-bit
        if (end - p < 8) return false;
        p += 8;
        break;
      case 2:  // length-delimited
        if (!ReadVarint(p, end, value) ||
            value > static_cast<uint64_t>(end - p))
          return false;
        on_bytes(field,
                 absl::string_view(reinterpret_cast<const char*>(p), value));
        p += value;
        break;
      case 5:  // 32-bit
        if (end - p < 4) return false;
        p += 4;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

bool ScanLinks(absl::string_view bytes, uint64_t& index,
               absl::string_view& prev_hash) {
  index = 0;
  prev_hash = {};
  return WalkFields(
      bytes,
      [&](uint64_t field, uint64_t value) {
        if (field == 2) index = value;
      },
      [&](uint64_t field, absl::string_view view) {
        if (field == 20) prev_hash = view;
      });
}

bool ScanLookupFields(absl::string_view bytes, LookupFields& fields) {
  fields = LookupFields();
  // The Timestamp's fields, kept apart until the end: a later time field
  // may set one of them only.
  int64_t seconds = 0;
  int32_t nanos = 0;
  bool well_formed = true;
  const bool walked = WalkFields(
      bytes,
      [&](uint64_t field, uint64_t value) {
        if (field == 12) fields.outcome = static_cast<int32_t>(value);
      },
      [&](uint64_t field, absl::string_view view) {
        switch (field) {
          case 3:  // time
            well_formed &= WalkFields(
                view,
                [&](uint64_t inner, uint64_t value) {
                  if (inner == 1) seconds = static_cast<int64_t>(value);
                  if (inner == 2) nanos = static_cast<int32_t>(value);
                },
                [](uint64_t, absl::string_view) {});
            break;
          case 4:  // actor
            well_formed &= WalkFields(
                view, [](uint64_t, uint64_t) {},
                [&](uint64_t inner, absl::string_view inner_view) {
                  if (inner == 2) fields.actor_id = inner_view;
                });
            break;
          case 5:
            fields.customer_id = view;
            break;
          case 6:
            fields.category = view;
            break;
        }
      });
  fields.time_us = TimeColumnMicros(seconds, nanos);
  return walked && well_formed;
}

bool ScanCommitments(absl::string_view bytes,
                     std::vector<CommitmentView>& commitments) {
  commitments.clear();
  bool well_formed = true;
  const bool walked = WalkFields(
      bytes, [](uint64_t, uint64_t) {},
      [&](uint64_t field, absl::string_view view) {
        if (field != 19 || !well_formed) return;
        CommitmentView& commitment = commitments.emplace_back();
        // As the message parser: the last of a repeated singular field wins.
        well_formed = WalkFields(
            view, [](uint64_t, uint64_t) {},
            [&](uint64_t inner, absl::string_view inner_view) {
              if (inner == 1) commitment.field = inner_view;
              if (inner == 2) commitment.digest = inner_view;
            });
        // The parser would also refuse a field name that is not UTF-8;
        // names are ASCII, so anything else goes to the parser.
        for (const char c : commitment.field) {
          if (static_cast<unsigned char>(c) >= 0x80) well_formed = false;
        }
      });
  return walked && well_formed;
}

absl::Status ChainVerifier::Next(uint64_t position,
                                 absl::string_view entry_bytes) {
  uint64_t index;
  absl::string_view prev_hash;
  const bool scanned = ScanLinks(entry_bytes, index, prev_hash);
  return NextScanned(position, scanned, index, prev_hash,
                     HashLeaf(entry_bytes));
}

absl::Status ChainVerifier::NextScanned(uint64_t position, bool scanned,
                                        uint64_t index,
                                        absl::string_view prev_hash,
                                        absl::string_view leaf_hash) {
  if (!scanned) {
    return absl::DataLossError(
        absl::StrCat("entry ", position,
                     ": bytes do not parse as a LogEntry (entry changed)"));
  }
  if (index != position) {
    return absl::DataLossError(absl::StrCat(
        "entry ", position, ": its index field says ", index,
        index > position ? " (entries missing or reordered before it)"
                         : " (entries reordered or inserted)"));
  }
  if (prev_hash != last_leaf_hash_) {
    return absl::DataLossError(absl::StrCat(
        "entry ", position,
        ": prev_hash does not match the leaf hash of entry ",
        position == 0 ? std::string("(none)") : absl::StrCat(position - 1),
        " (an entry was changed, inserted or reordered)"));
  }
  last_leaf_hash_.assign(leaf_hash.data(), leaf_hash.size());
  ++count_;
  return absl::OkStatus();
}

}  // namespace custos::audit
