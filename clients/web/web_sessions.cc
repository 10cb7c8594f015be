#include "clients/web/web_sessions.h"

#include "clients/web/web_security.h"

namespace custos::web {

absl::StatusOr<WebSession> WebSessions::Create(WebSession session,
                                               absl::Time now) {
  auto id = RandomToken();
  if (!id.ok()) return id.status();
  auto csrf = RandomToken();
  if (!csrf.ok()) return csrf.status();
  session.id = *id;
  session.csrf = *csrf;
  const bool anonymous = session.kind == WebSession::Kind::kAnonymous;
  session.expires = now + (anonymous ? anonymous_lifetime_ : lifetime_);
  MutexLock lock(&mu_);
  // Forget expired sessions while here, so the map stays bounded by the
  // sessions of the last lifetime.
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    EraseLocked(sessions_.find(by_expiry_.begin()->second));
  }
  if (anonymous) {
    while (!anonymous_by_expiry_.empty() &&
           anonymous_by_expiry_.size() >= max_anonymous_) {
      EraseLocked(sessions_.find(anonymous_by_expiry_.begin()->second));
    }
    anonymous_by_expiry_.emplace(session.expires, session.id);
  }
  by_expiry_.emplace(session.expires, session.id);
  sessions_[session.id] = session;
  return session;
}

void WebSessions::EraseLocked(std::map<std::string, WebSession>::iterator it) {
  if (it == sessions_.end()) return;
  const std::pair<absl::Time, std::string> key(it->second.expires, it->first);
  by_expiry_.erase(key);
  anonymous_by_expiry_.erase(key);
  sessions_.erase(it);
}

std::optional<WebSession> WebSessions::Find(const std::string& id,
                                            absl::Time now) {
  if (id.empty()) return std::nullopt;
  MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    EraseLocked(it);
    return std::nullopt;
  }
  return it->second;
}

void WebSessions::Erase(const std::string& id) {
  MutexLock lock(&mu_);
  EraseLocked(sessions_.find(id));
}

}  // namespace custos::web
