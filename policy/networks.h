// Places a source address: which configured network it belongs to, and so
// which country the caller connects from.
//
// Pure; immutable after construction and safe to share between threads.
#ifndef CUSTOS_POLICY_NETWORKS_H_
#define CUSTOS_POLICY_NETWORKS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::policy {

struct NetworkRule {
  // "192.0.2.0/24" or "2001:db8::/32".
  std::string cidr;
  // ISO 3166-1 alpha-2 country code, e.g. "NL".
  std::string country;
  // A label for people and the log, e.g. "office-amsterdam", "vpn".
  std::string label;
};

struct Placement {
  // Empty when no rule matched: the address cannot be placed, which the
  // rules treat as abroad.
  std::string country;
  std::string label;
};

class NetworkMap {
 public:
  // Parses the rules. INVALID_ARGUMENT naming the rule's index and its cidr
  // when a prefix is malformed or its length out of range.
  static absl::StatusOr<NetworkMap> Create(
      const std::vector<NetworkRule>& rules);

  // The rules of a development machine: loopback is in the Netherlands.
  static NetworkMap Loopback();

  // Places `address` (textual IPv4 or IPv6, no port) by its longest matching
  // prefix. An unparseable address is placed nowhere.
  Placement Place(absl::string_view address) const;

 private:
  struct Prefix {
    std::array<uint8_t, 16> bytes;  // IPv4 as IPv4-mapped IPv6
    int length;                     // in bits, of the 128
    Placement placement;
  };
  std::vector<Prefix> prefixes_;
};

// Splits a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:%5B::1%5D:5000",
// a URI whose escapes are decoded) into the bare address; returns "" for
// anything else (e.g. "unix:...", a malformed escape).
std::string AddressFromPeer(absl::string_view peer);

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_NETWORKS_H_
