#include "gateway/data/demo_customer_data.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "common/sqlite_file_testing.h"
#include "gateway/demo_directory.h"
#include "gateway/directory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/default_policy.h"
#include "policy/policy.h"

namespace custos::gateway {
namespace {

std::unique_ptr<DemoCustomerData> OpenDemo(const std::string& name) {
  auto directory = Directory::Parse(kDemoDirectory, "demo");
  EXPECT_TRUE(directory.ok()) << directory.status();
  auto data = DemoCustomerData::Open(
      std::string(std::getenv("TEST_TMPDIR")) + "/" + name,
      (*directory)->proto());
  EXPECT_TRUE(data.ok()) << data.status();
  return *std::move(data);
}

// A mask keeps a whole first character, never the first byte of one: a
// record's fields are proto3 strings, and a client refuses a response
// holding one that is not UTF-8, after the read was logged and counted.
TEST(MaskRecordsTest, KeepsAWholeFirstCharacter) {
  std::vector<custos::v1::Record> records(4);
  (*records[0].mutable_fields())["name"] = "\xC3\x89mile";            // Émile
  (*records[1].mutable_fields())["name"] = "\xF0\x9F\x98\x80 Smile";  // U+1F600
  (*records[2].mutable_fields())["name"] = "\xC3";  // A lead byte alone.
  (*records[3].mutable_fields())["name"] = "Anna";
  (*records[0].mutable_fields())["email"] = "\xC3\x98yvind@example.no";
  (*records[1].mutable_fields())["email"] = "\x80x@example.no";
  const std::vector<std::string> applied =
      MaskRecords(custos::v1::SUBSCRIBERS,
                  {"SUBSCRIBERS.name", "SUBSCRIBERS.email"}, records);
  EXPECT_THAT(applied,
              ::testing::ElementsAre("SUBSCRIBERS.name", "SUBSCRIBERS.email"));
  EXPECT_EQ(records[0].fields().at("name"), "\xC3\x89***");
  EXPECT_EQ(records[1].fields().at("name"), "\xF0\x9F\x98\x80***");
  EXPECT_EQ(records[2].fields().at("name"), "***");
  EXPECT_EQ(records[3].fields().at("name"), "A***");
  EXPECT_EQ(records[0].fields().at("email"), "\xC3\x98***@example.no");
  EXPECT_EQ(records[1].fields().at("email"), "***@example.no");
}

// The fields the demo says its records have are the ones they have: the
// policy's masks are checked against them.
TEST(DemoCustomerDataTest, SaysTheFieldsItsRecordsHave) {
  const auto data = OpenDemo("fields.db");
  for (int k = custos::v1::DataKind_MIN; k <= custos::v1::DataKind_MAX; ++k) {
    const auto kind = static_cast<custos::v1::DataKind>(k);
    if (!custos::v1::DataKind_IsValid(k) ||
        kind == custos::v1::DATA_KIND_UNSPECIFIED ||
        kind == custos::v1::AGGREGATES) {
      continue;
    }
    const auto fields = data->FieldNames(kind);
    ASSERT_TRUE(fields.has_value()) << custos::v1::DataKind_Name(kind);
    auto page = data->Read("acme", kind, 500, "", "");
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_FALSE(page->records.empty()) << custos::v1::DataKind_Name(kind);
    for (const auto& record : page->records) {
      for (const auto& [name, value] : record.fields()) {
        EXPECT_NE(std::find(fields->begin(), fields->end(), name),
                  fields->end())
            << custos::v1::DataKind_Name(kind) << "." << name;
      }
    }
  }
}

// Following a kind's pages reaches each of its records once; a token of
// another kind's pages, or any for AGGREGATES, is refused, naming
// page_token, instead of starting the list somewhere in the middle.
TEST(DemoCustomerDataTest, PageTokensBelongToTheirKindsList) {
  const auto data = OpenDemo("pages.db");
  auto all = data->Read("acme", custos::v1::SUBSCRIBERS, 500, "", "");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_GT(all->records.size(), 3u);
  std::vector<std::string> paged;
  std::string token;
  do {
    auto page = data->Read("acme", custos::v1::SUBSCRIBERS, 2, token, "");
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& record : page->records) paged.push_back(record.id());
    token = page->next_page_token;
  } while (!token.empty());
  std::vector<std::string> ids;
  for (const auto& record : all->records) ids.push_back(record.id());
  EXPECT_EQ(paged, ids);

  auto first = data->Read("acme", custos::v1::SUBSCRIBERS, 1, "", "");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->next_page_token.empty());
  for (const custos::v1::DataKind other :
       {custos::v1::CAMPAIGNS, custos::v1::AGGREGATES}) {
    const auto refused =
        data->Read("acme", other, 10, first->next_page_token, "");
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
        << custos::v1::DataKind_Name(other);
    EXPECT_THAT(std::string(refused.status().message()),
                ::testing::StartsWith("page_token: "));
  }
  // One made up from a record id, as the tokens before kinds were.
  EXPECT_EQ(data->Read("acme", custos::v1::CAMPAIGNS, 10,
                       "r" + all->records[0].id(), "")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// A policy masking a field no record has would serve the data in clear:
// refused, naming the category, the field and the fields there are.
TEST(DemoCustomerDataTest, RefusesAMaskOfAFieldNoRecordHas) {
  const auto data = OpenDemo("masks.db");
  auto policy = policy::Policy::Parse(kDefaultPolicy, "default");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(CheckMaskedFields((*policy)->file(), *data).ok());
  custos::v1::PolicyFile typo = (*policy)->file();
  for (auto& category : *typo.mutable_categories()) {
    if (category.masked_fields_size() > 0) {
      category.set_masked_fields(0, "SUBSCRIBERS.e_mail");
    }
  }
  const absl::Status refused = CheckMaskedFields(typo, *data);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(),
              ::testing::HasSubstr("masked_fields: SUBSCRIBERS records have "
                                   "no field \"e_mail\" (they have name, "
                                   "email, status, city)"));
}

// A file that cannot be read answers UNAVAILABLE, for the aggregates as
// for records: not NOT_FOUND, as if the customer had no data, nor the
// counts read before the error as the whole.
TEST(DemoCustomerDataTest, AggregatesOfAFileThatCannotBeReadAreUnavailable) {
  const auto data = OpenDemo("aggregates-gone.db");
  const auto before = data->Read("acme", custos::v1::AGGREGATES, 10, "", "");
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->records.size(), 1u);
  EXPECT_EQ(before->records[0].fields().at("SUBSCRIBERS_count"), "60");
  ASSERT_TRUE(ExecSqlite(
      std::string(std::getenv("TEST_TMPDIR")) + "/aggregates-gone.db",
      "ALTER TABLE records RENAME TO records_gone"));
  const auto after = data->Read("acme", custos::v1::AGGREGATES, 10, "", "");
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(after.status().message()),
              ::testing::StartsWith("customer data: reading aggregates: "));
  EXPECT_EQ(
      data->Read("acme", custos::v1::SUBSCRIBERS, 10, "", "").status().code(),
      absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace custos::gateway
