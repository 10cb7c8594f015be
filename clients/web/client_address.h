// Which address a browser's request comes from when custos-web sits behind
// reverse proxies it trusts: the address the sign-in limit counts and the
// one custosd places against the policy's networks.
//
// A proxy passes the address it took the request from in X-Forwarded-For,
// appended to whatever list the request already carried. Only the entries
// that trusted proxies appended can be believed: the ones to their left were
// written by the client, which must not choose its own address.
//
// Pure (no I/O). A TrustedProxies is immutable after Parse and safe to share
// between threads.
#ifndef CUSTOS_CLIENTS_WEB_CLIENT_ADDRESS_H_
#define CUSTOS_CLIENTS_WEB_CLIENT_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::web {

// The header a reverse proxy names its peer in.
inline constexpr char kForwardedForHeader[] = "X-Forwarded-For";

// The addresses and networks whose X-Forwarded-For custos-web believes.
class TrustedProxies {
 public:
  // Trusts no one: every request's address is its TCP peer's.
  TrustedProxies() = default;

  // Parses `list`, IPv4 and IPv6 addresses and networks separated by commas
  // ("10.0.0.7, 10.1.0.0/16, 2001:db8::/32"); spaces around an entry and
  // empty entries are ignored, so "" trusts no one. INVALID_ARGUMENT naming
  // trusted_proxies and the first bad entry when one is not an address or
  // ADDRESS/LENGTH, its length is out of range, or it has bits set past its
  // length (10.0.0.1/8: a typo for 10.0.0.1 or 10.0.0.0/8?).
  static absl::StatusOr<TrustedProxies> Parse(absl::string_view list);

  bool empty() const { return networks_.empty(); }

  // Whether `address` (textual IPv4 or IPv6, no port) is one of the trusted
  // addresses or lies in a trusted network; false when it does not parse.
  bool Trusts(absl::string_view address) const;

 private:
  struct Network {
    std::array<uint8_t, 16> bytes;  // IPv4 as IPv4-mapped IPv6
    int length = 0;                 // in bits, of the 128
  };
  std::vector<Network> networks_;
};

// The browser's address of a request taken from TCP peer `peer` (an address
// as the socket gives it, maybe with an IPv6 zone "%eth0") that carried
// `forwarded_for`: the values of each of its X-Forwarded-For headers, in the
// order received, each a comma-separated list of addresses.
//
// - From a peer `trusted` does not trust, the headers are ignored: the peer.
// - From a trusted peer without the header: the peer (the proxy itself).
// - From a trusted peer with it: read from the right, the first address
//   that is not trusted; when every one is, the left-most.
//
// The answer is normalised as inet_ntop writes it, an IPv4-mapped IPv6
// address as IPv4 ("::FFFF:10.0.0.1" is "10.0.0.1"); a peer that does not
// parse is returned as given and trusted by no list.
//
// INVALID_ARGUMENT naming X-Forwarded-For when an entry read on the way to
// the answer is not a bare IP address (empty, a host name, with a port):
// a proxy that writes such a list would otherwise make its clients share one
// address. Entries left of the answer are not read.
absl::StatusOr<std::string> ClientAddress(
    absl::string_view peer, const std::vector<std::string>& forwarded_for,
    const TrustedProxies& trusted);

// What the sign-in limit counts an address under: an IPv4 address itself,
// an IPv6 address's /64 ("2001:db8:1:2::/64"). One IPv6 host is commonly
// given a whole /64, and could otherwise try its 2^64 addresses' worth of
// passwords. An address that does not parse is returned as given.
std::string SignInLimitKey(absl::string_view address);

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_CLIENT_ADDRESS_H_
