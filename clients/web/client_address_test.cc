#include "clients/web/client_address.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace custos::web {
namespace {

TrustedProxies Trust(absl::string_view list) {
  auto trusted = TrustedProxies::Parse(list);
  EXPECT_TRUE(trusted.ok()) << trusted.status();
  return trusted.ok() ? *trusted : TrustedProxies();
}

// The address ClientAddress gives, or its status's message after "error: ".
std::string AddressOf(absl::string_view peer,
                      const std::vector<std::string>& forwarded_for,
                      const TrustedProxies& trusted) {
  auto address = ClientAddress(peer, forwarded_for, trusted);
  if (!address.ok()) {
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    return "error: " + std::string(address.status().message());
  }
  return *address;
}

TEST(TrustedProxiesTest, ParsesAddressesAndNetworksOfBothFamilies) {
  const TrustedProxies trusted =
      Trust(" 10.0.0.7 , 192.168.0.0/16,,2001:db8::/32, ::1,");
  EXPECT_FALSE(trusted.empty());
  EXPECT_TRUE(trusted.Trusts("10.0.0.7"));
  EXPECT_FALSE(trusted.Trusts("10.0.0.8"));
  EXPECT_TRUE(trusted.Trusts("192.168.255.1"));
  EXPECT_FALSE(trusted.Trusts("192.169.0.1"));
  EXPECT_TRUE(trusted.Trusts("2001:db8:ffff::1"));
  EXPECT_FALSE(trusted.Trusts("2001:db9::1"));
  EXPECT_TRUE(trusted.Trusts("::1"));
  EXPECT_FALSE(trusted.Trusts("::2"));
  // A dual-stack socket's form of an IPv4 peer is the same peer.
  EXPECT_TRUE(trusted.Trusts("::ffff:10.0.0.7"));
  EXPECT_FALSE(trusted.Trusts("not an address"));
}

TEST(TrustedProxiesTest, PrefixLengthsAtTheirBounds) {
  EXPECT_TRUE(Trust("0.0.0.0/0").Trusts("203.0.113.9"));
  // An IPv4 network holds no IPv6 address but IPv4-mapped ones.
  EXPECT_FALSE(Trust("0.0.0.0/0").Trusts("2001:db8::1"));
  EXPECT_TRUE(Trust("::/0").Trusts("2001:db8::1"));
  EXPECT_TRUE(Trust("203.0.113.9/32").Trusts("203.0.113.9"));
  EXPECT_TRUE(Trust("10.0.0.0/31").Trusts("10.0.0.1"));
  EXPECT_FALSE(Trust("10.0.0.0/31").Trusts("10.0.0.2"));
  EXPECT_TRUE(Trust("2001:db8::/127").Trusts("2001:db8::1"));
  EXPECT_FALSE(Trust("2001:db8::/127").Trusts("2001:db8::2"));
}

TEST(TrustedProxiesTest, EmptyListTrustsNoOne) {
  const TrustedProxies trusted = Trust(" , ");
  EXPECT_TRUE(trusted.empty());
  EXPECT_FALSE(trusted.Trusts("127.0.0.1"));
}

TEST(TrustedProxiesTest, RefusesBadEntriesNamingTheFlagAndTheEntry) {
  for (const auto& [list, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.7,proxy.example",
            "trusted_proxies: \"proxy.example\": "
            "expected an IPv4 or IPv6 address"},
           {"10.0.0.256", "trusted_proxies: \"10.0.0.256\": expected"},
           {"10.0.0.7:8080", "trusted_proxies: \"10.0.0.7:8080\": expected"},
           {"[::1]", "trusted_proxies: \"[::1]\": expected"},
           {"10.0.0.0/33", "expected a prefix length from 0 to 32 after '/'"},
           {"::/129", "expected a prefix length from 0 to 128 after '/'"},
           {"10.0.0.0/", "expected a prefix length from 0 to 32"},
           {"10.0.0.0/+8", "expected a prefix length from 0 to 32"},
           {"10.0.0.0/ 8", "expected a prefix length from 0 to 32"},
           {"10.0.0.0/8/8", "expected a prefix length from 0 to 32"},
           {"10.0.0.1/8",
            "trusted_proxies: \"10.0.0.1/8\": expected "
            "10.0.0.0/8 (no bits set past the prefix length) "
            "or the address alone"},
           {"2001:db8::1/32", "expected 2001:db8::/32 (no bits set"},
       }) {
    auto trusted = TrustedProxies::Parse(list);
    ASSERT_FALSE(trusted.ok()) << list;
    EXPECT_EQ(trusted.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(trusted.status().message(), message))
        << list << ": " << trusted.status().message();
  }
}

TEST(ClientAddressTest, WithNoTrustedProxyIgnoresTheHeader) {
  EXPECT_EQ(AddressOf("203.0.113.9", {"198.51.100.7"}, TrustedProxies()),
            "203.0.113.9");
  EXPECT_EQ(AddressOf("203.0.113.9", {"garbage"}, TrustedProxies()),
            "203.0.113.9");
}

TEST(ClientAddressTest, FromAnUntrustedPeerIgnoresTheHeader) {
  const TrustedProxies trusted = Trust("10.0.0.7");
  // A client must not choose its own address, nor be refused for the try.
  EXPECT_EQ(AddressOf("203.0.113.9", {"198.51.100.7"}, trusted), "203.0.113.9");
  EXPECT_EQ(AddressOf("203.0.113.9", {"10.0.0.7"}, trusted), "203.0.113.9");
  EXPECT_EQ(AddressOf("203.0.113.9", {"garbage"}, trusted), "203.0.113.9");
}

