#include "clients/web/log_rows.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "clients/web/web_security.h"
#include "google/protobuf/util/time_util.h"

namespace custos::web {
namespace {

custos::v1::LogEntry Entry(custos::v1::ActorKind kind, const char* id) {
  custos::v1::LogEntry e;
  e.set_index(742);
  *e.mutable_time() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1'800'000'000);
  e.mutable_actor()->set_kind(kind);
  e.mutable_actor()->set_id(id);
  e.mutable_actor()->set_country("NL");
  e.set_customer_id("acme");
  e.set_action("TakeIdentity.EndSession");
  e.set_resource("session/s_1");
  e.set_outcome(custos::v1::OUTCOME_REFUSED);
  return e;
}

TEST(LogRowTest, OnlyTheCustomersOwnCallsAreYou) {
  custos::v1::LogEntry own = Entry(custos::v1::ACTOR_CUSTOMER, "acme");
  own.mutable_actor()->set_via("custos-web");
  EXPECT_EQ(ToRow(own, "secret", "acme").who, "you via custos-web");
  // An entry about acme's account made by another customer (a refused end
  // of one of acme's sessions) names neither them nor acme.
  const LogRow theirs =
      ToRow(Entry(custos::v1::ACTOR_CUSTOMER, "nordwind"), "secret", "acme");
  EXPECT_EQ(theirs.who, "another customer");
  EXPECT_EQ(ToRow(Entry(custos::v1::ACTOR_CUSTOMER, ""), "secret", "acme").who,
            "another customer");
}

TEST(LogRowTest, ShowsStaffByRoleAndPseudonym) {
  custos::v1::LogEntry e = Entry(custos::v1::ACTOR_STAFF, "anna.support");
  e.mutable_actor()->add_roles("support");
  e.mutable_actor()->add_roles("tester");
  e.set_category("support");
  e.set_reference("SUP-1042");
  e.set_data_kind(custos::v1::SUBSCRIBERS);
  e.set_record_count(3);
  const LogRow row = ToRow(e, "secret", "acme");
  EXPECT_EQ(row.index, 742u);
  EXPECT_EQ(row.when, "2027-01-15 08:00:00 UTC");
  EXPECT_EQ(row.who,
            absl::StrCat("support+tester ",
                         StaffPseudonym("secret", "acme", "anna.support")));
  EXPECT_EQ(row.country, "NL");
  EXPECT_EQ(row.category, "support");
  EXPECT_EQ(row.reference, "SUP-1042");
  EXPECT_EQ(row.action, "TakeIdentity.EndSession");
  EXPECT_EQ(row.read, "SUBSCRIBERS ×3 (session/s_1)");
  EXPECT_EQ(row.outcome, "REFUSED");
}

}  // namespace
}  // namespace custos::web
