#include "clients/web/client_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace custos::web {
namespace {

using Bytes = std::array<uint8_t, 16>;

// ::ffff:0:0/96, where IPv6 holds IPv4 addresses.
constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

bool IsMappedIpv4(const Bytes& bytes) {
  return std::memcmp(bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0;
}

// IPv4 is kept IPv4-mapped, so that one comparison covers both families and
// a dual-stack socket's "::ffff:10.0.0.1" is the same peer as "10.0.0.1".
std::optional<Bytes> ParseIp(absl::string_view text) {
  const std::string s(text);
  Bytes bytes{};
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memcpy(bytes.data(), kMappedPrefix, sizeof kMappedPrefix);
    std::memcpy(bytes.data() + 12, &v4, 4);
    return bytes;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(bytes.data(), &v6, 16);
    return bytes;
  }
  return std::nullopt;
}

std::string FormatIp(const Bytes& bytes) {
  char text[INET6_ADDRSTRLEN];
  if (IsMappedIpv4(bytes)) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

// `bytes` with every bit past the first `length` cleared.
Bytes Masked(Bytes bytes, int length) {
  for (int i = 0; i < 16; ++i) {
    const int kept = std::min(std::max(length - 8 * i, 0), 8);
    bytes[i] &= static_cast<uint8_t>(0xff00 >> kept);
  }
  return bytes;
}

// An entry quoted in an error, cut short: it may be a client's.
std::string Quoted(absl::string_view entry) {
  constexpr size_t kShown = 64;
  if (entry.size() <= kShown) return absl::StrCat("\"", entry, "\"");
  return absl::StrCat("\"", entry.substr(0, kShown), "...\"");
}

}  // namespace

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(absl::string_view list) {
  TrustedProxies trusted;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    const auto bad = [&](absl::string_view expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trusted_proxies: ", Quoted(entry), ": expected ", expected));
    };
    const size_t slash = entry.find('/');
    const std::optional<Bytes> address = ParseIp(entry.substr(0, slash));
    if (!address) {
      return bad(
          "an IPv4 or IPv6 address (10.0.0.7, 2001:db8::7) or network "
          "(10.0.0.0/8, 2001:db8::/32)");
    }
    const bool v4 = IsMappedIpv4(*address);
    const int max_length = v4 ? 32 : 128;
    int length = max_length;
    if (slash != absl::string_view::npos) {
      const absl::string_view digits = entry.substr(slash + 1);
      // SimpleAtoi would also take a sign or spaces.
      if (digits.empty() || digits.size() > 3 ||
          digits.find_first_not_of("0123456789") != absl::string_view::npos ||
          !absl::SimpleAtoi(digits, &length) || length > max_length) {
        return bad(absl::StrCat("a prefix length from 0 to ", max_length,
                                " after '/'"));
      }
    }
    const int bits = v4 ? length + 96 : length;
    const Bytes network = Masked(*address, bits);
    if (network != *address) {
      return bad(absl::StrCat(FormatIp(network), "/", length,
                              " (no bits set past the prefix length) or the "
                              "address alone"));
    }
    trusted.networks_.push_back({network, bits});
  }
  return trusted;
}

bool TrustedProxies::Trusts(absl::string_view address) const {
  const std::optional<Bytes> bytes = ParseIp(address);
  if (!bytes) return false;
  for (const Network& n : networks_) {
    if (Masked(*bytes, n.length) == n.bytes) return true;
  }
  return false;
}

absl::StatusOr<std::string> ClientAddress(
    absl::string_view peer, const std::vector<std::string>& forwarded_for,
    const TrustedProxies& trusted) {
  // A zone names the peer's interface, not an address custosd could place.
  const std::optional<Bytes> peer_bytes =
      ParseIp(peer.substr(0, peer.find('%')));
  if (!peer_bytes) return std::string(peer);
  std::string address = FormatIp(*peer_bytes);
  if (forwarded_for.empty() || !trusted.Trusts(address)) return address;

  std::vector<absl::string_view> entries;
  for (const std::string& header : forwarded_for) {
    for (absl::string_view entry : absl::StrSplit(header, ',')) {
      entries.push_back(absl::StripAsciiWhitespace(entry));
    }
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const std::optional<Bytes> bytes = ParseIp(*it);
    if (!bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          kForwardedForHeader, ": ", Quoted(*it), " (written by trusted proxy ",
          address, "): expected IP addresses separated by commas"));
    }
    address = FormatIp(*bytes);
    if (!trusted.Trusts(address)) break;
  }
  return address;
}

std::string SignInLimitKey(absl::string_view address) {
  const std::optional<Bytes> bytes = ParseIp(address);
  if (!bytes) return std::string(address);
  if (IsMappedIpv4(*bytes)) return FormatIp(*bytes);
  return absl::StrCat(FormatIp(Masked(*bytes, 64)), "/64");
}

}  // namespace custos::web
