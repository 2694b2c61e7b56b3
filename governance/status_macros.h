#ifndef WARDEN_GOVERNANCE_STATUS_MACROS_H_
#define WARDEN_GOVERNANCE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Debian's Abseil (20220623) ships no status macros, so we keep these two.

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define WARDEN_RETURN_IF_ERROR(expr)              \
  do {                                            \
    if (::absl::Status _st = (expr); !_st.ok()) { \
      return _st;                                 \
    }                                             \
  } while (0)

#define WARDEN_STATUS_CONCAT_INNER_(a, b) a##b
#define WARDEN_STATUS_CONCAT_(a, b) WARDEN_STATUS_CONCAT_INNER_(a, b)

// `WARDEN_ASSIGN_OR_RETURN(T x, StatusOrExpr);` declares or assigns `x` from
// the value, or returns the error from the enclosing function.
#define WARDEN_ASSIGN_OR_RETURN(lhs, expr)                                   \
  WARDEN_ASSIGN_OR_RETURN_IMPL_(WARDEN_STATUS_CONCAT_(_statusor_, __LINE__), \
                                lhs, expr)
#define WARDEN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // WARDEN_GOVERNANCE_STATUS_MACROS_H_
