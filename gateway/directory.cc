#include "gateway/directory.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace custos::gateway {
namespace {

// Collects the text parser's messages, which name line and column, instead
// of letting protobuf print them to stderr.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat("line ", line + 1, ", column ", column + 1,
                                   ": ", message));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

absl::Status Invalid(absl::string_view source, absl::string_view where,
                     absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": ", where, ": ", what));
}

absl::Status ValidateStaff(const custos::v1::StaffMember& s, int i,
                           absl::string_view source) {
  const std::string where =
      absl::StrCat("staff[", i, "] (\"", s.staff_id(), "\")");
  if (!IsValidId(s.staff_id())) {
    return Invalid(source, where, "staff_id: expected 1 to 64 of [a-z0-9._-]");
  }
  if (s.contract() == custos::v1::CONTRACT_TYPE_UNSPECIFIED) {
    return Invalid(source, where, "contract: required");
  }
  if (!IsValidDate(s.contract_start())) {
    return Invalid(source, where, "contract_start: expected YYYY-MM-DD");
  }
  if (!s.contract_end().empty() && !IsValidDate(s.contract_end())) {
    return Invalid(source, where, "contract_end: expected YYYY-MM-DD or empty");
  }
  if (s.contract() == custos::v1::PARTNER &&
      !IsValidId(s.partner_organisation())) {
    return Invalid(source, where,
                   "partner_organisation: required for PARTNER staff");
  }
  for (const std::string& role : s.roles()) {
    if (!IsValidId(role)) {
      return Invalid(source, where, "roles: expected [a-z0-9._-] names");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCustomer(const custos::v1::Customer& c, int i,
                              absl::string_view source) {
  const std::string where =
      absl::StrCat("customers[", i, "] (\"", c.customer_id(), "\")");
  if (!IsValidId(c.customer_id())) {
    return Invalid(source, where,
                   "customer_id: expected 1 to 64 of [a-z0-9._-]");
  }
  absl::flat_hash_set<std::string> users;
  for (const auto& user : c.users()) {
    if (!IsValidId(user.user_id())) {
      return Invalid(source, where,
                     "users.user_id: expected 1 to 64 of [a-z0-9._-]");
    }
    if (!users.insert(user.user_id()).second) {
      return Invalid(
          source, where,
          absl::StrCat("users: duplicate user_id \"", user.user_id(), "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsValidDate(absl::string_view date) {
  if (date.size() != 10) return false;
  absl::CivilDay day;
  // ParseCivilTime normalizes out-of-range fields; reformatting catches that.
  return absl::ParseCivilTime(date, &day) && absl::FormatCivilTime(day) == date;
}

absl::StatusOr<std::unique_ptr<Directory>> Directory::Parse(
    absl::string_view text, absl::string_view source_name) {
  custos::v1::Directory proto;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &proto)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": ", errors.Joined()));
  }
  absl::flat_hash_set<std::string> staff_ids, customer_ids;
  for (int i = 0; i < proto.staff_size(); ++i) {
    const auto& s = proto.staff(i);
    if (auto st = ValidateStaff(s, i, source_name); !st.ok()) return st;
    if (!staff_ids.insert(s.staff_id()).second) {
      return Invalid(source_name, absl::StrCat("staff[", i, "]"),
                     absl::StrCat("duplicate staff_id \"", s.staff_id(), "\""));
    }
  }
  for (int i = 0; i < proto.customers_size(); ++i) {
    const auto& c = proto.customers(i);
    if (auto st = ValidateCustomer(c, i, source_name); !st.ok()) return st;
    if (!customer_ids.insert(c.customer_id()).second) {
      return Invalid(
          source_name, absl::StrCat("customers[", i, "]"),
          absl::StrCat("duplicate customer_id \"", c.customer_id(), "\""));
    }
  }
  return std::unique_ptr<Directory>(new Directory(std::move(proto)));
}

Directory::Directory(custos::v1::Directory directory)
    : directory_(std::move(directory)) {
  for (const auto& s : directory_.staff()) {
    staff_[s.staff_id()] = &s;
    if (!s.partner_organisation().empty())
      partner_organisations_.push_back(s.partner_organisation());
  }
  for (const auto& c : directory_.customers()) customers_[c.customer_id()] = &c;
  std::sort(partner_organisations_.begin(), partner_organisations_.end());
  partner_organisations_.erase(
      std::unique(partner_organisations_.begin(), partner_organisations_.end()),
      partner_organisations_.end());
}

const custos::v1::StaffMember* Directory::FindStaff(
    absl::string_view staff_id) const {
  auto it = staff_.find(staff_id);
  return it == staff_.end() ? nullptr : it->second;
}

const custos::v1::Customer* Directory::FindCustomer(
    absl::string_view customer_id) const {
  auto it = customers_.find(customer_id);
  return it == customers_.end() ? nullptr : it->second;
}

std::vector<std::string> Directory::StaffIds() const {
  std::vector<std::string> ids;
  ids.reserve(directory_.staff_size());
  for (const auto& s : directory_.staff()) ids.push_back(s.staff_id());
  return ids;
}

}  // namespace custos::gateway
