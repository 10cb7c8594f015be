#include "policy/policy.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/openssl.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace custos::policy {
namespace {

using google::protobuf::TextFormat;

constexpr absl::Duration kLongestGrant = absl::Hours(24 * 30);

class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(absl::string_view source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty())
      first_ =
          absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string source_;
  std::string first_;
};

bool IsName(absl::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
                  c == '_' || c == '-';
         });
}

bool IsCountry(absl::string_view country) {
  return country.size() == 2 && absl::ascii_isupper(country[0]) &&
         absl::ascii_isupper(country[1]);
}

bool IsBillingKind(int kind) {
  return kind == custos::v1::INVOICES ||
         kind == custos::v1::BILLING_ADDRESSES ||
         kind == custos::v1::PAYMENT_METHODS;
}

// Finds where fields were written, so errors can name their lines.
class Locator {
 public:
  Locator(const TextFormat::ParseInfoTree* tree, absl::string_view source)
      : tree_(tree), source_(source) {}

  // "<source>:<line>: <path>: <what>", at the line of `field` inside the
  // `index`-th element of the top-level repeated field `parent` (or of the
  // top level when `parent` is empty).
  absl::Status Error(absl::string_view parent, int index,
                     absl::string_view field, absl::string_view what) const {
    const auto* top = custos::v1::PolicyFile::descriptor();
    const TextFormat::ParseInfoTree* tree = tree_;
    int line = -1;
    std::string path;
    if (!parent.empty()) {
      const auto* parent_field = top->FindFieldByName(std::string(parent));
      const TextFormat::ParseInfoTree* nested =
          parent_field ? tree->GetTreeForNested(parent_field, index) : nullptr;
      if (parent_field) line = tree->GetLocation(parent_field, index).line;
      path = absl::StrCat(parent, "[", index, "]");
      if (nested != nullptr && !field.empty()) {
        const auto* message = parent_field->message_type();
        const auto* child = message->FindFieldByName(std::string(field));
        if (child != nullptr) {
          const int at =
              nested->GetLocation(child, child->is_repeated() ? 0 : -1).line;
          if (at >= 0) line = at;
        }
      }
      if (!field.empty()) absl::StrAppend(&path, ".", field);
    } else {
      const auto* child = top->FindFieldByName(std::string(field));
      if (child != nullptr)
        line = tree->GetLocation(child, child->is_repeated() ? 0 : -1).line;
      path = std::string(field);
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source_, line >= 0 ? absl::StrCat(":", line + 1) : "",
                     ": ", path, ": ", what));
  }

 private:
  const TextFormat::ParseInfoTree* tree_;
  std::string source_;
};

