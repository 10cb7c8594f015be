#include "audit/merkle.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/openssl.h"
#include "common/status_macros.h"

namespace custos::audit {
namespace {

// The largest power of two strictly below n (n >= 2).
uint64_t SplitPoint(uint64_t n) {
  uint64_t k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

int Log2(uint64_t power_of_two) {
  int level = 0;
  while ((uint64_t{1} << level) < power_of_two) ++level;
  return level;
}

absl::Status AppendPath(uint64_t index, uint64_t begin, uint64_t end,
                        NodeReader read, std::vector<std::string>& proof) {
  if (end - begin == 1) return absl::OkStatus();
  const uint64_t k = SplitPoint(end - begin);
  if (index < begin + k) {
    CUSTOS_RETURN_IF_ERROR(AppendPath(index, begin, begin + k, read, proof));
    CUSTOS_ASSIGN_OR_RETURN(std::string sibling,
                            SubtreeHash(begin + k, end, read));
    proof.push_back(std::move(sibling));
  } else {
    CUSTOS_RETURN_IF_ERROR(AppendPath(index, begin + k, end, read, proof));
    CUSTOS_ASSIGN_OR_RETURN(std::string sibling,
                            SubtreeHash(begin, begin + k, read));
    proof.push_back(std::move(sibling));
  }
  return absl::OkStatus();
}

// SUBPROOF(m, D[begin:end], whole) of RFC 9162 §2.1.4.1, with m absolute.
absl::Status AppendSubproof(uint64_t m, uint64_t begin, uint64_t end,
                            bool whole, NodeReader read,
                            std::vector<std::string>& proof) {
  if (m == end) {
    if (!whole) {
      CUSTOS_ASSIGN_OR_RETURN(std::string hash, SubtreeHash(begin, end, read));
      proof.push_back(std::move(hash));
    }
    return absl::OkStatus();
  }
  const uint64_t k = SplitPoint(end - begin);
  if (m <= begin + k) {
    CUSTOS_RETURN_IF_ERROR(
        AppendSubproof(m, begin, begin + k, whole, read, proof));
    CUSTOS_ASSIGN_OR_RETURN(std::string hash,
                            SubtreeHash(begin + k, end, read));
    proof.push_back(std::move(hash));
  } else {
    CUSTOS_RETURN_IF_ERROR(
        AppendSubproof(m, begin + k, end, false, read, proof));
    CUSTOS_ASSIGN_OR_RETURN(std::string hash,
                            SubtreeHash(begin, begin + k, read));
    proof.push_back(std::move(hash));
  }
  return absl::OkStatus();
}

absl::Status CheckHash(absl::string_view what, absl::string_view hash) {
  if (hash.size() != kHashSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": expected a 32-byte hash, got ", hash.size(), " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckProofHashes(const std::vector<std::string>& proof) {
  for (size_t i = 0; i < proof.size(); ++i) {
    CUSTOS_RETURN_IF_ERROR(CheckHash(absl::StrCat("proof[", i, "]"), proof[i]));
  }
  return absl::OkStatus();
}

}  // namespace

std::string HashLeaf(absl::string_view leaf) {
  std::string hash(kHashSize, '\0');
  HashLeafTo(leaf, hash.data());
  return hash;
}

void HashLeafTo(absl::string_view leaf, char* out) {
  Sha256ConcatTo({absl::string_view("\x00", 1), leaf}, out);
}

std::string HashChildren(absl::string_view left, absl::string_view right) {
  std::string hash(kHashSize, '\0');
  HashChildrenTo(left, right, hash.data());
  return hash;
}

void HashChildrenTo(absl::string_view left, absl::string_view right,
                    char* out) {
  // Sha256ConcatTo writes `out` only once every part is read.
  Sha256ConcatTo({"\x01", left, right}, out);
}

std::string EmptyRoot() { return Sha256(""); }

absl::StatusOr<std::string> SubtreeHash(uint64_t begin, uint64_t end,
                                        NodeReader read) {
  const uint64_t size = end - begin;
  if (IsPowerOfTwo(size) && begin % size == 0) {
    const int level = Log2(size);
    return read(level, begin >> level);
  }
  const uint64_t k = SplitPoint(size);
  CUSTOS_ASSIGN_OR_RETURN(std::string left,
                          SubtreeHash(begin, begin + k, read));
  CUSTOS_ASSIGN_OR_RETURN(std::string right, SubtreeHash(begin + k, end, read));
  return HashChildren(left, right);
}

absl::StatusOr<std::string> RootHash(uint64_t size, NodeReader read) {
  if (size == 0) return EmptyRoot();
  return SubtreeHash(0, size, read);
}

absl::StatusOr<std::vector<std::string>> InclusionProof(uint64_t index,
                                                        uint64_t size,
                                                        NodeReader read) {
  if (index >= size) {
    return absl::OutOfRangeError(
        absl::StrCat("index ", index, " is not in a tree of size ", size));
  }
  std::vector<std::string> proof;
  CUSTOS_RETURN_IF_ERROR(AppendPath(index, 0, size, read, proof));
  return proof;
}

absl::StatusOr<std::vector<std::string>> ConsistencyProof(uint64_t old_size,
                                                          uint64_t new_size,
                                                          NodeReader read) {
  if (old_size > new_size) {
    return absl::OutOfRangeError(absl::StrCat(
        "old size ", old_size, " is larger than new size ", new_size));
  }
  std::vector<std::string> proof;
  if (old_size == 0 || old_size == new_size) return proof;
  CUSTOS_RETURN_IF_ERROR(
      AppendSubproof(old_size, 0, new_size, true, read, proof));
  return proof;
}

absl::Status VerifyInclusion(absl::string_view leaf_hash, uint64_t index,
                             uint64_t size,
                             const std::vector<std::string>& proof,
                             absl::string_view root) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("index ", index, " is not in a tree of size ", size));
  }
  CUSTOS_RETURN_IF_ERROR(CheckHash("leaf hash", leaf_hash));
  CUSTOS_RETURN_IF_ERROR(CheckHash("root", root));
  CUSTOS_RETURN_IF_ERROR(CheckProofHashes(proof));
  uint64_t fn = index;
  uint64_t sn = size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) {
      return absl::DataLossError(
          "inclusion proof is longer than the tree is deep");
    }
    if ((fn & 1) == 1 || fn == sn) {
      r = HashChildren(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::DataLossError(
        "inclusion proof is shorter than the tree is deep");
  }
  if (r != root) {
    return absl::DataLossError(
        absl::StrCat("inclusion proof of entry ", index,
                     " does not lead to the root of size ", size));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size,
                               absl::string_view old_root,
                               absl::string_view new_root,
                               const std::vector<std::string>& proof) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "old size ", old_size, " is larger than new size ", new_size));
  }
  CUSTOS_RETURN_IF_ERROR(CheckHash("old root", old_root));
  CUSTOS_RETURN_IF_ERROR(CheckHash("new root", new_root));
  CUSTOS_RETURN_IF_ERROR(CheckProofHashes(proof));
  if (old_size == 0 || old_size == new_size) {
    if (!proof.empty()) {
      return absl::DataLossError("consistency proof should be empty");
    }
    if (old_size == new_size && old_root != new_root) {
      return absl::DataLossError(
          absl::StrCat("two different roots for the same size ", old_size));
    }
    return absl::OkStatus();
  }
  std::vector<std::string> path;
  if (IsPowerOfTwo(old_size)) path.emplace_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  if (path.empty()) return absl::DataLossError("consistency proof is empty");

  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr = path[0];
  std::string sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const std::string& c = path[i];
    if (sn == 0) return absl::DataLossError("consistency proof is too long");
    if ((fn & 1) == 1 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return absl::DataLossError("consistency proof is too short");
  if (fr != old_root) {
    return absl::DataLossError(
        absl::StrCat("consistency proof does not lead to the old root (size ",
                     old_size, ")"));
  }
  if (sr != new_root) {
    return absl::DataLossError(
        absl::StrCat("consistency proof does not lead to the new root (size ",
                     new_size, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CompactRange> CompactRange::Load(uint64_t size,
                                                NodeReader read) {
  CompactRange range;
  range.size_ = size;
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) continue;
    CUSTOS_ASSIGN_OR_RETURN(std::string hash, read(level, begin >> level));
    if (hash.size() != kHashSize) {
      return absl::DataLossError(
          absl::StrCat("tree node ", level, "/", begin >> level, " has ",
                       hash.size(), " bytes, not ", kHashSize));
    }
    std::copy(hash.begin(), hash.end(), range.border_.emplace_back().begin());
    begin += width;
  }
  return range;
}

void CompactRange::Append(
    absl::string_view leaf_hash,
    absl::FunctionRef<void(int level, uint64_t index, absl::string_view hash)>
        completed) {
  absl::string_view nothing_hashed;
  AppendHashed(leaf_hash, size_ + 1, nothing_hashed, completed);
}

void CompactRange::AppendHashed(
    absl::string_view leaf_hash, uint64_t first, absl::string_view& hashed,
    absl::FunctionRef<void(int level, uint64_t index, absl::string_view hash)>
        completed) {
  completed(0, size_, leaf_hash);
  Hash node;
  std::copy_n(leaf_hash.begin(), kHashSize, node.begin());
  int level = 0;
  // Each set low bit of size_ is a full subtree on the border of the same
  // size as `node`, to its left: merge them.
  while ((size_ >> level) & 1) {
    ++level;
    const uint64_t index = size_ >> level;
    if ((index << level) >= first) {
      std::copy_n(hashed.begin(), kHashSize, node.begin());
      hashed.remove_prefix(kHashSize);
    } else {
      HashChildrenTo(View(border_.back()), View(node), node.data());
    }
    border_.pop_back();
    completed(level, index, View(node));
  }
  border_.push_back(node);
  ++size_;
}

void HashSubtreesWithin(uint64_t first, absl::string_view leaf_hashes,
                        std::string& out) {
  const uint64_t n = leaf_hashes.size() / kHashSize;
  // The full subtrees completed so far that a later leaf's subtree within
  // the range will take as its left half, newest last.
  std::vector<std::array<char, kHashSize>> lefts;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t leaf = first + i;
    std::array<char, kHashSize> node;
    std::copy_n(leaf_hashes.begin() + i * kHashSize, kHashSize, node.begin());
    int level = 0;
    bool is_left = true;
    while ((leaf >> level) & 1) {
      // `node` is a right half; its parent lies within the range only if
      // the left half does.
      if ((((leaf >> level) - 1) << level) < first) {
        is_left = false;
        break;
      }
      const absl::string_view left(lefts.back().data(), kHashSize);
      HashChildrenTo(left, absl::string_view(node.data(), kHashSize),
                     node.data());
      lefts.pop_back();
      ++level;
      out.append(node.data(), kHashSize);
    }
    if (is_left) lefts.push_back(node);
  }
}

std::string CompactRange::RootHash() const {
  if (border_.empty()) return EmptyRoot();
  std::string root(View(border_.back()));
  for (size_t i = border_.size() - 1; i-- > 0;)
    HashChildrenTo(View(border_[i]), root, root.data());
  return root;
}

}  // namespace custos::audit
