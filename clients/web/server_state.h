// The parts of custos-web's server that its page files share: the
// server's state (the gRPC stubs, the browser sessions, the accounts) and the
// small helpers every handler uses. Internal to the web_server library (it is
// in its srcs, so nothing else can include it).
//
// Thread-safety: as WebServer; the State's members are thread-safe or
// immutable after Create.
#ifndef CUSTOS_CLIENTS_WEB_SERVER_STATE_H_
#define CUSTOS_CLIENTS_WEB_SERVER_STATE_H_

#include <grpcpp/client_context.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/web/client_address.h"
#include "clients/web/portal_accounts.h"
#include "clients/web/web_security.h"
#include "clients/web/web_server.h"
#include "clients/web/web_sessions.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/custos/v1/access.grpc.pb.h"
#include "proto/custos/v1/approvals.grpc.pb.h"
#include "proto/custos/v1/audit.grpc.pb.h"
#include "proto/custos/v1/identity.grpc.pb.h"

namespace custos::web {

using Request = httplib::Request;
using Response = httplib::Response;

struct WebServer::State {
  WebOptions options;
  std::unique_ptr<httplib::SSLServer> http;
  int port = 0;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<custos::v1::TakeIdentity::Stub> identity;
  std::unique_ptr<custos::v1::AuditLog::Stub> audit;
  std::unique_ptr<custos::v1::Approvals::Stub> approvals;
  std::unique_ptr<custos::v1::StaffAccess::Stub> access;
  PortalAccounts accounts;
  // A hash of no one's password, checked for an unknown login so that the
  // answer's timing does not tell which logins exist. Made at start.
  std::string unknown_login_hash;
  std::string pseudonym_secret;
  // Sign-ins for 8 hours (a take-identity session for its own time at
  // custosd, up to 24 h under the default policy, and an hour past it); 16
  // browsers at once for one account, the 17th signing out its oldest;
  // 10,000 in all (some 10 MB), which takes 625 accounts' passwords to fill.
  WebSessions sessions{absl::Hours(8), 16, 10000};
  // Made in Create.
  std::optional<AnonymousFormTokens> form_tokens;
  LoginLimiter login_limiter{5, absl::Minutes(15)};
  // Parsed from options.trusted_proxies in Create.
  TrustedProxies trusted_proxies;

  // The browser's address (client_address.h): the TCP peer's, or the one a
  // trusted proxy names. INVALID_ARGUMENT naming X-Forwarded-For when a
  // trusted proxy's list does not hold addresses; the pre-routing handler
  // refuses such a request, so a handler never sees one.
  absl::StatusOr<std::string> ClientAddressOf(const Request& req) const {
    std::vector<std::string> forwarded_for;
    const size_t count = req.get_header_value_count(kForwardedForHeader);
    for (size_t i = 0; i < count; ++i) {
      forwarded_for.push_back(req.get_header_value(kForwardedForHeader, i));
    }
    return ClientAddress(req.remote_addr, forwarded_for, trusted_proxies);
  }
  // ClientAddressOf in a handler: the pre-routing handler lets through only
  // requests that have an address, so the peer is never taken instead.
  std::string BrowserAddress(const Request& req) const {
    absl::StatusOr<std::string> address = ClientAddressOf(req);
    return address.ok() ? *std::move(address) : req.remote_addr;
  }

  // A call context for custosd: a deadline, whom custos-web calls for (empty
  // for take-identity calls, where the token names the engineer) and the
  // browser's address, which custosd places against the policy's networks.
  std::unique_ptr<grpc::ClientContext> Context(absl::string_view acts_as,
                                               const Request& req) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
    if (!acts_as.empty()) {
      context->AddMetadata("custos-on-behalf-of", std::string(acts_as));
    }
    context->AddMetadata("custos-client-address", BrowserAddress(req));
    return context;
  }

  // The browser's session: the one its session cookie names, or else, for a
  // visitor who has not signed in, an anonymous one (no id) whose CSRF token
  // is the good form token in their form cookie; nullopt when neither.
  std::optional<WebSession> SessionOf(const Request& req) {
    const std::string cookies = req.get_header_value("Cookie");
    const absl::Time now = absl::Now();
    if (auto s = sessions.Find(SessionIdFromCookies(cookies), now)) return s;
    const std::string token = CookieValue(cookies, kFormCookie);
    const std::optional<absl::Time> expiry = form_tokens->Expiry(token, now);
    if (!expiry) return std::nullopt;
    WebSession anonymous;
    anonymous.csrf = token;
    anonymous.expires = *expiry;
    return anonymous;
  }

