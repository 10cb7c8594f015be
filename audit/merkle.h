// The Merkle tree of the audit log, as RFC 9162 §2.1 defines it: hashing,
// inclusion and consistency proofs, and their verification.
//
// Pure: no I/O. Proof generation reads the hashes of full subtrees through a
// NodeReader, so a store that keeps every full subtree's hash answers any
// proof with O(log n) reads. Functions are thread-safe; CompactRange is not.
#ifndef CUSTOS_AUDIT_MERKLE_H_
#define CUSTOS_AUDIT_MERKLE_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::audit {

inline constexpr size_t kHashSize = 32;

// SHA-256(0x00 || leaf).
std::string HashLeaf(absl::string_view leaf);
// As HashLeaf, writing the kHashSize bytes to `out`.
void HashLeafTo(absl::string_view leaf, char* out);
// SHA-256(0x01 || left || right).
std::string HashChildren(absl::string_view left, absl::string_view right);
// As HashChildren, writing the kHashSize bytes to `out`, which may be where
// `left` or `right` lies.
void HashChildrenTo(absl::string_view left, absl::string_view right, char* out);
// The root of the empty tree, SHA-256("").
std::string EmptyRoot();

// Returns the hash of the full subtree at `level` and `index`: the one over
// leaves [index * 2^level, (index + 1) * 2^level). Level 0 is a leaf hash.
using NodeReader =
    absl::FunctionRef<absl::StatusOr<std::string>(int level, uint64_t index)>;

// MTH(D[begin:end]) for a range the RFC's recursion produces (begin a
// multiple of the largest power of two below end - begin). Errors are the
// reader's.
absl::StatusOr<std::string> SubtreeHash(uint64_t begin, uint64_t end,
                                        NodeReader read);

// The root of the tree of the first `size` leaves.
absl::StatusOr<std::string> RootHash(uint64_t size, NodeReader read);

// PATH(index, D[0:size]), leaf to root. OUT_OF_RANGE unless index < size.
absl::StatusOr<std::vector<std::string>> InclusionProof(uint64_t index,
                                                        uint64_t size,
                                                        NodeReader read);

// PROOF(old_size, D[0:new_size]). OUT_OF_RANGE unless old_size <= new_size;
// empty for old_size 0 or old_size == new_size.
absl::StatusOr<std::vector<std::string>> ConsistencyProof(uint64_t old_size,
                                                          uint64_t new_size,
                                                          NodeReader read);

// RFC 9162 §2.1.3.2. INVALID_ARGUMENT for malformed input (index out of
// range, a hash not 32 bytes); DATA_LOSS when the proof does not lead to
// `root`.
absl::Status VerifyInclusion(absl::string_view leaf_hash, uint64_t index,
                             uint64_t size,
                             const std::vector<std::string>& proof,
                             absl::string_view root);

// RFC 9162 §2.1.4.2, with the same error codes.
absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size,
                               absl::string_view old_root,
                               absl::string_view new_root,
                               const std::vector<std::string>& proof);

// Appends to `out` the hash of every full subtree of level 1 and up that
// lies within the leaves [first, first + n), given their leaf hashes one
// after the other (n * kHashSize bytes), in the order in which
// CompactRange::Append completes them. These are all but O(log n) of the
// subtrees those leaves complete, and need no leaf before `first`: ranges
// of leaves can be hashed side by side, and CompactRange::AppendHashed
// takes the rest.
void HashSubtreesWithin(uint64_t first, absl::string_view leaf_hashes,
                        std::string& out);

// The right edge of a growing tree: one hash per full subtree on the border,
// enough to append leaves and compute the root in O(log n) memory.
class CompactRange {
 public:
  CompactRange() = default;

  // Rebuilds the border of a tree of `size` leaves from stored full nodes.
  static absl::StatusOr<CompactRange> Load(uint64_t size, NodeReader read);

  // Appends a leaf hash (kHashSize bytes). `completed` receives every full
  // subtree the leaf completes, from the leaf itself (level 0) upwards, for
  // the store to keep.
  void Append(
      absl::string_view leaf_hash,
      absl::FunctionRef<void(int level, uint64_t index, absl::string_view hash)>
          completed);

  // As Append, for leaves from `first` on whose subtrees HashSubtreesWithin
  // hashed (`first` <= the leaf's index): those this leaf completes are
  // taken from the front of `hashed` instead of hashed again.
  void AppendHashed(
      absl::string_view leaf_hash, uint64_t first, absl::string_view& hashed,
      absl::FunctionRef<void(int level, uint64_t index, absl::string_view hash)>
          completed);

  std::string RootHash() const;
  uint64_t size() const { return size_; }

 private:
  uint64_t size_ = 0;
  // Hashes kept by value: appending is on the path of every entry written
  // and verified, and a string per node cost an allocation each.
  using Hash = std::array<char, kHashSize>;
  static absl::string_view View(const Hash& hash) {
    return absl::string_view(hash.data(), hash.size());
  }

  // The border's full subtrees, largest (leftmost) first: one per set bit of
  // size_, from the highest.
  std::vector<Hash> border_;
};

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_MERKLE_H_
