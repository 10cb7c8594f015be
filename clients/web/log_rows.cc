#include "clients/web/log_rows.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "clients/web/html.h"
#include "clients/web/web_security.h"
#include "google/protobuf/util/time_util.h"

namespace custos::web {

LogRow ToRow(const custos::v1::LogEntry& e, absl::string_view secret,
             absl::string_view customer_id) {
  LogRow row;
  row.index = e.index();
  row.when = ShowTime(absl::FromUnixMicros(
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(e.time())));
  switch (e.actor().kind()) {
    case custos::v1::ACTOR_STAFF:
      row.who =
          absl::StrCat(absl::StrJoin(e.actor().roles(), "+"), " ",
                       StaffPseudonym(secret, customer_id, e.actor().id()));
      break;
    case custos::v1::ACTOR_CUSTOMER:
      // An entry about this account may be another customer's refused
      // call (ending a session of this account, say): not "you".
      row.who = e.actor().id() == customer_id ? "you" : "another customer";
      break;
    case custos::v1::ACTOR_SYSTEM:
      row.who = "custosd";
      break;
    default:
      row.who = "unknown caller";
  }
  if (!e.actor().via().empty())
    absl::StrAppend(&row.who, " via ", e.actor().via());
  row.country = e.actor().country().empty() ? "unplaced" : e.actor().country();
  row.category = e.category();
  row.reference = e.reference();
  row.action = e.action();
  row.read = e.resource();
  if (e.data_kind() != custos::v1::DATA_KIND_UNSPECIFIED) {
    row.read = absl::StrCat(custos::v1::DataKind_Name(e.data_kind()), " ×",
                            e.record_count(), " (", e.resource(), ")");
  }
  row.outcome = std::string(
      absl::StripPrefix(custos::v1::Outcome_Name(e.outcome()), "OUTCOME_"));
  return row;
}

}  // namespace custos::web
