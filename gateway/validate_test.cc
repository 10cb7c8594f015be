#include "gateway/validate.h"

#include "gtest/gtest.h"
#include "policy/default_policy.h"

namespace custos::gateway {
namespace {

custos::v1::RequestAccessRequest Valid() {
  custos::v1::RequestAccessRequest request;
  request.set_customer_id("acme");
  request.mutable_justification()->set_category("support");
  request.mutable_justification()->set_reference("SUP-1042");
  return request;
}

absl::Status Check(const custos::v1::RequestAccessRequest& request) {
  static const auto* policy = new std::shared_ptr<const policy::Policy>(
      *policy::Policy::Parse(kDefaultPolicy, "default_policy"));
  return ValidateRequestAccess(request, **policy);
}

TEST(ValidateRequestAccessTest, AcceptsWellFormedRequest) {
  EXPECT_TRUE(Check(Valid()).ok());
}

TEST(ValidateRequestAccessTest, NamesTheFieldAndWhatWasExpected) {
  struct Case {
    std::function<void(custos::v1::RequestAccessRequest&)> mutate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.clear_customer_id(); }, "customer_id: required"},
      {[](auto& r) { r.set_customer_id("Acme; DROP TABLE"); },
       "customer_id: 1 to 64 characters of a-z, 0-9, '.', '-' or '_'"},
      {[](auto& r) { r.mutable_justification()->clear_category(); },
       "justification.category: required"},
      {[](auto& r) { r.mutable_justification()->set_category("curiosity"); },
       "justification.category: one of abuse, billing, bug, feature, prep, "
       "support"},
      {[](auto& r) { r.mutable_justification()->clear_reference(); },
       "justification.reference: required"},
      {[](auto& r) {
         r.mutable_justification()->set_reference(std::string(129, 'x'));
       },
       "justification.reference: at most 128 bytes, got 129"},
      {[](auto& r) { r.mutable_justification()->set_reference("a\nb"); },
       "justification.reference: no control characters (found one at offset "
       "1)"},
      {[](auto& r) { r.mutable_justification()->set_note("\xC0\xAF"); },
       "justification.note: valid UTF-8 (bad byte at offset 0)"},
      {[](auto& r) { r.add_data_kinds(custos::v1::DATA_KIND_UNSPECIFIED); },
       "data_kinds[0]: a known DataKind, got 0"},
      {[](auto& r) { r.add_data_kinds(static_cast<custos::v1::DataKind>(99)); },
       "data_kinds[0]: a known DataKind, got 99"},
      {[](auto& r) { r.mutable_duration()->set_seconds(-5); },
       "duration: more than 0 and at most 30 days"},
  };
  for (const Case& c : cases) {
    auto request = Valid();
    c.mutate(request);
    const absl::Status status = Check(request);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(status.message(), c.message);
  }
}

TEST(ValidateTextTest, AcceptsMultibyteUtf8AndRejectsSurrogates) {
  EXPECT_TRUE(ValidateText("f", "Koß – 東京 🚲", 64, true).ok());
  EXPECT_FALSE(ValidateText("f", "\xED\xA0\x80", 64, true).ok());  // U+D800
  EXPECT_FALSE(
      ValidateText("f", "\xF4\x90\x80\x80", 64, true).ok());   // > U+10FFFF
  EXPECT_FALSE(ValidateText("f", "\xE2\x82", 64, true).ok());  // truncated
}

TEST(ValidateListEntriesTest, RejectsOutOfRangePageSize) {
  custos::v1::ListEntriesRequest request;
  request.set_page_size(1001);
  EXPECT_EQ(ValidateListEntries(request).message(), "page_size: 0 to 1000");
  request.set_page_size(10);
  request.set_outcome(static_cast<custos::v1::Outcome>(42));
  EXPECT_EQ(ValidateListEntries(request).message(),
            "outcome: a known Outcome, got 42");
}

}  // namespace
}  // namespace custos::gateway