absl::StatusOr<absl::Duration> ParsePositiveDuration(absl::string_view text) {
  absl::Duration d;
  // "inf" parses too: kept for ever, a full address would never be masked.
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "expected a positive, finite duration such as 30m or 8h");
  }
  return d;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Parse(
    absl::string_view text, absl::string_view source_name) {
  std::shared_ptr<Policy> policy(new Policy());
  TextFormat::Parser parser;
  ErrorCollector errors(source_name);
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(std::string(text), &policy->file_)) {
    return absl::InvalidArgumentError(errors.first());
  }
  const Locator at(&tree, source_name);
  const custos::v1::PolicyFile& file = policy->file_;

  if (!IsCountry(file.home_country())) {
    return at.Error("", 0, "home_country",
                    "expected an ISO 3166 code such as \"NL\"");
  }
  policy->time_zone_ = absl::UTCTimeZone();
  if (!file.time_zone().empty() &&
      !absl::LoadTimeZone(file.time_zone(), &policy->time_zone_)) {
    return at.Error("", 0, "time_zone",
                    absl::StrCat("expected an IANA time zone such as "
                                 "\"Europe/Amsterdam\", got \"",
                                 file.time_zone(),
                                 "\" (is the tzdata package installed?)"));
  }
  if (file.customer_data_contracts_size() == 0) {
    return at.Error("", 0, "customer_data_contracts",
                    "name at least one contract type (e.g. DUTCH_EMPLOYMENT)");
  }
  for (int contract : file.customer_data_contracts()) {
    if (contract == custos::v1::CONTRACT_TYPE_UNSPECIFIED) {
      return at.Error("", 0, "customer_data_contracts",
                      "CONTRACT_TYPE_UNSPECIFIED is not a contract");
    }
  }

  absl::flat_hash_set<std::string> roles;
  for (int i = 0; i < file.roles_size(); ++i) {
    if (!IsName(file.roles(i).name())) {
      return at.Error("roles", i, "name", "expected a lowercase name");
    }
    if (!roles.insert(file.roles(i).name()).second) {
      return at.Error(
          "roles", i, "name",
          absl::StrCat("duplicate role \"", file.roles(i).name(), "\""));
    }
  }

  for (int i = 0; i < file.categories_size(); ++i) {
    const custos::v1::Category& c = file.categories(i);
    if (!IsName(c.name()))
      return at.Error("categories", i, "name", "expected a lowercase name");
    if (policy->categories_.contains(c.name())) {
      return at.Error("categories", i, "name",
                      absl::StrCat("duplicate category \"", c.name(), "\""));
    }
    if (c.grantees_size() == 0) {
      return at.Error("categories", i, "grantees",
                      "name at least one role that may use it");
    }
    for (const auto& grantee : c.grantees()) {
      if (!roles.contains(grantee.role())) {
        return at.Error(
            "categories", i, "grantees",
            absl::StrCat("unknown role \"", grantee.role(), "\"; roles are ",
                         absl::StrJoin(std::vector<std::string>(roles.begin(),
                                                                roles.end()),
                                       ", ")));
      }
      if (grantee.references_size() == 0 && !c.company_data()) {
        return at.Error(
            "categories", i, "grantees",
            absl::StrCat("role \"", grantee.role(),
                         "\" needs the reference kinds it must present"));
      }
      for (int kind : grantee.references()) {
        if (kind == custos::v1::REFERENCE_KIND_UNSPECIFIED) {
          return at.Error("categories", i, "grantees",
                          "REFERENCE_KIND_UNSPECIFIED is not a reference kind");
        }
      }
    }
    if (c.data_kinds_size() == 0) {
      return at.Error("categories", i, "data_kinds",
                      "name the data kinds it reaches");
    }
    for (int kind : c.data_kinds()) {
      if (kind == custos::v1::DATA_KIND_UNSPECIFIED) {
        return at.Error("categories", i, "data_kinds",
                        "DATA_KIND_UNSPECIFIED is not a data kind");
      }
      if (IsBillingKind(kind) != c.company_data()) {
        return at.Error(
            "categories", i, "data_kinds",
            c.company_data()
                ? "a company_data category reaches only INVOICES, "
                  "BILLING_ADDRESSES, PAYMENT_METHODS"
                : "billing data kinds belong in a company_data category");
      }
    }
    if (c.aggregates_only() && (c.data_kinds_size() != 1 ||
                                c.data_kinds(0) != custos::v1::AGGREGATES)) {
      return at.Error("categories", i, "data_kinds",
                      "an aggregates_only category reaches AGGREGATES only");
    }
    if (c.company_data() && c.contracts_size() == 0) {
      return at.Error(
          "categories", i, "contracts",
          "a company_data category names the contract types that may use it");
    }
    for (const std::string& masked : c.masked_fields()) {
      std::vector<std::string> parts =
          absl::StrSplit(masked, absl::MaxSplits('.', 1));
      custos::v1::DataKind kind;
      if (parts.size() != 2 || parts[1].empty() ||
          !custos::v1::DataKind_Parse(parts[0], &kind) ||
          std::find(c.data_kinds().begin(), c.data_kinds().end(), kind) ==
              c.data_kinds().end()) {
        return at.Error(
            "categories", i, "masked_fields",
            absl::StrCat("\"", masked,
                         "\": expected KIND.field with KIND among data_kinds"));
      }
    }
    CategoryRule rule{&c, absl::ZeroDuration(), absl::ZeroDuration()};
    auto default_duration = ParsePositiveDuration(c.default_duration());
    if (!default_duration.ok()) {
      return at.Error("categories", i, "default_duration",
                      default_duration.status().message());
    }
    auto max_duration = ParsePositiveDuration(c.max_duration());
    if (!max_duration.ok()) {
      return at.Error("categories", i, "max_duration",
                      max_duration.status().message());
    }
    if (*max_duration < *default_duration || *max_duration > kLongestGrant) {
      return at.Error("categories", i, "max_duration",
                      "must be at least default_duration and at most 720h");
    }
    rule.default_duration = *default_duration;
    rule.max_duration = *max_duration;
    policy->categories_.emplace(c.name(), rule);
    policy->category_names_.push_back(c.name());
  }
  if (file.categories_size() == 0)
    return at.Error("", 0, "categories", "name at least one category");
  std::sort(policy->category_names_.begin(), policy->category_names_.end());

  std::vector<NetworkRule> networks;
  for (int i = 0; i < file.networks_size(); ++i) {
    const auto& n = file.networks(i);
    if (!IsCountry(n.country())) {
      return at.Error("networks", i, "country",
                      "expected an ISO 3166 code such as \"NL\"");
    }
    networks.push_back({n.cidr(), n.country(), n.label()});
  }
  auto network_map = NetworkMap::Create(networks);
  if (!network_map.ok()) {
    // NetworkMap names the rule's index; find its line.
    for (int i = 0; i < file.networks_size(); ++i) {
      const auto alone =
          NetworkMap::Create({{file.networks(i).cidr(), "NL", ""}});
      if (!alone.ok()) {
        // Its message less the index it has alone: `"CIDR": what is wrong`.
        return at.Error("networks", i, "cidr",
                        std::string(absl::StripPrefix(alone.status().message(),
                                                      "networks[0].cidr ")));
      }
    }
    return network_map.status();
  }
  policy->networks_ = *std::move(network_map);

  policy->random_check_window_ = absl::Hours(24 * 30);
  if (file.random_checks().max_draws() > 0) {
    auto window = ParsePositiveDuration(file.random_checks().window());
    if (!window.ok())
      return at.Error("", 0, "random_checks", window.status().message());
    policy->random_check_window_ = *window;
  }
  policy->keep_full_source_address_ = absl::Hours(24 * 14);
  if (!file.retention().full_source_address().empty()) {
    auto keep = ParsePositiveDuration(file.retention().full_source_address());
    if (!keep.ok())
      return at.Error("", 0, "retention", keep.status().message());
    policy->keep_full_source_address_ = *keep;
  }
  policy->version_ =
      absl::StrCat("sha256:", HexEncode(Sha256(text)).substr(0, 16));
  return std::shared_ptr<const Policy>(std::move(policy));
}

const CategoryRule* Policy::FindCategory(absl::string_view name) const {
  auto it = categories_.find(name);
  return it == categories_.end() ? nullptr : &it->second;
}

}  // namespace custos::policy
