#include "clients/web/web_security.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/web/web_sessions.h"

namespace custos::web {
namespace {

TEST(CookieValueTest, FindsTheNamedCookieAmongOthers) {
  EXPECT_EQ(CookieValue("a=1; __Host-custos-session=abc; b=2", kSessionCookie),
            "abc");
  EXPECT_EQ(CookieValue("x__Host-custos-session=evil", kSessionCookie), "");
  EXPECT_EQ(CookieValue("", kSessionCookie), "");
}

TEST(SessionCookieTest, IsHttpOnlySecureAndStrict) {
  const std::string cookie = SessionCookie("v", absl::Hours(1));
  EXPECT_EQ(cookie,
            "__Host-custos-session=v; Path=/; Secure; HttpOnly; "
            "SameSite=Strict; Max-Age=3600");
  EXPECT_TRUE(absl::StrContains(ClearedSessionCookie(), "Max-Age=0"));
}

TEST(ParseFormTest, DecodesFields) {
  auto form = ParseForm("csrf=ab&note=a+b%21&empty=");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->at("csrf"), "ab");
  EXPECT_EQ(form->at("note"), "a b!");
  EXPECT_EQ(form->at("empty"), "");
}

TEST(ParseFormTest, RefusesRepeatedFieldsBadEscapesAndHugeBodies) {
  EXPECT_EQ(ParseForm("csrf=a&csrf=b").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseForm("a=%zz").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseForm("a=%4").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseForm(std::string(17 * 1024, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CheckCsrfTest, AcceptsOnlyTheSessionsToken) {
  const std::string token(64, 'a');
  EXPECT_TRUE(CheckCsrf(token, {{"csrf", token}}).ok());
  EXPECT_EQ(CheckCsrf(token, {{"csrf", std::string(64, 'b')}}).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckCsrf(token, {}).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckCsrf(token, {{"csrf", token.substr(1)}}).code(),
            absl::StatusCode::kPermissionDenied);
  // A session without a token opens nothing, even with an empty field.
  EXPECT_EQ(CheckCsrf("", {{"csrf", ""}}).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(ValidateLinkTokenTest, AcceptsOnlyLinkTokens) {
  EXPECT_TRUE(ValidateLinkToken("lt_00ac8fd5ce661705d627449b1412cf55").ok());
  for (const char* bad :
       {"", "lt_", "st_00ac", "lt_00AC", "lt_00ac#x", "lt_00ac&csrf=1"}) {
    EXPECT_EQ(ValidateLinkToken(bad).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(ValidateLinkToken("lt_" + std::string(62, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SessionIdFromCookiesTest, TakesOnlyAWellFormedUnambiguousSessionId) {
  const std::string id(64, 'a');
  const std::string cookie = absl::StrCat(kSessionCookie, "=", id);
  EXPECT_EQ(SessionIdFromCookies(cookie), id);
  EXPECT_EQ(SessionIdFromCookies(absl::StrCat("a=1; ", cookie, "; b=2")), id);
  // The same cookie twice with the same value is still one session.
  EXPECT_EQ(SessionIdFromCookies(absl::StrCat(cookie, "; ", cookie)), id);
  for (const std::string& bad : {
           std::string(""),
           absl::StrCat(kSessionCookie, "="),
           absl::StrCat(kSessionCookie, "=", std::string(63, 'a')),
           absl::StrCat(kSessionCookie, "=", std::string(65, 'a')),
           absl::StrCat(kSessionCookie, "=", std::string(64, 'A')),
           absl::StrCat(kSessionCookie, "=", std::string(63, 'a'), "\r"),
           absl::StrCat(kSessionCookie, "=' OR '1'='1"),
           absl::StrCat(kSessionCookie, "=../../", std::string(58, 'a')),
           absl::StrCat(cookie, "; ", kSessionCookie, "=",
                        std::string(64, 'b')),
           absl::StrCat(cookie, "; ", kSessionCookie, "=bad"),
       }) {
    EXPECT_EQ(SessionIdFromCookies(bad), "") << bad;
  }
}

TEST(ParsePostedFormTest, TakesOnlyUrlEncodedFormsWithTheSessionsToken) {
  const std::string csrf(64, 'c');
  const std::string body = absl::StrCat("csrf=", csrf, "&login=acme");
  for (const char* type :
       {"application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        " Application/X-WWW-Form-Urlencoded ;charset=utf-8"}) {
    auto form = ParsePostedForm(type, body, csrf);
    ASSERT_TRUE(form.ok()) << type << ": " << form.status();
    EXPECT_EQ(form->at("login"), "acme");
  }
  for (const char* type :
       {"", "text/plain", "application/json", "multipart/form-data; boundary=x",
        "application/x-www-form-urlencodedx", "application/x-www-form"}) {
    const absl::Status s = ParsePostedForm(type, body, csrf).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << type;
    EXPECT_EQ(HttpStatusOf(s), 415) << type;
  }
  const absl::Status huge =
      ParsePostedForm("application/x-www-form-urlencoded",
                      absl::StrCat(body, "&x=", std::string(17 * 1024, 'x')),
                      csrf)
          .status();
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpStatusOf(huge), 413);
  const absl::Status bad_escape =
      ParsePostedForm("application/x-www-form-urlencoded", "csrf=%zz", csrf)
          .status();
  EXPECT_EQ(bad_escape.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpStatusOf(bad_escape), 0);
  EXPECT_EQ(ParsePostedForm("application/x-www-form-urlencoded",
                            "csrf=forged&login=acme", csrf)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(HttpStatusOf(absl::PermissionDeniedError("x")), 0);
}

TEST(ValidateHeaderValueTest, RefusesControlCharactersButTab) {
  EXPECT_TRUE(ValidateHeaderValue("Cookie", "a=b;\tc=d").ok());
  for (const std::string& bad :
       {std::string("a=b\rSet-Cookie: x=1"), std::string("a\nb"),
        std::string("a\0b", 3), std::string("a\x7f")}) {
    const absl::Status s = ValidateHeaderValue("Cookie", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "header Cookie: control character in the value");
  }
}

TEST(HtmlEscapeTest, EscapesMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(StaffPseudonymTest, StablePerCustomerAndDifferentAcrossCustomers) {
  const std::string a = StaffPseudonym("secret", "acme", "anna.support");
  EXPECT_EQ(a, StaffPseudonym("secret", "acme", "anna.support"));
  EXPECT_NE(a, StaffPseudonym("secret", "nordwind", "anna.support"));
  EXPECT_NE(a, StaffPseudonym("other", "acme", "anna.support"));
  EXPECT_TRUE(absl::StartsWith(a, "staff-"));
  EXPECT_EQ(a.size(), 6u + 12u);
  EXPECT_FALSE(absl::StrContains(a, "anna"));
}

TEST(RandomTokenTest, IsSixtyFourHexDigitsAndFresh) {
  auto a = RandomToken();
  auto b = RandomToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 64u);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(*a, *b);
}

TEST(WebSessionsTest, SignInGetsAFreshIdAndExpiredSessionsAreGone) {
  WebSessions sessions(absl::Hours(1), 16, 1000);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto anonymous = sessions.Create(WebSession{}, now);
  ASSERT_TRUE(anonymous.ok());
  WebSession customer;
  customer.kind = WebSession::Kind::kCustomer;
  customer.acts_as = "customer:acme";
  auto signed_in = sessions.Create(customer, now);
  ASSERT_TRUE(signed_in.ok());
  EXPECT_NE(signed_in->id, anonymous->id);
  EXPECT_NE(signed_in->csrf, anonymous->csrf);
  auto found = sessions.Find(signed_in->id, now + absl::Minutes(59));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->acts_as, "customer:acme");
  EXPECT_FALSE(sessions.Find(signed_in->id, now + absl::Hours(1)).has_value());
  sessions.Erase(anonymous->id);
  EXPECT_FALSE(sessions.Find(anonymous->id, now).has_value());
  EXPECT_FALSE(sessions.Find("", now).has_value());
}

WebSession Customer(const std::string& id) {
  WebSession session;
  session.kind = WebSession::Kind::kCustomer;
  session.acts_as = absl::StrCat("customer:", id);
  return session;
}

TEST(WebSessionsTest, AnAccountSigningInWithoutEndKeepsItsCapAndItsNewest) {
  // The server's caps: a loop of good sign-ins that never sends the cookie
  // back must not grow custos-web's memory.
  WebSessions sessions(absl::Hours(8), 16, 10000);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto other = sessions.Create(Customer("nordwind"), now);
  ASSERT_TRUE(other.ok()) << other.status();
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    auto created = sessions.Create(Customer("acme"), now);
    ASSERT_TRUE(created.ok()) << i << ": " << created.status();
    ids.push_back(created->id);
  }
  EXPECT_EQ(sessions.size(), 16u + 1u);
  // The newest 16 are live, the older ones gone, and no other account's.
  size_t live = 0;
  for (const std::string& id : ids) live += sessions.Find(id, now).has_value();
  EXPECT_EQ(live, 16u);
  EXPECT_TRUE(sessions.Find(ids[ids.size() - 16], now).has_value());
  EXPECT_FALSE(sessions.Find(ids[ids.size() - 17], now).has_value());
  EXPECT_FALSE(sessions.Find(ids.front(), now).has_value());
  auto newest = sessions.Find(ids.back(), now);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->acts_as, "customer:acme");
  EXPECT_TRUE(sessions.Find(other->id, now).has_value());
}

TEST(WebSessionsTest, AFullServerRefusesANewAccountAndSignsNoOneOut) {
  WebSessions sessions(absl::Hours(1), 1, 3);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  std::vector<std::string> ids;
  for (const char* id : {"acme", "nordwind", "fietsen-devries"}) {
    auto created = sessions.Create(Customer(id), now);
    ASSERT_TRUE(created.ok()) << created.status();
    ids.push_back(created->id);
  }
  auto refused = sessions.Create(Customer("bakkerij-jansen"), now);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "custos-web holds 3 sessions, the most it may; try again later");
  for (const std::string& id : ids) {
    EXPECT_TRUE(sessions.Find(id, now).has_value());
  }
  // An account at its cap replaces its own oldest, full or not.
  auto again = sessions.Create(Customer("acme"), now);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(sessions.Find(ids[0], now).has_value());
  EXPECT_TRUE(sessions.Find(again->id, now).has_value());
  EXPECT_EQ(sessions.size(), 3u);
  // Expired sessions make room.
  EXPECT_TRUE(
      sessions.Create(Customer("bakkerij-jansen"), now + absl::Hours(1)).ok());
  EXPECT_EQ(sessions.size(), 1u);
}

TEST(WebSessionsTest, EachTakeIdentitySessionIsAnAccountOfItsOwn) {
  WebSessions sessions(absl::Hours(1), 1, 10);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  WebSession first;
  first.kind = WebSession::Kind::kIdentity;
  first.session_id = "s_1";
  first.staff_name = "Anna de Vries";
  first.session_expires = now + absl::Hours(4);
  WebSession second = first;
  second.session_id = "s_2";
  auto a = sessions.Create(first, now);
  auto b = sessions.Create(second, now);
  ASSERT_TRUE(a.ok() && b.ok());
  // The second link of the same engineer leaves the first session's token
  // held: only its own browser lets it go.
  EXPECT_TRUE(sessions.Find(a->id, now).has_value());
  EXPECT_TRUE(sessions.Find(b->id, now).has_value());
  EXPECT_EQ(WebSessions::AccountOf(first), "identity:s_1");
  WebSession dpo;
  dpo.kind = WebSession::Kind::kDpo;
  dpo.acts_as = "staff:dirk.dpo";
  EXPECT_EQ(WebSessions::AccountOf(dpo), "staff:dirk.dpo");
  EXPECT_EQ(WebSessions::AccountOf(Customer("acme")), "customer:acme");
}

// Two logins acting for one customer each have their own cap: one that
// signs in without end signs out only its own older sessions.
TEST(WebSessionsTest, EachLoginHasACapOfItsOwn) {
  WebSessions sessions(absl::Hours(1), 16, 10'000);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  WebSession alice = Customer("acme");
  alice.login = "alice";
  WebSession bob = Customer("acme");
  bob.login = "bob";
  auto kept = sessions.Create(alice, now);
  ASSERT_TRUE(kept.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(sessions.Create(bob, now).ok());
  EXPECT_TRUE(sessions.Find(kept->id, now).has_value());
  EXPECT_EQ(WebSessions::AccountOf(alice), "login:alice");
}

TEST(WebSessionsTest, ATakeIdentitySessionIsKeptAsLongAsItLivesAtCustosd) {
  // The server's sign-ins last 8 hours; a bug, feature or abuse session up
  // to 24 at custosd. Forgotten at 8, its token was gone while it was live.
  WebSessions sessions(absl::Hours(8), 16, 3);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  WebSession identity;
  identity.kind = WebSession::Kind::kIdentity;
  identity.session_id = "s_1";
  identity.session_token = "st_1";
  identity.session_expires = now + absl::Hours(24);
  auto held = sessions.Create(identity, now);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->expires, now + absl::Hours(25));
  auto signed_in = sessions.Create(Customer("acme"), now);
  ASSERT_TRUE(signed_in.ok()) << signed_in.status();
  const absl::Time later = now + absl::Hours(9);
  EXPECT_FALSE(sessions.Find(signed_in->id, later).has_value());
  // Nor do the sweep of expired sessions or a full server drop it.
  ASSERT_TRUE(sessions.Create(Customer("nordwind"), later).ok());
  ASSERT_TRUE(sessions.Create(Customer("fietsen-devries"), later).ok());
  EXPECT_EQ(sessions.Create(Customer("bakkerij-jansen"), later).status().code(),
            absl::StatusCode::kResourceExhausted);
  auto found = sessions.Find(held->id, now + absl::Hours(24));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->session_token, "st_1");
  // Past its expiry, for the next click to say it expired; then forgotten.
  EXPECT_TRUE(sessions.Find(held->id, now + absl::Hours(24) + absl::Minutes(59))
                  .has_value());
  EXPECT_FALSE(sessions.Find(held->id, now + absl::Hours(25)).has_value());
  EXPECT_EQ(sessions.size(), 2u);
}

TEST(WebSessionsTest, AShortTakeIdentitySessionIsKeptAnHourPastItsExpiry) {
  WebSessions sessions(absl::Hours(8), 16, 10);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  WebSession identity;
  identity.kind = WebSession::Kind::kIdentity;
  identity.session_id = "s_1";
  identity.session_expires = now + absl::Seconds(3);
  auto held = sessions.Create(identity, now);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->expires, now + absl::Seconds(3) + absl::Hours(1));
  // One that would be forgotten at once is not taken: its token would be
  // kept by nobody.
  identity.session_expires = now - absl::Hours(1);
  auto expired = sessions.Create(identity, now);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(expired.status().message(),
            "session s_1 expired at 2027-01-15T07:00:00+00:00");
  EXPECT_EQ(sessions.size(), 1u);
}

TEST(TakeIdentitySessionOverTest, AnEndUnderWayKeepsTheToken) {
  EXPECT_TRUE(TakeIdentitySessionOver(
      absl::NotFoundError("session_token: no such session")));
  EXPECT_TRUE(TakeIdentitySessionOver(
      absl::FailedPreconditionError("session s_1 is SESSION_ENDED already")));
  EXPECT_TRUE(TakeIdentitySessionOver(absl::FailedPreconditionError(
      "session s_1 is SESSION_REVOKED by dpo:dirk.dpo")));
  // custosd's answer while another call's end of the session is written
  // (gateway/sessions/session_store.cc, NotEnding): that end may fail.
  EXPECT_FALSE(TakeIdentitySessionOver(
      absl::AbortedError("session s_1 is ending (its end is being recorded); "
                         "nothing more is shown")));
  EXPECT_FALSE(TakeIdentitySessionOver(absl::OkStatus()));
  EXPECT_FALSE(TakeIdentitySessionOver(
      absl::AbortedError("session s_1 is being ended already; try again")));
  EXPECT_FALSE(TakeIdentitySessionOver(
      absl::UnavailableError("custosd is unavailable; try again")));
}

TEST(AnonymousFormTokensTest, HoldUntilTheyLapse) {
  auto tokens = AnonymousFormTokens::Create(absl::Minutes(30));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto token = tokens->Issue(now);
  auto other = tokens->Issue(now);
  ASSERT_TRUE(token.ok() && other.ok());
  EXPECT_NE(*token, *other);
  EXPECT_TRUE(absl::StartsWith(*token, "1800001800."));
  EXPECT_EQ(tokens->Expiry(*token, now), now + absl::Minutes(30));
  EXPECT_EQ(tokens->Expiry(*token, now + absl::Minutes(29)),
            now + absl::Minutes(30));
  EXPECT_EQ(tokens->Expiry(*token, now + absl::Minutes(30)), std::nullopt);
}

TEST(AnonymousFormTokensTest, RefusesForgedAlteredAndOthersTokens) {
  auto tokens = AnonymousFormTokens::Create(absl::Minutes(30));
  auto elsewhere = AnonymousFormTokens::Create(absl::Minutes(30));
  ASSERT_TRUE(tokens.ok() && elsewhere.ok());
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto token = tokens->Issue(now);
  auto theirs = elsewhere->Issue(now);
  ASSERT_TRUE(token.ok() && theirs.ok());
  ASSERT_TRUE(tokens->Expiry(*token, now).has_value());
  // A later expiry under the same MAC, a changed nonce, a changed MAC.
  std::string later = *token;
  later[3] = later[3] == '9' ? '8' : '9';
  std::string nonce = *token;
  nonce[12] = nonce[12] == 'a' ? 'b' : 'a';
  std::string mac = *token;
  mac.back() = mac.back() == 'a' ? 'b' : 'a';
  for (const std::string& bad :
       {later, nonce, mac, token->substr(0, token->size() - 1),
        token->substr(0, token->rfind('.')), *theirs, std::string(),
        std::string("."), std::string(".."), std::string(64, 'a'),
        absl::StrCat("1800001800", token->substr(token->rfind('.')))}) {
    EXPECT_EQ(tokens->Expiry(bad, now), std::nullopt) << bad;
  }
}

TEST(AnonymousFormTokensTest, CookieIsHostOnlyAndEndsWithTheToken) {
  auto tokens = AnonymousFormTokens::Create(absl::Minutes(30));
  ASSERT_TRUE(tokens.ok());
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto token = tokens->Issue(now);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(tokens->Cookie(*token, now),
            absl::StrCat("__Host-custos-form=", *token,
                         "; Path=/; Secure; HttpOnly; SameSite=Lax; "
                         "Max-Age=1800"));
  EXPECT_TRUE(absl::EndsWith(tokens->Cookie(*token, now + absl::Minutes(20)),
                             "; Max-Age=600"));
}

}  // namespace
}  // namespace custos::web
