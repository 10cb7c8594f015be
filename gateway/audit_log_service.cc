#include "gateway/audit_log_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "gateway/audited_call.h"
#include "gateway/validate.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

// The audit log's read calls are open to staff and, for their own account,
// to customers by token.
absl::Status StaffOrCustomer(const AuditedCall& call) {
  if (call.caller().is_customer()) return absl::OkStatus();
  return call.caller().StaffStatus();
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Status ListEntries(const Gateway& gateway, AuditedCall& call,
                         const custos::v1::ListEntriesRequest& request,
                         custos::v1::ListEntriesResponse& response) {
  if (auto s = StaffOrCustomer(call); !s.ok()) return s;
  if (auto s = ValidateListEntries(request); !s.ok()) return s;

  // A customer's entry is filed under their own account (AuditedCall set
  // it): they see their own reads, and a refused look at another account's
  // entries does not show that account who asked.
  if (!call.caller().is_customer())
    call.entry().set_customer_id(request.customer_id());
  call.entry().set_resource("log/entries");
  audit::LogStore::Filter filter;
  filter.customer_id = request.customer_id();
  filter.actor_id = request.staff_id();
  filter.category = request.category();
  filter.outcome = request.outcome();
  if (request.has_from()) filter.from = ToTime(request.from());
  if (request.has_to()) filter.to = ToTime(request.to());
  if (call.caller().is_customer()) {
    // A customer reads every entry about their account, nothing else.
    if (!request.customer_id().empty() &&
        request.customer_id() != call.caller().customer_id) {
      return absl::PermissionDeniedError(
          "customer_id: a customer reads the entries about their own account");
    }
    filter.customer_id = call.caller().customer_id;
  } else if (const custos::v1::StaffMember& staff = *call.caller().staff;
             !IsDpo(staff)) {
    // Staff other than the DPO see only what they did themselves.
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

void FillCheckpoint(const Gateway& gateway,
                    const audit::StoredCheckpoint& stored,
                    custos::v1::Checkpoint& checkpoint) {
  checkpoint.set_note(stored.note);
  checkpoint.set_origin(gateway.log_signer->name());
  checkpoint.set_size(stored.size);
  checkpoint.set_root_hash(stored.root_hash);
  checkpoint.set_verifier_key(gateway.log_signer->verifier_key());
}

// The stored checkpoint of `size` entries, or for 0 one of the whole log.
absl::StatusOr<audit::StoredCheckpoint> CheckpointFor(const Gateway& gateway,
                                                      uint64_t size) {
  if (size != 0) {
    auto stored = gateway.log->CheckpointAt(size);
    if (stored.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(
          "tree_size: no checkpoint of size ", size,
          "; ask for 0 (the latest) or the size of a checkpoint you hold"));
    }
    return stored;
  }
  // CheckpointNow returns the latest checkpoint when it covers the whole
  // log, and signs a new one otherwise.
  return gateway.log->CheckpointNow();
}

absl::Status GetCheckpoint(const Gateway& gateway, AuditedCall& call,
                           const custos::v1::GetCheckpointRequest& request,
                           custos::v1::Checkpoint& response) {
  if (auto s = StaffOrCustomer(call); !s.ok()) return s;
  call.entry().set_resource("log/checkpoint");
  if (request.min_size() > gateway.log->Size()) {
    return absl::OutOfRangeError(
        absl::StrCat("min_size: the log has ", gateway.log->Size(),
                     " entries, fewer than ", request.min_size()));
  }
  auto stored = gateway.log->LatestCheckpoint();
  if (!stored.ok() || stored->size < request.min_size()) {
    stored = gateway.log->CheckpointNow();
  }
  if (!stored.ok()) return stored.status();
  FillCheckpoint(gateway, *stored, response);
  return absl::OkStatus();
}

absl::Status GetInclusionProof(
    const Gateway& gateway, AuditedCall& call,
    const custos::v1::GetInclusionProofRequest& request,
    custos::v1::InclusionProof& response) {
  if (auto s = StaffOrCustomer(call); !s.ok()) return s;
  call.entry().set_resource(absl::StrCat("log/entry/", request.index()));
  if (request.tree_size() != 0 && request.index() >= request.tree_size()) {
    return absl::OutOfRangeError(absl::StrCat("index: ", request.index(),
                                              " is not in a tree of size ",
                                              request.tree_size()));
  }
  if (request.index() >= gateway.log->Size()) {
    return absl::OutOfRangeError(
        absl::StrCat("index: the log has ", gateway.log->Size(),
                     " entries, so no entry ", request.index()));
  }
  // Whether the caller may see the entry first: a refused probe of another
  // account's entries must not cost a signed checkpoint.
  auto bytes = gateway.log->ReadEntryBytes(request.index());
  if (!bytes.ok()) return bytes.status();
  custos::v1::LogEntry entry;
  if (!entry.ParseFromString(*bytes)) {
    return absl::DataLossError(
        absl::StrCat("entry ", request.index(), " does not parse"));
  }
  if (call.caller().is_customer()) {
    if (entry.customer_id() != call.caller().customer_id) {
      return absl::PermissionDeniedError(absl::StrCat(
          "index: entry ", request.index(), " is not about your account"));
    }
  } else if (const custos::v1::StaffMember& staff = *call.caller().staff;
             !IsDpo(staff) && entry.actor().id() != staff.staff_id()) {
    return absl::PermissionDeniedError(
        absl::StrCat("index: entry ", request.index(), " is not one of ",
                     staff.staff_id(), "'s; only the DPO may prove any entry"));
  }
  auto checkpoint = CheckpointFor(gateway, request.tree_size());
  if (!checkpoint.ok()) return checkpoint.status();
  auto proof = gateway.log->InclusionProof(request.index(), checkpoint->size);
  if (!proof.ok()) return proof.status();
  response.set_index(request.index());
  response.set_tree_size(checkpoint->size);
  *response.mutable_entry() = std::move(entry);
  response.set_leaf_hash(audit::HashLeaf(*bytes));
  response.set_entry_bytes(std::move(*bytes));
  for (std::string& hash : *proof) response.add_hashes(std::move(hash));
  FillCheckpoint(gateway, *checkpoint, *response.mutable_checkpoint());
  return absl::OkStatus();
}

absl::Status GetConsistencyProof(
    const Gateway& gateway, AuditedCall& call,
    const custos::v1::GetConsistencyProofRequest& request,
    custos::v1::ConsistencyProof& response) {
  if (auto s = StaffOrCustomer(call); !s.ok()) return s;
  call.entry().set_resource(absl::StrCat("log/consistency/", request.old_size(),
                                         "/", request.new_size()));
  if (request.new_size() != 0 && request.old_size() > request.new_size()) {
    return absl::InvalidArgumentError("old_size: must not exceed new_size");
  }
  auto checkpoint = CheckpointFor(gateway, request.new_size());
  if (!checkpoint.ok()) return checkpoint.status();
  if (request.old_size() > checkpoint->size) {
    return absl::OutOfRangeError(absl::StrCat("old_size: ", request.old_size(),
                                              " is past the checkpoint's size ",
                                              checkpoint->size));
  }
  auto proof =
      gateway.log->ConsistencyProof(request.old_size(), checkpoint->size);
  if (!proof.ok()) return proof.status();
  response.set_old_size(request.old_size());
  response.set_new_size(checkpoint->size);
  for (std::string& hash : *proof) response.add_hashes(std::move(hash));
  FillCheckpoint(gateway, *checkpoint, *response.mutable_checkpoint());
  return absl::OkStatus();
}

absl::Status Erase(const Gateway& gateway, AuditedCall& call,
                   const custos::v1::EraseRequest& request,
                   custos::v1::EraseResponse& response) {
  if (auto s = call.caller().StaffStatus(); !s.ok()) return s;
  if (!IsDpo(*call.caller().staff)) {
    return absl::PermissionDeniedError(
        "only the DPO may erase personal data from the log");
  }
  if (auto s = ValidateErase(request); !s.ok()) return s;
  call.entry().set_resource(request.subject().empty()
                                ? absl::StrCat("log/values/older-than/",
                                               request.older_than_days(), "d")
                                : "log/values/subject");
  // The subject is itself personal data: the erasure's own entry commits to
  // it rather than naming it.
  call.AddPersonalValue("erased_subject", request.subject());
  // Erased only once the erasure's own entry is durable, as every change
  // is: no value vanishes without the record of who erased it. So the
  // entry cannot say how many went; the answer does. `response` lives
  // until the call is answered, after this step.
  // The step runs on the log's own threads, which must not wait for the
  // log: the erasure is queued on it and tells the step when done.
  call.AfterLoggedAsync(
      [log = gateway.log, subject = request.subject(),
       before = call.now() - absl::Hours(24) * request.older_than_days(),
       &response](AuditedCall::StepDone done) {
        log->EraseAsync(
            subject, before,
            [&response, done = std::move(done)](
                absl::StatusOr<audit::LogStore::ErasureCount> erased) {
              if (erased.ok()) {
                response.set_entries_touched(erased->entries_touched);
                response.set_values_erased(erased->values_erased);
                response.set_old_copies_remain(erased->old_copies_remain);
              }
              done(erased.status());
            });
      });
  // And the free text kept outside the log: request notes, trip purposes
  // and decision notes (grants and sessions keep none).
  call.AfterLogged(
      [approvals = gateway.approvals, subject = request.subject(),
       before = call.now() - absl::Hours(24) * request.older_than_days(),
       &response]() -> absl::Status {
        auto erased = approvals->EraseNotes(subject, before);
        if (!erased.ok()) return erased.status();
        response.set_approval_notes_erased(erased->changed);
        if (erased->old_copies_remain) response.set_old_copies_remain(true);
        return absl::OkStatus();
      });
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* AuditLogService::ListEntries(
    grpc::CallbackServerContext* context,
    const custos::v1::ListEntriesRequest* request,
    custos::v1::ListEntriesResponse* response) {
  return Serve(gateway_, context, "AuditLog.ListEntries", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::ListEntries(*gateway_, call, *request,
                                                     *response);
               });
}

}  // namespace custos::gateway

namespace custos::gateway {

grpc::ServerUnaryReactor* AuditLogService::GetCheckpoint(
    grpc::CallbackServerContext* context,
    const custos::v1::GetCheckpointRequest* request,
    custos::v1::Checkpoint* response) {
  return Serve(gateway_, context, "AuditLog.GetCheckpoint", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::GetCheckpoint(*gateway_, call,
                                                       *request, *response);
               });
}

grpc::ServerUnaryReactor* AuditLogService::GetInclusionProof(
    grpc::CallbackServerContext* context,
    const custos::v1::GetInclusionProofRequest* request,
    custos::v1::InclusionProof* response) {
  return Serve(gateway_, context, "AuditLog.GetInclusionProof", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::GetInclusionProof(*gateway_, call,
                                                           *request, *response);
               });
}

grpc::ServerUnaryReactor* AuditLogService::GetConsistencyProof(
    grpc::CallbackServerContext* context,
    const custos::v1::GetConsistencyProofRequest* request,
    custos::v1::ConsistencyProof* response) {
  return Serve(gateway_, context, "AuditLog.GetConsistencyProof", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::GetConsistencyProof(
                     *gateway_, call, *request, *response);
               });
}

grpc::ServerUnaryReactor* AuditLogService::Erase(
    grpc::CallbackServerContext* context,
    const custos::v1::EraseRequest* request,
    custos::v1::EraseResponse* response) {
  return Serve(gateway_, context, "AuditLog.Erase", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::Erase(*gateway_, call, *request,
                                               *response);
               });
}

}  // namespace custos::gateway
