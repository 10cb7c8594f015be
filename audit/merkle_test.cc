#include "audit/merkle.h"

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace custos::audit {
namespace {

std::string Hex(const std::string& bytes) {
  return absl::BytesToHexString(bytes);
}
std::string Unhex(const std::string& hex) {
  return absl::HexStringToBytes(hex);
}

// Every full subtree's hash, as a store keeps them, fed by CompactRange.
class MemoryTree {
 public:
  void Append(const std::string& leaf) {
    range_.Append(HashLeaf(leaf),
                  [&](int level, uint64_t index, absl::string_view hash) {
                    nodes_[{level, index}] = std::string(hash);
                  });
  }
  absl::StatusOr<std::string> Read(int level, uint64_t index) const {
    auto it = nodes_.find({level, index});
    if (it == nodes_.end()) {
      return absl::NotFoundError(absl::StrCat("node ", level, "/", index));
    }
    ++reads_;
    return it->second;
  }
  auto Reader() const {
    return [this](int level, uint64_t index) { return Read(level, index); };
  }
  const CompactRange& range() const { return range_; }
  size_t reads() const { return reads_; }

 private:
  CompactRange range_;
  std::map<std::pair<int, uint64_t>, std::string> nodes_;
  mutable size_t reads_ = 0;
};

// RFC 9162 §2.1, written as plainly as the RFC, over the leaves themselves.
struct Reference {
  std::vector<std::string> leaves;

  static uint64_t Split(uint64_t n) {
    uint64_t k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  }
  std::string Mth(uint64_t a, uint64_t b) const {
    if (b - a == 0) return EmptyRoot();
    if (b - a == 1) return HashLeaf(leaves[a]);
    const uint64_t k = Split(b - a);
    return HashChildren(Mth(a, a + k), Mth(a + k, b));
  }
  std::vector<std::string> Path(uint64_t m, uint64_t a, uint64_t b) const {
    if (b - a == 1) return {};
    const uint64_t k = Split(b - a);
    std::vector<std::string> p;
    if (m < a + k) {
      p = Path(m, a, a + k);
      p.push_back(Mth(a + k, b));
    } else {
      p = Path(m, a + k, b);
      p.push_back(Mth(a, a + k));
    }
    return p;
  }
  std::vector<std::string> Subproof(uint64_t m, uint64_t a, uint64_t b,
                                    bool whole) const {
    if (m == b - a)
      return whole ? std::vector<std::string>{} : std::vector{Mth(a, b)};
    const uint64_t k = Split(b - a);
    std::vector<std::string> p;
    if (m <= k) {
      p = Subproof(m, a, a + k, whole);
      p.push_back(Mth(a + k, b));
    } else {
      p = Subproof(m - k, a + k, b, false);
      p.push_back(Mth(a, a + k));
    }
    return p;
  }
};

nlohmann::json Vectors() {
  std::ifstream in("audit/testdata/rfc6962-vectors.json");
  return nlohmann::json::parse(in);
}

TEST(MerkleTest, MatchesRfc6962RootVectors) {
  const auto vectors = Vectors();
  MemoryTree tree;
  EXPECT_EQ(Hex(tree.range().RootHash()), vectors["roots_hex"][0]);
  for (size_t n = 1; n <= vectors["leaves_hex"].size(); ++n) {
    tree.Append(Unhex(vectors["leaves_hex"][n - 1]));
    EXPECT_EQ(Hex(tree.range().RootHash()), vectors["roots_hex"][n]) << n;
    EXPECT_EQ(Hex(*RootHash(n, tree.Reader())), vectors["roots_hex"][n]) << n;
  }
}

TEST(MerkleTest, MatchesRfc6962InclusionVectors) {
  const auto vectors = Vectors();
  MemoryTree tree;
  for (const auto& leaf : vectors["leaves_hex"]) tree.Append(Unhex(leaf));
  for (const auto& v : vectors["inclusion"]) {
    const uint64_t index = v["index"], size = v["size"];
    auto proof = InclusionProof(index, size, tree.Reader());
    ASSERT_TRUE(proof.ok()) << proof.status();
    std::vector<std::string> want;
    for (const auto& h : v["path_hex"]) want.push_back(Unhex(h));
    EXPECT_EQ(*proof, want) << index << "/" << size;
    const std::string root = Unhex(vectors["roots_hex"][size]);
    const std::string leaf = HashLeaf(Unhex(vectors["leaves_hex"][index]));
    EXPECT_TRUE(VerifyInclusion(leaf, index, size, want, root).ok());
  }
}

TEST(MerkleTest, MatchesRfc6962ConsistencyVectors) {
  const auto vectors = Vectors();
  MemoryTree tree;
  for (const auto& leaf : vectors["leaves_hex"]) tree.Append(Unhex(leaf));
  for (const auto& v : vectors["consistency"]) {
    const uint64_t m = v["old_size"], n = v["new_size"];
    std::vector<std::string> want;
    for (const auto& h : v["proof_hex"]) want.push_back(Unhex(h));
    EXPECT_EQ(*ConsistencyProof(m, n, tree.Reader()), want) << m << "->" << n;
    EXPECT_TRUE(VerifyConsistency(m, n, Unhex(vectors["roots_hex"][m]),
                                  Unhex(vectors["roots_hex"][n]), want)
                    .ok())
        << m << "->" << n;
  }
}

TEST(MerkleTest, InclusionAgreesWithReferenceForEveryIndex) {
  Reference ref;
  MemoryTree tree;
  for (uint64_t n = 1; n <= 130; ++n) {
    ref.leaves.push_back(absl::StrCat("entry ", n - 1));
    tree.Append(ref.leaves.back());
    const std::string root = ref.Mth(0, n);
    ASSERT_EQ(tree.range().RootHash(), root) << n;
    for (uint64_t i = 0; i < n; ++i) {
      auto proof = InclusionProof(i, n, tree.Reader());
      ASSERT_TRUE(proof.ok());
      ASSERT_EQ(*proof, ref.Path(i, 0, n)) << i << "/" << n;
      ASSERT_TRUE(
          VerifyInclusion(HashLeaf(ref.leaves[i]), i, n, *proof, root).ok());
    }
  }
}

TEST(MerkleTest, ConsistencyAgreesWithReferenceForEveryPair) {
  Reference ref;
  MemoryTree tree;
  std::vector<std::string> roots = {EmptyRoot()};
  for (uint64_t n = 1; n <= 70; ++n) {
    ref.leaves.push_back(absl::StrCat("entry ", n - 1));
    tree.Append(ref.leaves.back());
    roots.push_back(tree.range().RootHash());
  }
  for (uint64_t n = 1; n <= 70; ++n) {
    for (uint64_t m = 1; m <= n; ++m) {
      auto proof = ConsistencyProof(m, n, tree.Reader());
      ASSERT_TRUE(proof.ok());
      ASSERT_EQ(*proof, m == n ? std::vector<std::string>{}
                               : ref.Subproof(m, 0, n, true))
          << m << "->" << n;
      ASSERT_TRUE(VerifyConsistency(m, n, roots[m], roots[n], *proof).ok())
          << m << "->" << n;
    }
  }
}

TEST(MerkleTest, RejectsBrokenInclusionProofs) {
  MemoryTree tree;
  for (int i = 0; i < 13; ++i) tree.Append(absl::StrCat(i));
  const std::string root = tree.range().RootHash();
  const std::string leaf = HashLeaf("5");
  auto proof = *InclusionProof(5, 13, tree.Reader());
  ASSERT_TRUE(VerifyInclusion(leaf, 5, 13, proof, root).ok());

  EXPECT_EQ(VerifyInclusion(HashLeaf("6"), 5, 13, proof, root).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyInclusion(leaf, 4, 13, proof, root).code(),
            absl::StatusCode::kDataLoss);
  // The tree size is bound by the signed checkpoint, not the proof: a size
  // whose path has the same shape verifies alike, another shape does not.
  EXPECT_EQ(VerifyInclusion(leaf, 5, 6, proof, root).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyInclusion(leaf, 5, 13, proof, HashLeaf("x")).code(),
            absl::StatusCode::kDataLoss);
  auto flipped = proof;
  flipped[1][0] ^= 1;
  EXPECT_EQ(VerifyInclusion(leaf, 5, 13, flipped, root).code(),
            absl::StatusCode::kDataLoss);
  auto shorter = proof;
  shorter.pop_back();
  EXPECT_EQ(VerifyInclusion(leaf, 5, 13, shorter, root).code(),
            absl::StatusCode::kDataLoss);
  auto longer = proof;
  longer.push_back(root);
  EXPECT_EQ(VerifyInclusion(leaf, 5, 13, longer, root).code(),
            absl::StatusCode::kDataLoss);
  auto truncated = proof;
  truncated[0].pop_back();
  EXPECT_EQ(VerifyInclusion(leaf, 5, 13, truncated, root).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(leaf, 13, 13, proof, root).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MerkleTest, RejectsBrokenConsistencyProofs) {
  MemoryTree tree;
  std::vector<std::string> roots = {EmptyRoot()};
  for (int i = 0; i < 21; ++i) {
    tree.Append(absl::StrCat(i));
    roots.push_back(tree.range().RootHash());
  }
  auto proof = *ConsistencyProof(7, 21, tree.Reader());
  ASSERT_TRUE(VerifyConsistency(7, 21, roots[7], roots[21], proof).ok());
  EXPECT_EQ(VerifyConsistency(7, 21, roots[8], roots[21], proof).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyConsistency(7, 21, roots[7], roots[20], proof).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyConsistency(6, 21, roots[6], roots[21], proof).code(),
            absl::StatusCode::kDataLoss);
  for (size_t i = 0; i < proof.size(); ++i) {
    auto flipped = proof;
    flipped[i][31] ^= 0x80;
    EXPECT_EQ(VerifyConsistency(7, 21, roots[7], roots[21], flipped).code(),
              absl::StatusCode::kDataLoss)
        << i;
  }
  EXPECT_EQ(VerifyConsistency(5, 5, roots[5], roots[6], {}).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyConsistency(9, 5, roots[9], roots[5], {}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MerkleTest, ProofsReadLogarithmicallyManyNodes) {
  MemoryTree tree;
  constexpr uint64_t kSize = 100000;
  for (uint64_t i = 0; i < kSize; ++i) tree.Append(absl::StrCat(i));
  std::mt19937_64 random(7);
  for (int trial = 0; trial < 100; ++trial) {
    const size_t before = tree.reads();
    const uint64_t index = random() % kSize;
    ASSERT_TRUE(InclusionProof(index, kSize, tree.Reader()).ok());
    EXPECT_LE(tree.reads() - before, 2 * 17u) << index;  // log2(100000) < 17
  }
}

TEST(CompactRangeTest, LoadRebuildsTheBorder) {
  MemoryTree tree;
  for (int i = 0; i < 77; ++i) tree.Append(absl::StrCat(i));
  auto loaded = CompactRange::Load(77, tree.Reader());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->RootHash(), tree.range().RootHash());
  EXPECT_EQ(loaded->size(), 77u);
}

TEST(CompactRangeTest, LoadRefusesANodeOfTheWrongSize) {
  auto loaded = CompactRange::Load(1, [](int, uint64_t) {
    return absl::StatusOr<std::string>(std::string(31, 'x'));
  });
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
}

// Appending leaves [first, end) with their subtrees hashed beforehand gives
// the same nodes, in the same order, and the same root as hashing them one
// by one, wherever the range starts and ends.
TEST(CompactRangeTest, SubtreesHashedAsideGiveTheSameTree) {
  using Completed = std::vector<std::tuple<int, uint64_t, std::string>>;
  for (uint64_t first = 0; first < 70; ++first) {
    for (uint64_t end = first; end < first + 70; ++end) {
      std::string leaves;
      for (uint64_t i = first; i < end; ++i)
        leaves += HashLeaf(absl::StrCat(i));
      std::string subtrees;
      HashSubtreesWithin(first, leaves, subtrees);

      CompactRange one_by_one, hashed_aside;
      for (uint64_t i = 0; i < first; ++i) {
        one_by_one.Append(HashLeaf(absl::StrCat(i)),
                          [](int, uint64_t, absl::string_view) {});
        hashed_aside.Append(HashLeaf(absl::StrCat(i)),
                            [](int, uint64_t, absl::string_view) {});
      }
      Completed expected, got;
      absl::string_view rest = subtrees;
      for (uint64_t i = first; i < end; ++i) {
        const absl::string_view leaf = absl::string_view(leaves).substr(
            (i - first) * kHashSize, kHashSize);
        one_by_one.Append(
            leaf, [&](int level, uint64_t index, absl::string_view hash) {
              expected.emplace_back(level, index, std::string(hash));
            });
        hashed_aside.AppendHashed(
            leaf, first, rest,
            [&](int level, uint64_t index, absl::string_view hash) {
              got.emplace_back(level, index, std::string(hash));
            });
      }
      ASSERT_EQ(got, expected) << "leaves " << first << ".." << end;
      EXPECT_TRUE(rest.empty()) << "leaves " << first << ".." << end;
      EXPECT_EQ(hashed_aside.RootHash(), one_by_one.RootHash());
    }
  }
}

}  // namespace
}  // namespace custos::audit
