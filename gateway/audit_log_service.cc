#include "gateway/audit_log_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gateway/audited_call.h"
#include "gateway/validate.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Status ListEntries(const Gateway& gateway, AuditedCall& call,
                         const custos::v1::ListEntriesRequest& request,
                         custos::v1::ListEntriesResponse& response) {
  if (!call.caller().authenticated()) return call.caller().status;
  if (auto s = ValidateListEntries(request); !s.ok()) return s;

  const custos::v1::StaffMember& staff = *call.caller().staff;
  call.entry().set_customer_id(request.customer_id());
  call.entry().set_resource("log/entries");
  audit::LogStore::Filter filter;
  filter.customer_id = request.customer_id();
  filter.actor_id = request.staff_id();
  filter.category = request.category();
  filter.outcome = request.outcome();
  if (request.has_from()) filter.from = ToTime(request.from());
  if (request.has_to()) filter.to = ToTime(request.to());
  // Staff other than the DPO see only what they did themselves.
  if (!IsDpo(staff)) {
    if (!request.staff_id().empty() && request.staff_id() != staff.staff_id()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "staff_id: only the DPO may read another staff member's entries; ",
          staff.staff_id(), " may read their own"));
    }
    filter.actor_id = staff.staff_id();
  }
  const int page_size = request.page_size() == 0 ? 100 : request.page_size();
  auto page = gateway.log->List(filter, page_size, request.page_token());
  if (!page.ok()) return page.status();
  for (auto& e : page->entries) *response.add_entries() = std::move(e);
  response.set_next_page_token(page->next_page_token);
  response.set_log_size(page->log_size);
  call.entry().set_record_count(response.entries_size());
  return absl::OkStatus();
}

}  // namespace

bool IsDpo(const custos::v1::StaffMember& staff) {
  return std::find(staff.roles().begin(), staff.roles().end(), "dpo") !=
         staff.roles().end();
}

grpc::ServerUnaryReactor* AuditLogService::ListEntries(
    grpc::CallbackServerContext* context,
    const custos::v1::ListEntriesRequest* request,
    custos::v1::ListEntriesResponse* response) {
  AuditedCall call(gateway_, context, "AuditLog.ListEntries");
  absl::Status answer =
      custos::gateway::ListEntries(*gateway_, call, *request, *response);
  return call.Finish(std::move(answer));
}

}  // namespace custos::gateway
