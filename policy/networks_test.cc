#include "policy/networks.h"

#include "gtest/gtest.h"

namespace custos::policy {
namespace {

TEST(NetworkMapTest, PlacesByLongestPrefix) {
  auto map = NetworkMap::Create({{"10.0.0.0/8", "NL", "corp"},
                                 {"10.20.0.0/16", "NL", "office-amsterdam"},
                                 {"2001:db8::/32", "DE", "vpn-berlin"}});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->Place("10.20.3.4").label, "office-amsterdam");
  EXPECT_EQ(map->Place("10.21.3.4").label, "corp");
  EXPECT_EQ(map->Place("2001:db8:1::5").country, "DE");
}

TEST(NetworkMapTest, UnplacedAddressHasNoCountry) {
  const NetworkMap map = NetworkMap::Loopback();
  EXPECT_EQ(map.Place("127.0.0.1").country, "NL");
  EXPECT_EQ(map.Place("::1").country, "NL");
  EXPECT_EQ(map.Place("192.0.2.1").country, "");
  EXPECT_EQ(map.Place("not an address").country, "");
}

TEST(NetworkMapTest, RejectsMalformedCidrNamingTheRule) {
  auto map = NetworkMap::Create(
      {{"10.0.0.0/8", "NL", "a"}, {"10.0.0.0/33", "NL", "b"}});
  ASSERT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(map.status().message(),
            "networks[1].cidr \"10.0.0.0/33\": expected a prefix length from 0 "
            "to 32");
  EXPECT_EQ(NetworkMap::Create({{"nonsense", "NL", "a"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AddressFromPeerTest, StripsSchemeAndPort) {
  EXPECT_EQ(AddressFromPeer("ipv4:127.0.0.1:40000"), "127.0.0.1");
  EXPECT_EQ(AddressFromPeer("ipv6:[::1]:40000"), "::1");
  EXPECT_EQ(AddressFromPeer("ipv6:[fe80::1%25eth0]:1"), "fe80::1");
  // As gRPC names an IPv6 peer: a URI, brackets percent-encoded.
  EXPECT_EQ(AddressFromPeer("ipv6:%5B2001:db8:31::5%5D:40000"),
            "2001:db8:31::5");
  EXPECT_EQ(AddressFromPeer("ipv6:%5Bfe80::1%25eth0%5D:1"), "fe80::1");
  EXPECT_EQ(AddressFromPeer("ipv6:%5B::1%5D:1%"), "");
  EXPECT_EQ(AddressFromPeer("ipv6:%5B::1%zz"), "");
  EXPECT_EQ(AddressFromPeer("unix:/tmp/sock"), "");
}

}  // namespace
}  // namespace custos::policy
