// Paging for lists that come newest first from an SQLite table with rowids
// (grants, trips, pending requests, take-identity sessions).
//
// A page token names the row below which the next page starts, so a page
// stays put when newer rows arrive meanwhile. Tokens are opaque to callers;
// each list has its own letter, so that one list's token is refused by
// another's. Pure; thread-safe.
#ifndef CUSTOS_COMMON_PAGE_TOKEN_H_
#define CUSTOS_COMMON_PAGE_TOKEN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos {

// The lists' letters.
inline constexpr char kGrantsList = 'g';
inline constexpr char kTripsList = 't';
inline constexpr char kPendingList = 'p';
inline constexpr char kSessionsList = 's';

// One page of a list, newest first.
template <typename T>
struct Page {
  std::vector<T> items;
  // Where the next page starts; empty when no row is left.
  std::string next_page_token;
};

// The token of the page that starts below `rowid` in list `list`.
std::string PageToken(char list, int64_t rowid);

// The rowid that the page `token` starts below, or INT64_MAX (the newest
// row on) for an empty token. INVALID_ARGUMENT naming page_token for
// anything else.
absl::StatusOr<int64_t> PageStart(char list, absl::string_view token);

}  // namespace custos

#endif  // CUSTOS_COMMON_PAGE_TOKEN_H_
