// Decision benchmark: Decide() with the default policy over 1,000 staff and
// 10,000 customers, one thread. Reports decisions/s and p50/p99 latency,
// against a baseline of copying the same facts (what any decision must at
// least touch), in the same process.
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "policy/decide.h"
#include "policy/default_policy.h"

namespace custos::policy {
namespace {

void Run() {
  auto policy = *Policy::Parse(kDefaultPolicy, "default_policy.textproto");
  const std::vector<std::string> roles = {"support", "developer", "tester", "deliverability",
                                          "account_manager"};
  const std::vector<std::string> categories = {"support", "bug", "feature", "abuse", "prep"};
  std::vector<custos::v1::StaffMember> staff(1000);
  for (size_t i = 0; i < staff.size(); ++i) {
    staff[i].set_staff_id(absl::StrCat("staff", i));
    staff[i].add_roles(roles[i % roles.size()]);
    staff[i].set_contract(i % 10 == 0 ? custos::v1::CONTRACTOR : custos::v1::DUTCH_EMPLOYMENT);
    staff[i].set_confidentiality_clause(true);
    staff[i].set_contract_start("2020-01-01");
    staff[i].set_active(true);
  }
  std::vector<custos::v1::Customer> customers(10000);
  for (size_t i = 0; i < customers.size(); ++i) {
    customers[i].set_customer_id(absl::StrCat("customer", i));
    customers[i].set_requires_approval(i % 7 == 0);
  }
  std::mt19937 random(1);
  constexpr int kDecisions = 1000000;
  std::vector<AccessFacts> requests(4096);
  for (AccessFacts& f : requests) {
    const auto& s = staff[random() % staff.size()];
    const auto& c = customers[random() % customers.size()];
    f.staff = &s;
    f.customer = &c;
    // Three in four requests fit the staff member's role; the rest are
    // random and mostly refused.
    const std::string& role = s.roles(0);
    const bool fits = random() % 4 != 0;
    static const std::map<std::string, std::pair<std::string, custos::v1::ReferenceKind>> kFit = {
        {"support", {"support", custos::v1::SUPPORT_TICKET}},
        {"developer", {"bug", custos::v1::BUG_REPORT}},
        {"tester", {"feature", custos::v1::FEATURE_REQUEST}},
        {"deliverability", {"abuse", custos::v1::ABUSE_SIGNAL}},
        {"account_manager", {"prep", custos::v1::MEETING}}};
    f.category = fits ? kFit.at(role).first : categories[random() % categories.size()];
    f.reference = "REF-1";
    f.found_reference = Reference{
        "REF-1",
        fits ? kFit.at(role).second : static_cast<custos::v1::ReferenceKind>(1 + random() % 6),
        c.customer_id(), true};
    f.placement = {random() % 20 == 0 ? "DE" : "NL", "office"};
    f.now = absl::Now();
  }
  std::vector<double> nanos;
  nanos.reserve(kDecisions);
  int allowed = 0;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kDecisions; ++i) {
    const AccessFacts& f = requests[i % requests.size()];
    const absl::Time t0 = absl::Now();
    const custos::v1::Decision d = Decide(*policy, f);
    nanos.push_back(absl::ToDoubleNanoseconds(absl::Now() - t0));
    allowed += d.verdict() == custos::v1::ALLOW;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  // Baseline: copying the facts a decision reads, with the same timing.
  std::vector<double> base;
  base.reserve(kDecisions);
  size_t sink = 0;
  for (int i = 0; i < kDecisions; ++i) {
    const absl::Time t0 = absl::Now();
    AccessFacts copy = requests[i % requests.size()];
    sink += copy.category.size();
    base.push_back(absl::ToDoubleNanoseconds(absl::Now() - t0));
  }
  std::sort(nanos.begin(), nanos.end());
  std::sort(base.begin(), base.end());
  std::printf("decide  %d decisions, 1,000 staff, 10,000 customers, default policy, 1 thread: "
              "%.0f decisions/s, p50 %.2f us, p99 %.2f us (%d allowed)\n",
              kDecisions, kDecisions / seconds, nanos[nanos.size() / 2] / 1000,
              nanos[nanos.size() * 99 / 100] / 1000, allowed);
  std::printf("baseline copying the facts: p50 %.2f us, p99 %.2f us (sink %zu)\n",
              base[base.size() / 2] / 1000, base[base.size() * 99 / 100] / 1000, sink);
}

}  // namespace
}  // namespace custos::policy

int main() {
  custos::policy::Run();
  return 0;
}
