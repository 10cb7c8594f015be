// The parts every gateway service works with. Owned by GatewayServer;
// services borrow them. All are thread-safe.
#ifndef CUSTOS_GATEWAY_GATEWAY_H_
#define CUSTOS_GATEWAY_GATEWAY_H_

#include <functional>

#include "absl/time/time.h"
#include "audit/log_store.h"
#include "audit/note.h"
#include "gateway/approvals/approval_store.h"
#include "gateway/auth.h"
#include "gateway/data/customer_data.h"
#include "gateway/directory.h"
#include "gateway/grants/grant_store.h"
#include "gateway/metrics.h"
#include "gateway/random_check_draws.h"
#include "gateway/rate_limiter.h"
#include "gateway/sessions/session_store.h"
#include "policy/facts.h"
#include "policy/policy_holder.h"

namespace custos::gateway {

struct Gateway {
  const Directory* directory = nullptr;
  // The policy in force; each call decides with one snapshot of it.
  const policy::PolicyHolder* policies = nullptr;
  const policy::ReferenceDirectory* references = nullptr;
  GrantStore* grants = nullptr;
  ApprovalStore* approvals = nullptr;
  SessionStore* sessions = nullptr;
  RandomCheckDraws* random_check_draws = nullptr;
  // Requests per staff member; null when unlimited.
  RateLimiter* rate_limiter = nullptr;
  // The most records one grant may serve (GatewayOptions).
  uint64_t max_records_per_grant = 5000;
  // How long a pending request waits for its approvals (GatewayOptions).
  absl::Duration pending_request_lifetime = absl::Hours(72);
  // Null when metrics are off.
  GatewayMetrics* metrics = nullptr;
  // Where custos-web serves take-identity sessions, for the single-use link.
  std::string web_base_url = "https://localhost:8443";
  const CustomerData* customer_data = nullptr;
  const Authenticator* authenticator = nullptr;
  audit::LogStore* log = nullptr;
  // Signs the log's checkpoints; its name is the log's origin.
  const audit::NoteSigner* log_signer = nullptr;
  std::function<absl::Time()> clock = absl::Now;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_GATEWAY_H_
