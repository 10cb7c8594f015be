// Early-return helpers for absl::Status and absl::StatusOr<T>.
//
// Abseil 20220623 ships none, so Custos keeps this one small header.
#ifndef CUSTOS_COMMON_STATUS_MACROS_H_
#define CUSTOS_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function unless it is OK.
#define CUSTOS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status custos_status_ = (expr);          \
    if (!custos_status_.ok()) return custos_status_; \
  } while (false)

#define CUSTOS_STATUS_CONCAT_INNER_(a, b) a##b
#define CUSTOS_STATUS_CONCAT_(a, b) CUSTOS_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status from the
// enclosing function on error, else moves its value into `lhs`, which may be
// a declaration (`auto x`) or an existing variable.
#define CUSTOS_ASSIGN_OR_RETURN(lhs, rexpr) \
  CUSTOS_ASSIGN_OR_RETURN_IMPL_(            \
      CUSTOS_STATUS_CONCAT_(custos_statusor_, __LINE__), lhs, rexpr)

#define CUSTOS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return statusor.status();             \
  lhs = std::move(statusor).value()

#endif  // CUSTOS_COMMON_STATUS_MACROS_H_
