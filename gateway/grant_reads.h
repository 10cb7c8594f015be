// Serving customer records under a grant: the one step that ReadCustomerData
// and a take-identity page share, so that a grant's state, data kinds,
// record limit and masking, and what it rests on (its holder, a partner's
// consent, where it was issued for), hold whichever door the records leave
// by.
//
// Thread-safe.
#ifndef CUSTOS_GATEWAY_GRANT_READS_H_
#define CUSTOS_GATEWAY_GRANT_READS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/audited_call.h"
#include "gateway/data/customer_data.h"
#include "gateway/gateway.h"
#include "proto/custos/v1/access.pb.h"

namespace custos::gateway {

// OK while what `grant` rests on beyond its own state still holds for
// `call`: its holder is in the staff directory and active; a partner's
// grant on customer data still has the customer's consent, which the
// customer may withdraw at any time (with effect on grants and sessions
// already issued); and the call is placed in the country the grant was
// issued for (LOCATION_CHANGED otherwise: from elsewhere, and from abroad
// above all, access is asked for again, with the approvals that needs).
// PERMISSION_DENIED saying which does not; UNAVAILABLE when the consents
// cannot be read.
absl::Status GrantStillBacked(const Gateway& gateway, const AuditedCall& call,
                              const custos::v1::Grant& grant);

// For a call under `grant` that serves no records (a take-identity action):
// what ServeUnderGrant checks and holds short of reading. The grant must be
// ACTIVE and still backed; an end or consent withdrawal started after the
// check waits for the call's entry, and one applied before the entry makes
// the call serve nothing (it is recorded as not applied).
absl::Status ActUnderGrant(const Gateway& gateway, AuditedCall& call,
                           const custos::v1::Grant& grant);

struct RecordsWanted {
  custos::v1::DataKind kind = custos::v1::DATA_KIND_UNSPECIFIED;
  // At most this many; the last page before the grant's limit is shorter.
  int page_size = 0;
  absl::string_view page_token;
  absl::string_view record_id;
  // The request's field that named the kind, for refusals ("kind", "page").
  absl::string_view kind_field = "kind";
};

struct ServedRecords {
  RecordPage page;
  // The masked fields present in the page.
  std::vector<std::string> masked_fields;
};

// Reads a page of `grant`'s customer's records for `call`, which the caller
// has checked is the grant's holder's: refused unless the grant is ACTIVE
// at the call's time, reaches the kind, is still backed (GrantStillBacked)
// and has records left of the gateway's limit. The records come masked as
// the grant's obligations say and counted against the grant (the check and
// the count one step, so that neither a concurrent read nor a revocation
// slips between them), and the call is answered only once the count is in
// the grants file and the grant is still serving then: a read whose entry
// follows that of the grant's end serves nothing (it is recorded as not
// applied). Sets the entry's data kind, and its record count.
absl::StatusOr<ServedRecords> ServeUnderGrant(const Gateway& gateway,
                                              AuditedCall& call,
                                              const custos::v1::Grant& grant,
                                              const RecordsWanted& wanted);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_GRANT_READS_H_
