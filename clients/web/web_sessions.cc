#include "clients/web/web_sessions.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/web/web_security.h"
#include "common/openssl.h"

namespace custos::web {

std::string WebSessions::AccountOf(const WebSession& session) {
  switch (session.kind) {
    case WebSession::Kind::kCustomer:
    case WebSession::Kind::kDpo:
      // By login: one login's sign-ins must not sign out a colleague who
      // acts for the same customer.
      return session.login.empty() ? session.acts_as
                                   : absl::StrCat("login:", session.login);
    case WebSession::Kind::kIdentity:
      return absl::StrCat("identity:", session.session_id);
    case WebSession::Kind::kAnonymous:
      break;
  }
  return "";
}

absl::StatusOr<WebSession> WebSessions::Create(WebSession session,
                                               absl::Time now) {
  auto id = RandomToken();
  if (!id.ok()) return id.status();
  auto csrf = RandomToken();
  if (!csrf.ok()) return csrf.status();
  session.id = *id;
  session.csrf = *csrf;
  if (session.kind == WebSession::Kind::kIdentity) {
    // Not `lifetime_`: a take-identity session may last longer (24 h for a
    // bug, a feature, abuse under the default policy), and forgetting its
    // token would leave it live with no one holding it.
    session.expires = session.session_expires + kTakeIdentityKeptPastExpiry;
    if (session.expires <= now) {
      return absl::FailedPreconditionError(absl::StrCat(
          "session ", session.session_id, " expired at ",
          absl::FormatTime(absl::RFC3339_sec, session.session_expires,
                           absl::UTCTimeZone())));
    }
  } else {
    session.expires = now + lifetime_;
  }
  std::string account = AccountOf(session);
  MutexLock lock(&mu_);
  // Forget expired sessions while here, so the map stays bounded by the
  // sessions of the last lifetime.
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    EraseLocked(sessions_.find(by_expiry_.begin()->second));
  }
  // The account's oldest makes room, so the new one never pushes out
  // another account's. Only where the account has none to give does the
  // total refuse: dropping someone else's session instead would sign them
  // out, or leave a take-identity session live with no one holding its token.
  auto held = by_account_.find(account);
  const bool account_full =
      held != by_account_.end() && held->second.size() >= max_per_account_;
  if (!account_full && sessions_.size() >= max_total_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("custos-web holds ", max_total_,
                     " sessions, the most it may; try again later"));
  }
  while (held != by_account_.end() && held->second.size() >= max_per_account_) {
    EraseLocked(sessions_.find(held->second.begin()->second));
    held = by_account_.find(account);
  }
  const uint64_t serial = next_serial_++;
  by_expiry_.emplace(session.expires, session.id);
  by_account_[account].emplace(serial, session.id);
  sessions_[session.id] = Held{session, std::move(account), serial};
  return session;
}

void WebSessions::EraseLocked(std::map<std::string, Held>::iterator it) {
  if (it == sessions_.end()) return;
  by_expiry_.erase({it->second.session.expires, it->first});
  auto held = by_account_.find(it->second.account);
  if (held != by_account_.end()) {
    held->second.erase(it->second.serial);
    if (held->second.empty()) by_account_.erase(held);
  }
  sessions_.erase(it);
}

std::optional<WebSession> WebSessions::Find(const std::string& id,
                                            absl::Time now) {
  if (id.empty()) return std::nullopt;
  MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.session.expires <= now) {
    EraseLocked(it);
    return std::nullopt;
  }
  return it->second.session;
}

void WebSessions::Erase(const std::string& id) {
  MutexLock lock(&mu_);
  EraseLocked(sessions_.find(id));
}

bool TakeIdentitySessionOver(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<AnonymousFormTokens> AnonymousFormTokens::Create(
    absl::Duration lifetime) {
  auto secret = RandomToken();
  if (!secret.ok()) return secret.status();
  return AnonymousFormTokens(*std::move(secret), lifetime);
}

std::string AnonymousFormTokens::Mac(absl::string_view expiry_and_nonce) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(expiry_and_nonce.data()),
       expiry_and_nonce.size(), mac, &mac_len);
  return HexEncode(absl::string_view(reinterpret_cast<char*>(mac), mac_len));
}

absl::StatusOr<std::string> AnonymousFormTokens::Issue(absl::Time now) const {
  auto nonce = RandomToken();
  if (!nonce.ok()) return nonce.status();
  const std::string expiry_and_nonce = absl::StrCat(
      absl::ToUnixSeconds(now + lifetime_), ".", nonce->substr(0, 32));
  return absl::StrCat(expiry_and_nonce, ".", Mac(expiry_and_nonce));
}

std::optional<absl::Time> AnonymousFormTokens::Expiry(absl::string_view token,
                                                      absl::Time now) const {
  const size_t mac_dot = token.rfind('.');
  if (mac_dot == absl::string_view::npos) return std::nullopt;
  const absl::string_view expiry_and_nonce = token.substr(0, mac_dot);
  if (!TokensEqual(token.substr(mac_dot + 1), Mac(expiry_and_nonce))) {
    return std::nullopt;
  }
  // Only now is the rest known to be ours.
  const std::vector<absl::string_view> parts =
      absl::StrSplit(expiry_and_nonce, '.');
  int64_t seconds = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &seconds)) {
    return std::nullopt;
  }
  const absl::Time expiry = absl::FromUnixSeconds(seconds);
  if (expiry <= now) return std::nullopt;
  return expiry;
}

std::string AnonymousFormTokens::Cookie(absl::string_view token,
                                        absl::Time now) const {
  auto expiry = Expiry(token, now);
  // Lax, unlike the session cookie: a link followed from another site then
  // keeps the token a pending form holds. No other site's POST carries it.
  return absl::StrCat(kFormCookie, "=", token,
                      "; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=",
                      expiry ? absl::ToInt64Seconds(*expiry - now) : 0);
}

}  // namespace custos::web
