#include "audit/entry.h"

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace custos::audit {
namespace {

using ::testing::HasSubstr;

// A chain of `n` entries as a store writes them.
std::vector<std::string> Chain(int n) {
  std::vector<std::string> bytes;
  std::string prev = ZeroHash();
  for (int i = 0; i < n; ++i) {
    custos::v1::LogEntry entry;
    entry.set_format_version(kFormatVersion);
    entry.set_index(i);
    entry.set_customer_id("acme");
    entry.set_reference(absl::StrCat("SUP-", i));
    entry.set_prev_hash(prev);
    bytes.push_back(SerializeEntry(entry));
    prev = HashLeaf(bytes.back());
  }
  return bytes;
}

absl::Status Walk(const std::vector<std::string>& entries) {
  ChainVerifier chain;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (auto s = chain.Next(i, entries[i]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

TEST(EntryTest, LeafHashMatchesRfc6962KnownAnswers) {
  EXPECT_EQ(absl::BytesToHexString(HashLeaf("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(absl::BytesToHexString(HashLeaf(std::string(1, '\0'))),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
}

TEST(EntryTest, SerializationIsDeterministic) {
  custos::v1::LogEntry entry;
  entry.set_customer_id("acme");
  entry.add_reasons()->set_code("A");
  entry.add_reasons()->set_code("B");
  custos::v1::LogEntry copy;
  copy.ParseFromString(SerializeEntry(entry));
  EXPECT_EQ(SerializeEntry(copy), SerializeEntry(entry));
}

// LinkEntryBytes relies on index and prev_hash being fields 2 and 20 and on
// no field being numbered above prev_hash.
TEST(EntryTest, PrevHashIsTheHighestField) {
  const auto* descriptor = custos::v1::LogEntry::descriptor();
  int highest = 0;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    highest = std::max(highest, descriptor->field(i)->number());
  }
  EXPECT_EQ(highest, custos::v1::LogEntry::kPrevHashFieldNumber);
  EXPECT_EQ(custos::v1::LogEntry::kPrevHashFieldNumber, 20);
  EXPECT_EQ(custos::v1::LogEntry::kIndexFieldNumber, 2);
  EXPECT_EQ(custos::v1::LogEntry::kFormatVersionFieldNumber, 1);
}

TEST(EntryTest, LinkingGivesTheBytesOfTheLinkedEntry) {
  custos::v1::LogEntry entry;
  entry.mutable_time()->set_seconds(1790000000);
  entry.mutable_actor()->set_id("anna.support");
  entry.set_customer_id("acme");
  entry.set_category("support");
  entry.set_reference("SUP-1042");
  entry.set_action("StaffAccess.RequestAccess");
  entry.set_outcome(custos::v1::OUTCOME_ALLOWED);
  entry.add_reasons()->set_code("OK");
  entry.set_grant_id("g_1");
  entry.set_policy_version("sha256:0123");
  auto* commitment = entry.add_commitments();
  commitment->set_field("source_ip");
  commitment->set_digest(std::string(32, 'd'));
  for (uint32_t version : {kFormatVersion, 0u, 300u}) {
    for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{127},
                           uint64_t{128}, uint64_t{1} << 40, ~uint64_t{0}}) {
      for (const std::string& prev :
           {ZeroHash(), std::string(32, '\xff'), std::string()}) {
        custos::v1::LogEntry unlinked = entry;
        unlinked.set_format_version(version);
        custos::v1::LogEntry linked = unlinked;
        linked.set_index(index);
        linked.set_prev_hash(prev);
        EXPECT_EQ(LinkEntryBytes(SerializeEntry(unlinked), index, prev),
                  SerializeEntry(linked))
            << "version " << version << ", index " << index;
      }
    }
  }
}

// What ScanCommitments found, as (field, digest) pairs.
std::vector<std::pair<std::string, std::string>> Scanned(
    const std::vector<CommitmentView>& views) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const CommitmentView& view : views) {
    pairs.emplace_back(std::string(view.field), std::string(view.digest));
  }
  return pairs;
}

TEST(ScanCommitmentsTest, FindsWhatTheParserFinds) {
  custos::v1::LogEntry entry;
  entry.set_format_version(kFormatVersion);
  entry.set_index(7);
  entry.set_customer_id("acme");
  for (const char* field : {"source_ip", "actor_name", "note"}) {
    custos::v1::Commitment* commitment = entry.add_commitments();
    commitment->set_field(field);
    commitment->set_digest(std::string(32, field[0]));
  }
  entry.set_prev_hash(std::string(32, 'p'));
  const std::string bytes = SerializeEntry(entry);
  std::vector<CommitmentView> views;
  ASSERT_TRUE(ScanCommitments(bytes, views));
  std::vector<std::pair<std::string, std::string>> parsed;
  for (const auto& commitment : entry.commitments()) {
    parsed.emplace_back(commitment.field(), commitment.digest());
  }
  EXPECT_EQ(Scanned(views), parsed);

  custos::v1::LogEntry none;
  none.set_index(1);
  ASSERT_TRUE(ScanCommitments(SerializeEntry(none), views));
  EXPECT_TRUE(views.empty());
}

TEST(ScanCommitmentsTest, TheLastOfARepeatedFieldWinsAsInTheParser) {
  // A commitment whose field and digest each appear twice: the parser
  // keeps the last of each.
  const std::string commitment = absl::StrCat("\x0a\x01", "a", "\x12\x01", "x",
                                              "\x0a\x01", "b", "\x12\x01", "y");
  const std::string bytes = absl::StrCat(
      "\x9a\x01", std::string(1, static_cast<char>(commitment.size())),
      commitment);
  custos::v1::LogEntry parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  ASSERT_EQ(parsed.commitments_size(), 1);
  std::vector<CommitmentView> views;
  ASSERT_TRUE(ScanCommitments(bytes, views));
  EXPECT_EQ(
      Scanned(views),
      (std::vector<std::pair<std::string, std::string>>{
          {parsed.commitments(0).field(), parsed.commitments(0).digest()}}));
}

TEST(ScanCommitmentsTest, LeavesWhatItCannotReadToTheParser) {
  custos::v1::LogEntry entry;
  custos::v1::Commitment* commitment = entry.add_commitments();
  commitment->set_field("note");
  commitment->set_digest(std::string(32, 'd'));
  const std::string bytes = SerializeEntry(entry);
  std::vector<CommitmentView> views;
  // Cut short, the last length runs past the end.
  EXPECT_FALSE(ScanCommitments(bytes.substr(0, bytes.size() - 1), views));
  // A field name that is not ASCII (the parser checks UTF-8).
  std::string renamed = bytes;
  renamed[renamed.find("note")] = static_cast<char>(0xff);
  EXPECT_FALSE(ScanCommitments(renamed, views));
  // A commitment whose own bytes are not well-formed.
  EXPECT_FALSE(ScanCommitments(std::string("\x9a\x01\x02\x0a\x05", 5), views));
}

TEST(ScanLookupFieldsTest, FindsWhatTheStoreWritesIntoTheRow) {
  custos::v1::LogEntry entry;
  entry.set_format_version(kFormatVersion);
  entry.set_index(3);
  *entry.mutable_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          1764633600123456);
  entry.mutable_actor()->set_kind(custos::v1::ACTOR_STAFF);
  entry.mutable_actor()->set_id("s_eva");
  entry.mutable_actor()->set_country("NL");
  entry.set_customer_id("acme");
  entry.set_category("support");
  entry.set_outcome(custos::v1::OUTCOME_REFUSED);
  entry.set_prev_hash(std::string(32, 'p'));
  // The fields view the bytes, so the bytes are kept.
  const std::string bytes = SerializeEntry(entry);
  LookupFields fields;
  ASSERT_TRUE(ScanLookupFields(bytes, fields));
  EXPECT_EQ(
      fields.time_us,
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(entry.time()));
  EXPECT_EQ(fields.customer_id, "acme");
  EXPECT_EQ(fields.actor_id, "s_eva");
  EXPECT_EQ(fields.category, "support");
  EXPECT_EQ(fields.outcome, custos::v1::OUTCOME_REFUSED);

  // An entry without them scans as empty, as the row of an unknown caller's
  // call without a customer.
  const std::string empty = SerializeEntry(custos::v1::LogEntry());
  ASSERT_TRUE(ScanLookupFields(empty, fields));
  EXPECT_EQ(fields.time_us, 0);
  EXPECT_TRUE(fields.customer_id.empty());
  EXPECT_TRUE(fields.actor_id.empty());
}

TEST(ScanLookupFieldsTest, MergesARepeatedActorAsTheParserDoes) {
  // Two actor fields: the parser merges them, so the id of the first stays
  // unless the second has one; the customer appears twice, the last wins.
  const std::string bytes = absl::StrCat("\x22\x04\x12\x02", "s1",
                                         "\x22\x02\x08\x01",  // kind
                                         "\x2a\x01", "a", "\x2a\x01", "b");
  custos::v1::LogEntry parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  LookupFields fields;
  ASSERT_TRUE(ScanLookupFields(bytes, fields));
  EXPECT_EQ(fields.actor_id, parsed.actor().id());
  EXPECT_EQ(fields.customer_id, parsed.customer_id());
  // An actor whose own bytes are not well-formed.
  EXPECT_FALSE(ScanLookupFields(std::string("\x22\x02\x12\x05", 4), fields));
}

TEST(ChainVerifierTest, AcceptsAnIntactChain) {
  EXPECT_TRUE(Walk(Chain(10)).ok());
}

TEST(ChainVerifierTest, NamesTheChangedEntry) {
  auto entries = Chain(10);
  entries[4][entries[4].size() - 40] ^=
      0x01;  // inside entry 4's reference or hash
  const absl::Status status = Walk(entries);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("entry "));
  // The change shows at entry 4 itself (its fields) or at 5 (its link).
  EXPECT_TRUE(absl::StrContains(status.message(), "entry 4") ||
              absl::StrContains(status.message(), "entry 5"))
      << status;
}

TEST(ChainVerifierTest, NamesTheChangedEntryViaItsSuccessorsLink) {
  auto entries = Chain(10);
  custos::v1::LogEntry changed;
  changed.ParseFromString(entries[3]);
  changed.set_reference("SUP-forged");
  entries[3] = SerializeEntry(changed);
  EXPECT_EQ(Walk(entries).message(),
            "entry 4: prev_hash does not match the leaf hash of entry 3 (an "
            "entry was "
            "changed, inserted or reordered)");
}

TEST(ChainVerifierTest, NamesTheFirstEntryAfterADroppedOne) {
  auto entries = Chain(10);
  entries.erase(entries.begin() + 6);
  EXPECT_EQ(Walk(entries).message(),
            "entry 6: its index field says 7 (entries missing or reordered "
            "before it)");
}

TEST(ChainVerifierTest, NamesSwappedEntries) {
  auto entries = Chain(10);
  std::swap(entries[2], entries[3]);
  EXPECT_EQ(Walk(entries).message(),
            "entry 2: its index field says 3 (entries missing or reordered "
            "before it)");
}

TEST(ChainVerifierTest, NamesAnInsertedEntry) {
  auto entries = Chain(10);
  entries.insert(entries.begin() + 5, entries[4]);
  EXPECT_EQ(Walk(entries).message(),
            "entry 5: its index field says 4 (entries reordered or inserted)");
}

TEST(ChainVerifierTest, RejectsBytesThatDoNotParse) {
  auto entries = Chain(3);
  entries[1] = "\xff\xff\xff";
  EXPECT_EQ(Walk(entries).message(),
            "entry 1: bytes do not parse as a LogEntry (entry changed)");
}

}  // namespace
}  // namespace custos::audit