  // The browser's session, or an anonymous one (for the forms a visitor
  // sees before signing in), with a new form token in the form cookie when
  // theirs is missing or past half its life, so that a form just shown has
  // time to be filled in. Nothing is kept, and the session cookie is left
  // alone: a link from another site, which comes without it, signs no one
  // out.
  absl::StatusOr<WebSession> SessionOrAnonymous(const Request& req,
                                                Response& res) {
    const absl::Time now = absl::Now();
    auto session = SessionOf(req);
    if (session && (session->kind != WebSession::Kind::kAnonymous ||
                    session->expires - now >= form_tokens->lifetime() / 2)) {
      return *session;
    }
    auto token = form_tokens->Issue(now);
    if (!token.ok()) return token.status();
    res.set_header("Set-Cookie", form_tokens->Cookie(*token, now));
    WebSession anonymous;
    anonymous.csrf = *token;
    anonymous.expires = now + form_tokens->lifetime();
    return anonymous;
  }

  using Form = std::map<std::string, std::string>;
  // The form of a POST from a page served to a visitor who need not have
  // signed in (the sign-in form, the page a take-identity link opens), with
  // its CSRF token checked: `session`'s, or else the good form token in the
  // browser's form cookie. Such a page opened from another site comes
  // without the SameSite=Strict session cookie and so carries the form
  // token, while its own POST, same-site, carries both cookies. The form
  // token proves as much as the session's: custos-web's HMAC binds it, the
  // form must repeat the very token of the cookie, and no other site reads
  // the cookie (HttpOnly) or has it sent with its POST (SameSite=Lax).
  // Errors as CheckedForm.
  absl::StatusOr<Form> CheckedVisitorForm(const Request& req,
                                          const WebSession& session);
  // Ends at custosd the take-identity session that `held` (a browser's
  // session about to be dropped, for a new one or on sign-out) holds the
  // token of, which no one could end or use after: as the engineer's End
  // session does. Nothing for other kinds. When custosd does not end it
  // (and it was not over already), custos-web's log says so, naming the
  // session; the caller drops `held` all the same.
  void EndHeldTakeIdentitySession(const WebSession& held, const Request& req,
                                  absl::string_view why);
  // A POST for a signed-in `kind`: its CSRF-checked form becomes one RPC
  // (made for the signed-in person), then the browser goes to `back`.
  void PostAction(
      const char* path, WebSession::Kind kind, const char* back,
      std::function<grpc::Status(grpc::ClientContext*, const Form&)> call);

  void Install();
  void ServeStatic();
  void ServeIdentity();
  void ServeLogin();
  void ServePortal();
  void ServeDpo();
};

// gRPC's status as an absl::Status, and the HTTP code a page shows it with.
absl::Status FromGrpc(const grpc::Status& status);
int HttpCode(const absl::Status& status);
absl::Time FromTimestamp(const google::protobuf::Timestamp& t);
// A query parameter, or "".
std::string Param(const Request& req, const char* name);
// The field `name` of a form, or "".
std::string Field(const std::map<std::string, std::string>& form,
                  const char* name);
// An <a> with escaped href and text.
std::string Link(absl::string_view href, absl::string_view text);
// %-escapes all but unreserved characters and '/'.
std::string QueryEscape(absl::string_view text);

void SendPage(Response& res, int code, absl::string_view title,
              absl::string_view banner, absl::string_view body);
// An error page whose code follows the status (403 for PERMISSION_DENIED...).
void SendError(Response& res, const absl::Status& status,
               absl::string_view title = "Refused");
// A 303 See Other to `to`.
void Redirect(Response& res, absl::string_view to);
// A POST's form with its CSRF token checked against `session`.
absl::StatusOr<std::map<std::string, std::string>> CheckedForm(
    const Request& req, const WebSession& session);
// A titled table with an id the tests and scripts find it by; cells are HTML.
std::string Section(absl::string_view title, absl::string_view id,
                    const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows);
std::string SignOutForm(const WebSession& session);

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_SERVER_STATE_H_
