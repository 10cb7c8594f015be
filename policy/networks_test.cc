#include "policy/networks.h"

#include "gmock/gmock.h"
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

// A network written with bits past its length (a typo) would mean a far
// larger one; an IPv6 network holding ::ffff:0:0/96 would place every IPv4
// address. Both are refused, naming the rule.
TEST(NetworkMapTest, RejectsNetworksWiderThanWritten) {
  const auto refused = [](const std::string& cidr) {
    auto map = NetworkMap::Create({{cidr, "NL", "office"}});
    EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument) << cidr;
    return std::string(map.status().message());
  };
  EXPECT_EQ(refused("192.0.2.0/2"),
            "networks[0].cidr \"192.0.2.0/2\": has bits set past its /2; "
            "expected the network's first address");
  EXPECT_THAT(refused("2001:db8:31::5/48"),
              ::testing::HasSubstr("has bits set past its /48"));
  EXPECT_THAT(refused("::ffff:198.51.100.0/24"),
              ::testing::HasSubstr("has bits set past its /24"));
  EXPECT_THAT(refused("::/64"), ::testing::HasSubstr("holds ::ffff:0:0/96"));
  EXPECT_THAT(refused("::ffff:0:0/96"),
              ::testing::HasSubstr("holds ::ffff:0:0/96"));
  EXPECT_THAT(refused("::/0"), ::testing::HasSubstr("holds ::ffff:0:0/96"));
  // Written as meant, they load; an IPv4-mapped network of the right
  // length places its IPv4 addresses.
  auto map = NetworkMap::Create({{"192.0.0.0/2", "NL", "a"},
                                 {"::ffff:198.51.100.0/120", "NL", "b"},
                                 {"2001:db8:31::/48", "NL", "c"}});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->Place("198.51.100.7").label, "b");
  EXPECT_EQ(map->Place("10.1.2.3").country, "");
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