TEST(ClientAddressTest, FromATrustedPeerTakesTheAddressItNames) {
  const TrustedProxies trusted = Trust("10.0.0.7");
  EXPECT_EQ(AddressOf("10.0.0.7", {"198.51.100.7"}, trusted), "198.51.100.7");
  EXPECT_EQ(AddressOf("10.0.0.7", {" 198.51.100.7 "}, trusted), "198.51.100.7");
}

TEST(ClientAddressTest, FromATrustedPeerWithoutTheHeaderIsThePeer) {
  EXPECT_EQ(AddressOf("10.0.0.7", {}, Trust("10.0.0.7")), "10.0.0.7");
}

TEST(ClientAddressTest, TakesTheRightMostAddressNotTrusted) {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  // The client wrote 192.0.2.1 itself; the proxy appended its real address.
  EXPECT_EQ(AddressOf("10.0.0.7", {"192.0.2.1, 198.51.100.7"}, trusted),
            "198.51.100.7");
  // A chain of trusted proxies, each appending its peer.
  EXPECT_EQ(AddressOf("10.0.0.7",
                      {"192.0.2.1, 198.51.100.7, 10.1.1.1, 10.2.2.2"}, trusted),
            "198.51.100.7");
}

TEST(ClientAddressTest, JoinsRepeatedHeadersInOrder) {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  EXPECT_EQ(
      AddressOf("10.0.0.7", {"192.0.2.1", "198.51.100.7, 10.1.1.1"}, trusted),
      "198.51.100.7");
  EXPECT_EQ(
      AddressOf("10.0.0.7", {"198.51.100.7", "10.1.1.1", "10.2.2.2"}, trusted),
      "198.51.100.7");
}

TEST(ClientAddressTest, WhenEveryAddressIsTrustedTakesTheLeftMost) {
  EXPECT_EQ(AddressOf("10.0.0.7", {"10.3.3.3, 10.1.1.1"}, Trust("10.0.0.0/8")),
            "10.3.3.3");
}

TEST(ClientAddressTest, ReadsIpv6AndNormalisesWhatItGives) {
  const TrustedProxies trusted = Trust("2001:db8:1::/48");
  EXPECT_EQ(AddressOf("2001:db8:1::5", {"2001:DB8:31:0:0:0:0:9"}, trusted),
            "2001:db8:31::9");
  EXPECT_EQ(AddressOf("2001:db8:1::5", {"::FFFF:198.51.100.7"}, trusted),
            "198.51.100.7");
  // The peer is normalised too, with or without a header, trusted or not.
  EXPECT_EQ(AddressOf("2001:0db8:0001::0005", {}, trusted), "2001:db8:1::5");
  EXPECT_EQ(AddressOf("::ffff:203.0.113.9", {}, TrustedProxies()),
            "203.0.113.9");
  EXPECT_EQ(AddressOf("fe80::1%eth0", {"198.51.100.7"}, TrustedProxies()),
            "fe80::1");
}

TEST(ClientAddressTest, AnIpv4ProxyOnADualStackSocketIsTrusted) {
  EXPECT_EQ(AddressOf("::ffff:127.0.0.1", {"198.51.100.7"}, Trust("127.0.0.1")),
            "198.51.100.7");
}

TEST(ClientAddressTest, RefusesATrustedProxysListThatIsNotAddresses) {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  EXPECT_EQ(AddressOf("10.0.0.7", {"client.example"}, trusted),
            "error: X-Forwarded-For: \"client.example\" (written by trusted "
            "proxy 10.0.0.7): expected IP addresses separated by commas");
  // Named as the proxy that wrote it: the hop to its right.
  EXPECT_EQ(AddressOf("10.0.0.7", {"198.51.100.7:4711, 10.1.1.1"}, trusted),
            "error: X-Forwarded-For: \"198.51.100.7:4711\" (written by "
            "trusted proxy 10.1.1.1): expected IP addresses separated by "
            "commas");
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{
           {""},
           {" "},
           {"198.51.100.7,"},
           {"198.51.100.7", ""},
           {"[2001:db8::1]"},
           {"unknown"},
           {"198.51.100.7,,10.1.1.1"},
       }) {
    EXPECT_EQ(ClientAddress("10.0.0.7", bad, trusted).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad[0];
  }
}

TEST(ClientAddressTest, LeavesWhatTheClientWroteUnread) {
  // Left of the first untrusted address the list is the client's; garbage
  // there is not the proxy's fault.
  EXPECT_EQ(AddressOf("10.0.0.7", {"garbage, 198.51.100.7"}, Trust("10.0.0.7")),
            "198.51.100.7");
}

TEST(ClientAddressTest, QuotesALongBadEntryCutShort) {
  const std::string message =
      AddressOf("10.0.0.7", {std::string(1000, 'x')}, Trust("10.0.0.7"));
  EXPECT_TRUE(absl::StrContains(message, std::string(64, 'x') + "...\""))
      << message;
  EXPECT_FALSE(absl::StrContains(message, std::string(65, 'x'))) << message;
}

TEST(ClientAddressTest, GivesAPeerThatIsNoAddressAsItIs) {
  EXPECT_EQ(AddressOf("", {"198.51.100.7"}, Trust("0.0.0.0/0")), "");
}

}  // namespace
TEST(SignInLimitKeyTest, CountsIpv4ByAddressAndIpv6ByItsSlash64) {
  EXPECT_EQ(SignInLimitKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(SignInLimitKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(SignInLimitKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64");
  EXPECT_EQ(SignInLimitKey("2001:db8:1:2::1"),
            SignInLimitKey("2001:db8:1:2:ffff::9"));
  EXPECT_NE(SignInLimitKey("2001:db8:1:2::1"),
            SignInLimitKey("2001:db8:1:3::1"));
  EXPECT_EQ(SignInLimitKey("not an address"), "not an address");
}

}  // namespace custos::web
