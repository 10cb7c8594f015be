#include "policy/networks.h"

#include <arpa/inet.h>

#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace custos::policy {
namespace {

// Parses an IPv4 or IPv6 address into 16 bytes, IPv4 as ::ffff:a.b.c.d.
bool ParseAddress(absl::string_view text, std::array<uint8_t, 16>* out,
                  bool* is_v4) {
  const std::string s(text);
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out->fill(0);
    (*out)[10] = 0xff;
    (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, &v4, 4);
    *is_v4 = true;
    return true;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out->data(), &v6, 16);
    *is_v4 = false;
    return true;
  }
  return false;
}

bool PrefixMatches(const std::array<uint8_t, 16>& address,
                   const std::array<uint8_t, 16>& prefix, int length) {
  const int full_bytes = length / 8;
  if (std::memcmp(address.data(), prefix.data(), full_bytes) != 0) return false;
  const int rest = length % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address[full_bytes] & mask) == (prefix[full_bytes] & mask);
}

// Whether every bit of `prefix` past its first `length` is zero.
bool NoBitsPast(const std::array<uint8_t, 16>& prefix, int length) {
  for (int bit = length; bit < 128; ++bit) {
    if (prefix[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<NetworkMap> NetworkMap::Create(
    const std::vector<NetworkRule>& rules) {
  NetworkMap map;
  for (size_t i = 0; i < rules.size(); ++i) {
    const NetworkRule& rule = rules[i];
    const auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("networks[", i, "].cidr \"", rule.cidr, "\": ", what));
    };
    std::vector<absl::string_view> parts = absl::StrSplit(rule.cidr, '/');
    if (parts.size() != 2) return bad("expected ADDRESS/LENGTH");
    Prefix prefix;
    bool is_v4 = false;
    if (!ParseAddress(parts[0], &prefix.bytes, &is_v4)) {
      return bad("expected an IPv4 or IPv6 address before '/'");
    }
    int length = 0;
    const int max_length = is_v4 ? 32 : 128;
    if (!absl::SimpleAtoi(parts[1], &length) || length < 0 ||
        length > max_length) {
      return bad(
          absl::StrCat("expected a prefix length from 0 to ", max_length));
    }
    prefix.length = is_v4 ? length + 96 : length;
    // A typo (192.0.2.0/2) would otherwise mean a far larger network than
    // the one written.
    if (!NoBitsPast(prefix.bytes, prefix.length)) {
      return bad(absl::StrCat("has bits set past its /", length,
                              "; expected the network's first address"));
    }
    // IPv4 addresses are placed as ::ffff:a.b.c.d: an IPv6 network holding
    // that whole range would place every IPv4 address, listed or not.
    static const std::array<uint8_t, 16> kMappedIpv4 = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    if (!is_v4 && prefix.length <= 96 &&
        PrefixMatches(kMappedIpv4, prefix.bytes, prefix.length)) {
      return bad(
          "holds ::ffff:0:0/96, so every IPv4 address; write IPv4 networks "
          "as a.b.c.d/n");
    }
    prefix.placement = {rule.country, rule.label};
    map.prefixes_.push_back(std::move(prefix));
  }
  return map;
}

NetworkMap NetworkMap::Loopback() {
  return *Create(
      {{"127.0.0.0/8", "NL", "loopback"}, {"::1/128", "NL", "loopback"}});
}

Placement NetworkMap::Place(absl::string_view address) const {
  std::array<uint8_t, 16> bytes;
  bool is_v4 = false;
  if (!ParseAddress(address, &bytes, &is_v4)) return {};
  const Prefix* best = nullptr;
  for (const Prefix& p : prefixes_) {
    if (PrefixMatches(bytes, p.bytes, p.length) &&
        (best == nullptr || p.length > best->length)) {
      best = &p;
    }
  }
  return best == nullptr ? Placement{} : best->placement;
}

namespace {

// `text` with each %XX escape decoded; nullopt for a malformed one.
std::optional<std::string> PercentDecoded(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= text.size()) return std::nullopt;
    for (size_t k = i + 1; k <= i + 2; ++k) {
      const char c = text[k];
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + digit;
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

}  // namespace

std::string AddressFromPeer(absl::string_view peer) {
  if (absl::ConsumePrefix(&peer, "ipv4:")) {
    const size_t colon = peer.rfind(':');
    return std::string(
        colon == absl::string_view::npos ? peer : peer.substr(0, colon));
  }
  if (absl::ConsumePrefix(&peer, "ipv6:")) {
    // A URI: gRPC percent-encodes the brackets ("ipv6:%5B::1%5D:5000") and
    // a zone id's '%' ("%25eth0").
    const std::optional<std::string> decoded = PercentDecoded(peer);
    if (!decoded.has_value()) return "";
    absl::string_view rest = *decoded;
    if (!absl::ConsumePrefix(&rest, "[")) return "";
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) return "";
    const absl::string_view address = rest.substr(0, close);
    // A zone id (fe80::1%eth0) is not part of the address.
    return std::string(address.substr(0, address.find('%')));
  }
  return "";
}

}  // namespace custos::policy
