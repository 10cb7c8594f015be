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
  session.expires = now + lifetime_;
  MutexLock lock(&mu_);
  // Forget expired sessions while here, so the map stays bounded by the
  // sessions of the last lifetime.
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires <= now ? sessions_.erase(it) : std::next(it);
  }
  sessions_[session.id] = session;
  return session;
}

std::optional<WebSession> WebSessions::Find(const std::string& id,
                                            absl::Time now) {
  if (id.empty()) return std::nullopt;
  MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void WebSessions::Erase(const std::string& id) {
  MutexLock lock(&mu_);
  sessions_.erase(id);
}

}  // namespace custos::web
