#include "clients/web/web_server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <httplib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "clients/web/html.h"
#include "clients/web/portal_accounts.h"
#include "clients/web/static_app_js.h"
#include "clients/web/static_style_css.h"
#include "clients/web/static_verify_js.h"
#include "clients/web/web_security.h"
#include "clients/web/web_sessions.h"
#include "google/protobuf/util/time_util.h"
#include "proto/custos/v1/access.grpc.pb.h"
#include "proto/custos/v1/approvals.grpc.pb.h"
#include "proto/custos/v1/audit.grpc.pb.h"
#include "proto/custos/v1/identity.grpc.pb.h"

namespace custos::web {
namespace {

using google::protobuf::util::TimeUtil;
using Request = httplib::Request;
using Response = httplib::Response;

constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'";

absl::StatusOr<std::string> ReadFile(const std::string& what,
                                     const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

int HttpCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 410;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

std::string Param(const Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

// The field `name` of a form, or "".
std::string Field(const std::map<std::string, std::string>& form,
                  const char* name) {
  auto it = form.find(name);
  return it == form.end() ? "" : it->second;
}

std::string Link(absl::string_view href, absl::string_view text) {
  return absl::StrCat("<a href=\"", HtmlEscape(href), "\">", HtmlEscape(text),
                      "</a>");
}

std::string QueryEscape(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

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
  std::string pseudonym_secret;
  WebSessions sessions{absl::Hours(8)};
  LoginLimiter login_limiter{5, absl::Minutes(15)};

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
    context->AddMetadata("custos-client-address", req.remote_addr);
    return context;
  }

  std::optional<WebSession> SessionOf(const Request& req) {
    return sessions.Find(
        CookieValue(req.get_header_value("Cookie"), kSessionCookie),
        absl::Now());
  }

  // The browser's session, or a new anonymous one (for the forms a visitor
  // sees before signing in: their CSRF token needs a session to belong to).
  absl::StatusOr<WebSession> SessionOrAnonymous(const Request& req,
                                                Response& res) {
    if (auto s = SessionOf(req)) return *s;
    auto created = sessions.Create(WebSession{}, absl::Now());
    if (!created.ok()) return created.status();
    res.set_header("Set-Cookie",
                   SessionCookie(created->id, sessions.lifetime()));
    return created;
  }

  using Form = std::map<std::string, std::string>;
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

namespace {

void SendPage(Response& res, int code, absl::string_view title,
              absl::string_view banner, absl::string_view body) {
  res.status = code;
  res.set_content(Page(title, banner, body), "text/html; charset=utf-8");
}

void SendError(Response& res, const absl::Status& status,
               absl::string_view title = "Refused") {
  SendPage(res, HttpCode(status), title, "",
           absl::StrCat("<p class=\"error\" id=\"error\">",
                        HtmlEscape(status.message()), "</p><p>",
                        Link("/", "Start page"), "</p>"));
}

void Redirect(Response& res, absl::string_view to) {
  res.set_redirect(std::string(to), 303);
}

// A POST's form with its CSRF token checked against `session`.
absl::StatusOr<std::map<std::string, std::string>> CheckedForm(
    const Request& req, const WebSession& session) {
  auto form = ParseForm(req.body);
  if (!form.ok()) return form.status();
  if (auto s = CheckCsrf(session.csrf, *form); !s.ok()) return s;
  return form;
}

// A titled table with an id the tests and scripts find it by; cells are HTML.
std::string Section(absl::string_view title, absl::string_view id,
                    const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows) {
  return absl::StrCat("<h2>", HtmlEscape(title), "</h2><div id=\"", id, "\">",
                      HtmlTable(header, rows), "</div>");
}

std::string SignOutForm(const WebSession& session) {
  return absl::StrCat(
      "<nav class=\"account\">Signed in as ", HtmlEscape(session.acts_as), " ",
      ButtonForm("/logout", session.csrf, {}, "Sign out"), "</nav>");
}

}  // namespace

void WebServer::State::ServeStatic() {
  auto serve = [this](const char* path, const char* body, const char* type) {
    http->Get(path, [body, type](const Request&, Response& res) {
      res.set_content(body, type);
      res.set_header("Cache-Control", "no-cache");
    });
  };
  serve("/static/app.js", kStaticAppJs, "text/javascript; charset=utf-8");
  serve("/static/verify.js", kStaticVerifyJs, "text/javascript; charset=utf-8");
  serve("/static/style.css", kStaticStyleCss, "text/css; charset=utf-8");
  http->Get("/", [this](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (session && session->kind == WebSession::Kind::kCustomer)
      return Redirect(res, "/portal");
    if (session && session->kind == WebSession::Kind::kDpo)
      return Redirect(res, "/dpo");
    if (session && session->kind == WebSession::Kind::kIdentity)
      return Redirect(res, "/identity/view?page=dashboard");
    SendPage(res, 200, "Custos", "",
             absl::StrCat(
                 "<p>Every staff access to customer data here is justified, "
                 "checked and logged.</p><ul><li>",
                 Link("/login", "Customers and the DPO: sign in"),
                 "</li><li>Staff: open the single-use link that <code>custos "
                 "identity start</code> printed.</li></ul>"));
  });
}

void WebServer::State::ServeLogin() {
  http->Get("/login", [this](const Request& req, Response& res) {
    auto session = SessionOrAnonymous(req, res);
    if (!session.ok()) return SendError(res, session.status());
    if (session->kind != WebSession::Kind::kAnonymous)
      return Redirect(res, "/");
    SendPage(
        res, 200, "Sign in", "",
        absl::StrCat("<form method=\"post\" action=\"/login\" id=\"login\">"
                     "<input type=\"hidden\" name=\"csrf\" value=\"",
                     HtmlEscape(session->csrf),
                     "\"><label>Login <input name=\"login\" "
                     "autocomplete=\"username\" required></label>"
                     "<label>Password <input name=\"password\" "
                     "type=\"password\" autocomplete=\"current-password\" "
                     "required></label><button type=\"submit\">Sign in"
                     "</button></form>"));
  });
  http->Post("/login", [this](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (!session) {
      return SendError(res, absl::PermissionDeniedError(
                                "csrf: no session; open the sign-in page "
                                "again"));
    }
    auto form = CheckedForm(req, *session);
    if (!form.ok()) return SendError(res, form.status());
    const std::string login = Field(*form, "login");
    const absl::Time now = absl::Now();
    const std::string login_key = absl::StrCat("login:", login);
    const std::string address_key = absl::StrCat("address:", req.remote_addr);
    if (!login_limiter.Allowed(login_key, now) ||
        !login_limiter.Allowed(address_key, now)) {
      return SendError(res, absl::ResourceExhaustedError(
                                "too many failed sign-ins; wait 15 minutes"));
    }
    const PortalAccount* account = accounts.Find(login);
    // Hash even for an unknown login, so timing does not tell which exist.
    static const std::string kDummy = *HashPassword("unused");
    const bool ok = CheckPassword(account ? account->password_hash : kDummy,
                                  Field(*form, "password"));
    if (!ok || account == nullptr) {
      login_limiter.RecordFailure(login_key, now);
      login_limiter.RecordFailure(address_key, now);
      return SendError(res,
                       absl::UnauthenticatedError("login or password is wrong"),
                       "Sign in");
    }
    login_limiter.RecordSuccess(login_key);
    WebSession signed_in;
    signed_in.acts_as = account->acts_as;
    signed_in.kind = absl::StartsWith(account->acts_as, "customer:")
                         ? WebSession::Kind::kCustomer
                         : WebSession::Kind::kDpo;
    auto created = sessions.Create(signed_in, now);
    if (!created.ok()) return SendError(res, created.status());
    sessions.Erase(session->id);
    res.set_header("Set-Cookie",
                   SessionCookie(created->id, sessions.lifetime()));
    Redirect(res,
             created->kind == WebSession::Kind::kCustomer ? "/portal" : "/dpo");
  });
  http->Post("/logout", [this](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (!session) return Redirect(res, "/login");
    auto form = CheckedForm(req, *session);
    if (!form.ok()) return SendError(res, form.status());
    sessions.Erase(session->id);
    res.set_header("Set-Cookie", ClearedSessionCookie());
    Redirect(res, "/login");
  });
}

namespace {

// The banner of a take-identity session: always first on the page, with no
// way to close it.
std::string Banner(const WebSession& s) {
  const absl::Duration left = s.session_expires - absl::Now();
  return absl::StrCat(
      "<header class=\"identity-banner\" id=\"identity-banner\" "
      "role=\"banner\">"
      "<strong>",
      HtmlEscape(s.staff_name), "</strong> is viewing <strong>",
      HtmlEscape(s.customer_id), "</strong> as <strong>",
      HtmlEscape(s.user_name), "</strong> · why: <span id=\"banner-why\">",
      HtmlEscape(s.category), " ", HtmlEscape(s.reference),
      "</span> · time left: <span id=\"time-left\" data-expires=\"",
      absl::ToUnixSeconds(s.session_expires), "\">", ShowDuration(left),
      "</span> · read-only · every page is logged ",
      ButtonForm("/identity/end", s.csrf, {}, "End session"), "</header>");
}

std::string IdentityNav() {
  std::string out = "<nav class=\"app\">";
  for (const char* page :
       {"dashboard", "campaigns", "subscribers", "messages"}) {
    absl::StrAppend(
        &out, Link(absl::StrCat("/identity/view?page=", page), page), " ");
  }
  return out + "</nav>";
}

// Records as a table; each record links to its own page where the app has
// one.
std::string RecordTable(const custos::v1::ViewPageResponse& page,
                        absl::string_view list_page) {
  std::vector<std::string> header = {"id"};
  std::set<std::string> seen;
  for (const auto& r : page.records()) {
    for (const auto& [key, value] : r.fields()) {
      if (seen.insert(key).second) header.push_back(key);
    }
  }
  const bool linkable = list_page == "campaigns" ||
                        list_page == "subscribers" || list_page == "messages";
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : page.records()) {
    std::vector<std::string> row;
    row.push_back(linkable
                      ? Link(absl::StrCat("/identity/view?page=", list_page,
                                          "/", QueryEscape(r.id())),
                             r.id())
                      : HtmlEscape(r.id()));
    for (size_t i = 1; i < header.size(); ++i) {
      auto it = r.fields().find(header[i]);
      row.push_back(it == r.fields().end() ? "" : HtmlEscape(it->second));
    }
    rows.push_back(std::move(row));
  }
  return HtmlTable(header, rows);
}

}  // namespace

void WebServer::State::ServeIdentity() {
  // The link's token is in the fragment, which never reaches a server: the
  // page's script posts it once, then removes it from the address bar.
  http->Get("/identity/start", [this](const Request& req, Response& res) {
    auto session = SessionOrAnonymous(req, res);
    if (!session.ok()) return SendError(res, session.status());
    SendPage(
        res, 200, "Opening the take-identity session", "",
        absl::StrCat("<form method=\"post\" action=\"/identity/exchange\" "
                     "id=\"exchange\"><input type=\"hidden\" name=\"csrf\" "
                     "value=\"",
                     HtmlEscape(session->csrf),
                     "\"><input type=\"hidden\" name=\"link_token\" "
                     "id=\"link_token\" value=\"\"><noscript>This page needs "
                     "JavaScript to read the link.</noscript></form>"
                     "<p id=\"exchange-status\">Opening…</p>"));
  });
  http->Post("/identity/exchange", [this](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (!session) {
      return SendError(res, absl::PermissionDeniedError(
                                "csrf: no session; open the link again"));
    }
    auto form = CheckedForm(req, *session);
    if (!form.ok()) return SendError(res, form.status());
    const std::string link_token = Field(*form, "link_token");
    if (auto s = ValidateLinkToken(link_token); !s.ok())
      return SendError(res, s);
    custos::v1::ExchangeLinkRequest request;
    request.set_link_token(link_token);
    custos::v1::ExchangeLinkResponse response;
    auto context = Context("", req);
    if (auto s =
            FromGrpc(identity->ExchangeLink(context.get(), request, &response));
        !s.ok()) {
      return SendError(res, s, "This link cannot be opened");
    }
    WebSession opened;
    opened.kind = WebSession::Kind::kIdentity;
    opened.session_token = response.session_token();
    opened.session_id = response.session().session_id();
    opened.staff_name = response.staff_display_name();
    opened.user_name = response.customer_user_display_name();
    opened.customer_id = response.session().customer_id();
    opened.category = response.session().justification().category();
    opened.reference = response.session().justification().reference();
    opened.session_expires = FromTimestamp(response.session().expires_at());
    auto created = sessions.Create(opened, absl::Now());
    if (!created.ok()) return SendError(res, created.status());
    sessions.Erase(session->id);
    res.set_header("Set-Cookie",
                   SessionCookie(created->id, sessions.lifetime()));
    // A clean address: nothing secret stays in the browser's history.
    Redirect(res, "/identity/view?page=dashboard");
  });
  http->Get("/identity/view", [this](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (!session || session->kind != WebSession::Kind::kIdentity) {
      return SendError(res, absl::UnauthenticatedError(
                                "no take-identity session in this browser"));
    }
    std::string page = Param(req, "page");
    if (page.empty()) page = "dashboard";
    custos::v1::ViewPageRequest request;
    request.set_session_token(session->session_token);
    request.set_page(page);
    request.set_page_token(Param(req, "page_token"));
    custos::v1::ViewPageResponse response;
    auto context = Context("", req);
    absl::Status s =
        FromGrpc(identity->ViewPage(context.get(), request, &response));
    if (s.code() == absl::StatusCode::kFailedPrecondition ||
        s.code() == absl::StatusCode::kNotFound) {
      // Ended, expired or revoked: the browser session goes with it.
      sessions.Erase(session->id);
      res.set_header("Set-Cookie", ClearedSessionCookie());
      return SendPage(res, 410, "Session ended", "",
                      absl::StrCat("<p class=\"error\" id=\"ended\">",
                                   HtmlEscape(s.message()),
                                   "</p><p>Nothing more is shown.</p>"));
    }
    const std::string list_page(page.substr(0, page.find('/')));
    std::string body = IdentityNav();
    if (!s.ok()) {
      absl::StrAppend(&body, "<p class=\"error\" id=\"error\">",
                      HtmlEscape(s.message()), "</p>");
      return SendPage(res, HttpCode(s), page, Banner(*session), body);
    }
    absl::StrAppend(&body, RecordTable(response, list_page));
    if (!response.next_page_token().empty()) {
      absl::StrAppend(
          &body, "<p>",
          Link(absl::StrCat(
                   "/identity/view?page=", QueryEscape(page),
                   "&page_token=", QueryEscape(response.next_page_token())),
               "Next page"),
          "</p>");
    }
    absl::StrAppend(&body, "<p class=\"logged\">Logged as entry #",
                    response.log_index(), ".</p>");
    SendPage(res, 200, response.title(), Banner(*session), body);
  });
  http->Post("/identity/end", [this](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (!session || session->kind != WebSession::Kind::kIdentity) {
      return SendError(res, absl::UnauthenticatedError(
                                "no take-identity session in this browser"));
    }
    auto form = CheckedForm(req, *session);
    if (!form.ok()) return SendError(res, form.status());
    custos::v1::EndSessionRequest request;
    request.set_session_token(session->session_token);
    request.set_reason("ended in custos-web");
    custos::v1::EndSessionResponse response;
    auto context = Context("", req);
    absl::Status s =
        FromGrpc(identity->EndSession(context.get(), request, &response));
    sessions.Erase(session->id);
    res.set_header("Set-Cookie", ClearedSessionCookie());
    SendPage(res, s.ok() ? 200 : HttpCode(s), "Session ended", "",
             absl::StrCat("<p id=\"ended\">",
                          s.ok() ? absl::StrCat("Session ",
                                                HtmlEscape(session->session_id),
                                                " ended; logged as entry #",
                                                response.log_index(), ".")
                                 : HtmlEscape(s.message()),
                          "</p>"));
  });
}

namespace {

// The access-log filters of the portal's query string, as a ListEntries
// request. INVALID_ARGUMENT naming the parameter.
absl::StatusOr<custos::v1::ListEntriesRequest> LogFilters(const Request& req) {
  custos::v1::ListEntriesRequest request;
  request.set_category(Param(req, "category"));
  const std::string outcome = Param(req, "outcome");
  if (!outcome.empty()) {
    custos::v1::Outcome value;
    if (!custos::v1::Outcome_Parse(absl::StrCat("OUTCOME_", outcome), &value)) {
      return absl::InvalidArgumentError(
          "outcome: expected ALLOWED, REFUSED or PENDING");
    }
    request.set_outcome(value);
  }
  for (const char* name : {"from", "to"}) {
    const std::string day = Param(req, name);
    if (day.empty()) continue;
    absl::Time t;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%d", day, absl::UTCTimeZone(), &t, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": expected a day as YYYY-MM-DD"));
    }
    if (std::string(name) == "to") t += absl::Hours(24);
    *(std::string(name) == "from" ? request.mutable_from()
                                  : request.mutable_to()) =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
  }
  int page_size = 50;
  if (const std::string size = Param(req, "page_size"); !size.empty()) {
    if (!absl::SimpleAtoi(size, &page_size) || page_size < 1 ||
        page_size > 1000) {
      return absl::InvalidArgumentError("page_size: expected 1 to 1000");
    }
  }
  request.set_page_size(page_size);
  request.set_page_token(Param(req, "page_token"));
  return request;
}

// One access-log row as a customer sees it: staff by role and pseudonym.
struct LogRow {
  uint64_t index = 0;
  std::string when, who, country, category, reference, action, read, outcome;
};

LogRow ToRow(const custos::v1::LogEntry& e, absl::string_view secret,
             absl::string_view customer_id) {
  LogRow row;
  row.index = e.index();
  row.when = ShowTime(FromTimestamp(e.time()));
  switch (e.actor().kind()) {
    case custos::v1::ACTOR_STAFF:
      row.who =
          absl::StrCat(absl::StrJoin(e.actor().roles(), "+"), " ",
                       StaffPseudonym(secret, customer_id, e.actor().id()));
      break;
    case custos::v1::ACTOR_CUSTOMER:
      row.who = "you";
      break;
    case custos::v1::ACTOR_SYSTEM:
      row.who = "custosd";
      break;
    default:
      row.who = "unknown caller";
  }
  if (!e.actor().via().empty())
    absl::StrAppend(&row.who, " via ", e.actor().via());
  row.country = e.actor().country().empty() ? "unplaced" : e.actor().country();
  row.category = e.category();
  row.reference = e.reference();
  row.action = e.action();
  row.read = e.resource();
  if (e.data_kind() != custos::v1::DATA_KIND_UNSPECIFIED) {
    row.read = absl::StrCat(custos::v1::DataKind_Name(e.data_kind()), " ×",
                            e.record_count(), " (", e.resource(), ")");
  }
  row.outcome = std::string(
      absl::StripPrefix(custos::v1::Outcome_Name(e.outcome()), "OUTCOME_"));
  return row;
}

std::string CsvCell(absl::string_view text) {
  // A leading =, +, - or @ would be a formula in a spreadsheet.
  std::string value(text);
  if (!value.empty() && std::string("=+-@").find(value[0]) != std::string::npos)
    value = "'" + value;
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\"", "\"\""}}), "\"");
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

// Proof hashes as a JSON array of base64 strings.
std::string JsonHashes(
    const google::protobuf::RepeatedPtrField<std::string>& hashes) {
  std::vector<std::string> out;
  for (const auto& h : hashes) out.push_back(JsonString(absl::Base64Escape(h)));
  return absl::StrCat("[", absl::StrJoin(out, ","), "]");
}

std::string PortalNav(const WebSession& session) {
  return absl::StrCat("<nav class=\"portal\">", Link("/portal", "Access log"),
                      " ", Link("/portal/requests", "Requests and consents"),
                      " ", SignOutForm(session), "</nav>");
}

}  // namespace

void WebServer::State::ServePortal() {
  auto customer = [this](const Request& req,
                         Response& res) -> std::optional<WebSession> {
    auto session = SessionOf(req);
    if (!session || session->kind != WebSession::Kind::kCustomer) {
      Redirect(res, "/login");
      return std::nullopt;
    }
    return session;
  };
  // The page of entries a customer's filters select.
  struct LogPage {
    std::string customer_id;
    std::vector<custos::v1::LogEntry> entries;
    std::string next;
  };
  auto read_log = [this](const Request& req,
                         const WebSession& session) -> absl::StatusOr<LogPage> {
    auto request = LogFilters(req);
    if (!request.ok()) return request.status();
    custos::v1::ListEntriesResponse response;
    auto context = Context(session.acts_as, req);
    if (auto s =
            FromGrpc(audit->ListEntries(context.get(), *request, &response));
        !s.ok())
      return s;
    return LogPage{std::string(absl::StripPrefix(session.acts_as, "customer:")),
                   {response.entries().begin(), response.entries().end()},
                   response.next_page_token()};
  };
  http->Get("/portal", [this, customer, read_log](const Request& req,
                                                  Response& res) {
    auto session = customer(req, res);
    if (!session) return;
    auto log = read_log(req, *session);
    if (!log.ok()) return SendError(res, log.status());
    const std::string& customer_id = log->customer_id;
    const std::vector<custos::v1::LogEntry>& entries = log->entries;
    const std::string& next = log->next;
    std::string body = PortalNav(*session);
    absl::StrAppend(&body,
                    "<form method=\"get\" action=\"/portal\" class=\"filters\">"
                    "<label>Category <input name=\"category\" value=\"",
                    HtmlEscape(Param(req, "category")),
                    "\"></label><label>Outcome <select name=\"outcome\">");
    for (const char* o : {"", "ALLOWED", "REFUSED", "PENDING"}) {
      absl::StrAppend(&body, "<option",
                      Param(req, "outcome") == o ? " selected" : "", ">", o,
                      "</option>");
    }
    absl::StrAppend(
        &body,
        "</select></label><label>From <input name=\"from\" "
        "type=\"date\" value=\"",
        HtmlEscape(Param(req, "from")),
        "\"></label><label>To <input name=\"to\" type=\"date\" "
        "value=\"",
        HtmlEscape(Param(req, "to")),
        "\"></label><button type=\"submit\">Filter</button></form>");
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> indices;
    for (const auto& e : entries) {
      LogRow r = ToRow(e, pseudonym_secret, customer_id);
      indices.push_back(absl::StrCat(r.index));
      rows.push_back({absl::StrCat(r.index), r.when, r.who, r.country,
                      r.category, r.reference, r.action, r.read, r.outcome});
    }
    absl::StrAppend(&body, "<h2>Access log</h2><div id=\"access-log\">",
                    Table({"#", "when", "staff", "from", "category",
                           "reference", "what", "read", "outcome"},
                          rows),
                    "</div>");
    const std::string query = req.target.find('?') == std::string::npos
                                  ? ""
                                  : req.target.substr(req.target.find('?') + 1);
    absl::StrAppend(&body, "<p>");
    if (!next.empty()) {
      httplib::Params params = req.params;
      params.erase("page_token");
      params.emplace("page_token", next);
      absl::StrAppend(
          &body,
          Link(absl::StrCat("/portal?",
                            httplib::detail::params_to_query_str(params)),
               "Next page"),
          " · ");
    }
    absl::StrAppend(
        &body,
        Link(absl::StrCat("/portal/export?format=csv&", query), "Export CSV"),
        " · ",
        Link(absl::StrCat("/portal/export?format=json&", query), "Export JSON"),
        " · ",
        Link(absl::StrCat("/portal/verify?indices=",
                          absl::StrJoin(indices, ",")),
             "Verify these entries in your browser"),
        "</p>");

    custos::v1::ListSessionsRequest sessions_request;
    sessions_request.set_page_size(100);
    custos::v1::ListSessionsResponse sessions_response;
    auto context = Context(session->acts_as, req);
    if (auto s = FromGrpc(identity->ListSessions(
            context.get(), sessions_request, &sessions_response));
        !s.ok())
      return SendError(res, s);
    std::vector<std::vector<std::string>> session_rows;
    for (const auto& s : sessions_response.sessions()) {
      const absl::Time start = FromTimestamp(s.started_at());
      absl::Time end = FromTimestamp(s.ended_at());
      if (end == absl::UnixEpoch())
        end = std::min(absl::Now(), FromTimestamp(s.expires_at()));
      const std::string state(absl::StripPrefix(
          custos::v1::SessionState_Name(s.state()), "SESSION_"));
      session_rows.push_back(
          {s.session_id(),
           StaffPseudonym(pseudonym_secret, customer_id, s.staff_id()),
           s.customer_user_id(), s.justification().category(),
           s.justification().reference(), ShowTime(start),
           ShowDuration(end - start), absl::StrCat(s.page_views()), state});
    }
    absl::StrAppend(&body,
                    "<h2>Take-identity sessions</h2><div id=\"sessions\">",
                    Table({"session", "staff", "as user", "category",
                           "reference", "started", "length", "pages", "state"},
                          session_rows),
                    "</div>");
    SendPage(res, 200, "Who accessed your account", "", body);
  });
  http->Get("/portal/export", [this, customer, read_log](const Request& req,
                                                         Response& res) {
    auto session = customer(req, res);
    if (!session) return;
    auto log = read_log(req, *session);
    if (!log.ok()) return SendError(res, log.status());
    const std::string& customer_id = log->customer_id;
    const std::vector<custos::v1::LogEntry>& entries = log->entries;
    const bool json = Param(req, "format") == "json";
    std::string out =
        json ? "["
             : "index,when,staff,from,category,reference,action,read,outcome\n";
    for (size_t i = 0; i < entries.size(); ++i) {
      LogRow r = ToRow(entries[i], pseudonym_secret, customer_id);
      if (json) {
        absl::StrAppend(&out, i ? ",\n" : "\n", "{\"index\":", r.index,
                        ",\"when\":", JsonString(r.when),
                        ",\"staff\":", JsonString(r.who),
                        ",\"from\":", JsonString(r.country),
                        ",\"category\":", JsonString(r.category),
                        ",\"reference\":", JsonString(r.reference),
                        ",\"action\":", JsonString(r.action),
                        ",\"read\":", JsonString(r.read),
                        ",\"outcome\":", JsonString(r.outcome), "}");
      } else {
        absl::StrAppend(&out, r.index, ",", CsvCell(r.when), ",",
                        CsvCell(r.who), ",", CsvCell(r.country), ",",
                        CsvCell(r.category), ",", CsvCell(r.reference), ",",
                        CsvCell(r.action), ",", CsvCell(r.read), ",",
                        CsvCell(r.outcome), "\n");
      }
    }
    if (json) out += "\n]\n";
    res.set_header("Content-Disposition",
                   absl::StrCat("attachment; filename=\"custos-access-log.",
                                json ? "json" : "csv", "\""));
    res.set_content(out, json ? "application/json" : "text/csv; charset=utf-8");
  });
  http->Get("/portal/requests", [this, customer](const Request& req,
                                                 Response& res) {
    auto session = customer(req, res);
    if (!session) return;
    const std::string customer_id(
        absl::StripPrefix(session->acts_as, "customer:"));
    custos::v1::ListPendingRequestsRequest pending_request;
    pending_request.set_waiting_only(true);
    custos::v1::ListPendingRequestsResponse pending;
    auto context = Context(session->acts_as, req);
    if (auto s = FromGrpc(approvals->ListPendingRequests(
            context.get(), pending_request, &pending));
        !s.ok())
      return SendError(res, s);
    std::string body = PortalNav(*session);
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : pending.requests()) {
      std::vector<std::string> roles;
      rows.push_back(
          {HtmlEscape(p.request_id()),
           HtmlEscape(
               StaffPseudonym(pseudonym_secret, customer_id, p.staff_id())),
           HtmlEscape(p.justification().category()),
           HtmlEscape(p.justification().reference()),
           HtmlEscape(p.country().empty() ? "unplaced" : p.country()),
           absl::StrCat(
               ButtonForm("/portal/decide", session->csrf,
                          {{"request_id", p.request_id()}, {"approve", "yes"}},
                          "Approve"),
               ButtonForm("/portal/decide", session->csrf,
                          {{"request_id", p.request_id()}, {"approve", "no"}},
                          "Refuse"))});
    }
    absl::StrAppend(&body, Section("Waiting for your approval", "pending",
                                   {"request", "staff", "category", "reference",
                                    "from", "decide"},
                                   rows));
    custos::v1::ListPartnerConsentsRequest consent_request;
    custos::v1::ListPartnerConsentsResponse consents;
    context = Context(session->acts_as, req);
    if (auto s = FromGrpc(approvals->ListPartnerConsents(
            context.get(), consent_request, &consents));
        !s.ok())
      return SendError(res, s);
    std::vector<std::vector<std::string>> consent_rows;
    for (const auto& c : consents.consents()) {
      consent_rows.push_back(
          {HtmlEscape(c.partner_organisation()),
           c.consented() ? "given" : "withdrawn",
           ButtonForm("/portal/consent", session->csrf,
                      {{"partner", c.partner_organisation()},
                       {"consent", c.consented() ? "no" : "yes"}},
                      c.consented() ? "Withdraw" : "Give consent")});
    }
    absl::StrAppend(
        &body, "<h2>Partner consents</h2><div id=\"consents\">",
        HtmlTable({"partner", "consent", "change"}, consent_rows),
        "</div><form method=\"post\" action=\"/portal/consent\" "
        "id=\"new-consent\"><input type=\"hidden\" name=\"csrf\" value=\"",
        HtmlEscape(session->csrf),
        "\"><input type=\"hidden\" name=\"consent\" value=\"yes\">"
        "<label>Partner <input name=\"partner\" required></label>"
        "<button type=\"submit\">Give consent</button></form>");
    SendPage(res, 200, "Requests and consents", "", body);
  });
  PostAction("/portal/decide", WebSession::Kind::kCustomer, "/portal/requests",
             [this](grpc::ClientContext* c, const Form& form) {
               custos::v1::DecidePendingRequestRequest request;
               request.set_request_id(Field(form, "request_id"));
               request.set_approve(Field(form, "approve") == "yes");
               custos::v1::DecidePendingRequestResponse response;
               return approvals->DecidePendingRequest(c, request, &response);
             });
  PostAction("/portal/consent", WebSession::Kind::kCustomer, "/portal/requests",
             [this](grpc::ClientContext* c, const Form& form) {
               custos::v1::SetPartnerConsentRequest request;
               request.set_partner_organisation(Field(form, "partner"));
               request.set_consent(Field(form, "consent") == "yes");
               custos::v1::SetPartnerConsentResponse response;
               return approvals->SetPartnerConsent(c, request, &response);
             });
  http->Get("/portal/verify", [this, customer](const Request& req,
                                               Response& res) {
    auto session = customer(req, res);
    if (!session) return;
    SendPage(
        res, 200, "Verify your entries", "",
        absl::StrCat(
            PortalNav(*session),
            "<p>Your browser checks, with its own SHA-256 and Ed25519, that "
            "each entry below is in the log whose checkpoint custosd signed, "
            "and that the log only grew since the last checkpoint this browser "
            "saw.</p><div id=\"verify\" data-indices=\"",
            HtmlEscape(Param(req, "indices")),
            "\"></div><ul id=\"verify-results\"></ul>"
            "<p id=\"verify-summary\" data-verified=\"pending\">Checking…</p>"
            "<script src=\"/static/verify.js\" defer></script>"));
  });
  // Proofs for the browser to check: a checkpoint, the entries' bytes with
  // their audit paths at its size, and a consistency proof from the size
  // the browser saw last.
  http->Get("/portal/proofs.json", [this, customer](const Request& req,
                                                    Response& res) {
    auto session = customer(req, res);
    if (!session) return;
    custos::v1::Checkpoint checkpoint;
    auto context = Context(session->acts_as, req);
    if (auto s = FromGrpc(audit->GetCheckpoint(
            context.get(), custos::v1::GetCheckpointRequest(), &checkpoint));
        !s.ok())
      return SendError(res, s);
    std::string out = absl::StrCat(
        "{\"checkpoint\":", JsonString(checkpoint.note()),
        ",\"verifier_key\":", JsonString(checkpoint.verifier_key()),
        ",\"size\":", checkpoint.size(), ",\"entries\":[");
    int count = 0;
    int written = 0;
    for (absl::string_view part :
         absl::StrSplit(Param(req, "indices"), ',', absl::SkipEmpty())) {
      uint64_t index;
      if (!absl::SimpleAtoi(part, &index) || ++count > 200) {
        return SendError(res, absl::InvalidArgumentError(
                                  "indices: expected up to 200 entry numbers"));
      }
      if (index >= checkpoint.size()) continue;
      custos::v1::GetInclusionProofRequest request;
      request.set_index(index);
      request.set_tree_size(checkpoint.size());
      custos::v1::InclusionProof proof;
      auto proof_context = Context(session->acts_as, req);
      if (auto s = FromGrpc(
              audit->GetInclusionProof(proof_context.get(), request, &proof));
          !s.ok())
        return SendError(res, s);
      absl::StrAppend(
          &out, written++ > 0 ? "," : "", "{\"index\":", index,
          ",\"entry\":", JsonString(absl::Base64Escape(proof.entry_bytes())),
          ",\"hashes\":", JsonHashes(proof.hashes()), "}");
    }
    out += "]";
    uint64_t old_size = 0;
    if (absl::SimpleAtoi(Param(req, "old_size"), &old_size) && old_size > 0 &&
        old_size <= checkpoint.size()) {
      custos::v1::GetConsistencyProofRequest request;
      request.set_old_size(old_size);
      request.set_new_size(checkpoint.size());
      custos::v1::ConsistencyProof proof;
      auto proof_context = Context(session->acts_as, req);
      if (auto s = FromGrpc(
              audit->GetConsistencyProof(proof_context.get(), request, &proof));
          !s.ok())
        return SendError(res, s);
      absl::StrAppend(&out, ",\"consistency\":{\"old_size\":", old_size,
                      ",\"hashes\":", JsonHashes(proof.hashes()), "}");
    }
    out += "}\n";
    res.set_content(out, "application/json");
  });
}

void WebServer::State::PostAction(
    const char* path, WebSession::Kind kind, const char* back,
    std::function<grpc::Status(grpc::ClientContext*, const Form&)> call) {
  http->Post(path, [this, kind, back, call](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (!session || session->kind != kind) return Redirect(res, "/login");
    auto form = CheckedForm(req, *session);
    if (!form.ok()) return SendError(res, form.status());
    auto context = Context(session->acts_as, req);
    if (auto s = FromGrpc(call(context.get(), *form)); !s.ok())
      return SendError(res, s);
    Redirect(res, back);
  });
}

void WebServer::State::ServeDpo() {
  auto dpo = [this](const Request& req,
                    Response& res) -> std::optional<WebSession> {
    auto session = SessionOf(req);
    if (!session || session->kind != WebSession::Kind::kDpo) {
      Redirect(res, "/login");
      return std::nullopt;
    }
    return session;
  };
  http->Get("/dpo", [this, dpo](const Request& req, Response& res) {
    auto session = dpo(req, res);
    if (!session) return;
    std::string body = absl::StrCat("<nav class=\"portal\">",
                                    Link("/dpo/report", "Audit report"), " ",
                                    SignOutForm(*session), "</nav>");

    custos::v1::ListTripsRequest trips_request;
    trips_request.set_undecided_only(true);
    custos::v1::ListTripsResponse trips;
    auto context = Context(session->acts_as, req);
    if (auto s = FromGrpc(
            approvals->ListTrips(context.get(), trips_request, &trips));
        !s.ok())
      return SendError(res, s);
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : trips.trips()) {
      rows.push_back(
          {HtmlEscape(t.trip_id()), HtmlEscape(t.staff_id()),
           HtmlEscape(t.country()),
           HtmlEscape(absl::StrCat(t.first_day(), " – ", t.last_day())),
           HtmlEscape(t.device_id()), HtmlEscape(t.purpose()),
           absl::StrCat(
               ButtonForm("/dpo/trip", session->csrf,
                          {{"trip_id", t.trip_id()}, {"approve", "yes"}},
                          "Approve"),
               ButtonForm("/dpo/trip", session->csrf,
                          {{"trip_id", t.trip_id()}, {"approve", "no"}},
                          "Refuse"))});
    }
    absl::StrAppend(&body, Section("Trips waiting for a decision", "trips",
                                   {"trip", "staff", "country", "days",
                                    "device", "purpose", "decide"},
                                   rows));

    // A live grant or session as a row with its revoke button.
    auto revocable = [&](const char* action, const char* field,
                         const std::string& id, const std::string& staff,
                         const std::string& customer,
                         const custos::v1::Justification& why,
                         const google::protobuf::Timestamp& expires) {
      return std::vector<std::string>{
          HtmlEscape(id),
          HtmlEscape(staff),
          HtmlEscape(customer),
          HtmlEscape(absl::StrCat(why.category(), " ", why.reference())),
          HtmlEscape(ShowTime(FromTimestamp(expires))),
          ButtonForm(action, session->csrf, {{field, id}}, "Revoke")};
    };
    custos::v1::ListGrantsRequest grants_request;
    grants_request.set_active_only(true);
    grants_request.set_page_size(200);
    custos::v1::ListGrantsResponse grants;
    context = Context(session->acts_as, req);
    if (auto s = FromGrpc(
            access->ListGrants(context.get(), grants_request, &grants));
        !s.ok())
      return SendError(res, s);
    rows.clear();
    for (const auto& g : grants.grants()) {
      rows.push_back(revocable("/dpo/revoke-grant", "grant_id", g.grant_id(),
                               g.staff_id(), g.customer_id(), g.justification(),
                               g.obligations().expires_at()));
    }
    absl::StrAppend(&body, Section("Live grants", "grants",
                                   {"grant", "staff", "customer", "why",
                                    "expires", "revoke"},
                                   rows));

    custos::v1::ListSessionsRequest sessions_request;
    sessions_request.set_live_only(true);
    sessions_request.set_page_size(200);
    custos::v1::ListSessionsResponse live;
    context = Context(session->acts_as, req);
    if (auto s = FromGrpc(
            identity->ListSessions(context.get(), sessions_request, &live));
        !s.ok())
      return SendError(res, s);
    rows.clear();
    for (const auto& s : live.sessions()) {
      rows.push_back(revocable(
          "/dpo/revoke-session", "session_id", s.session_id(), s.staff_id(),
          absl::StrCat(s.customer_id(), " as ", s.customer_user_id()),
          s.justification(), s.expires_at()));
    }
    absl::StrAppend(
        &body,
        Section("Live take-identity sessions", "live-sessions",
                {"session", "staff", "customer", "why", "expires", "revoke"},
                rows));
    SendPage(res, 200, "DPO", "", body);
  });
  http->Get("/dpo/report", [this, dpo](const Request& req, Response& res) {
    auto session = dpo(req, res);
    if (!session) return;
    SendPage(res, 200, "Audit report", "",
             absl::StrCat(
                 "<p>The report is built by the <code>custos</code> command "
                 "line with your DPO certificate, which checks the log as it "
                 "reads it:</p><pre>custos --as ",
                 HtmlEscape(absl::StripPrefix(session->acts_as, "staff:")),
                 " report --help</pre><p>", Link("/dpo", "Back"), "</p>"));
  });
  PostAction("/dpo/trip", WebSession::Kind::kDpo, "/dpo",
             [this](grpc::ClientContext* c, const Form& form) {
               custos::v1::DecideTripRequest request;
               request.set_trip_id(Field(form, "trip_id"));
               request.set_approve(Field(form, "approve") == "yes");
               custos::v1::DecideTripResponse response;
               return approvals->DecideTrip(c, request, &response);
             });
  PostAction("/dpo/revoke-grant", WebSession::Kind::kDpo, "/dpo",
             [this](grpc::ClientContext* c, const Form& form) {
               custos::v1::RevokeGrantRequest request;
               request.set_grant_id(Field(form, "grant_id"));
               request.set_reason("revoked by the DPO in custos-web");
               custos::v1::RevokeGrantResponse response;
               return access->RevokeGrant(c, request, &response);
             });
  PostAction("/dpo/revoke-session", WebSession::Kind::kDpo, "/dpo",
             [this](grpc::ClientContext* c, const Form& form) {
               custos::v1::EndSessionRequest request;
               request.set_session_id(Field(form, "session_id"));
               request.set_reason("revoked by the DPO in custos-web");
               custos::v1::EndSessionResponse response;
               return identity->EndSession(c, request, &response);
             });
}

void WebServer::State::Install() {
  http->set_post_routing_handler([](const Request&, Response& res) {
    res.set_header("Content-Security-Policy", kCsp);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Strict-Transport-Security", "max-age=31536000");
    if (!res.has_header("Cache-Control"))
      res.set_header("Cache-Control", "no-store");
  });
  http->set_payload_max_length(64 * 1024);
  ServeStatic();
  ServeLogin();
  ServeIdentity();
  ServePortal();
  ServeDpo();
}

WebServer::WebServer(std::unique_ptr<State> state) : state_(std::move(state)) {}
WebServer::~WebServer() { Stop(); }

int WebServer::port() const { return state_->port; }
bool WebServer::Serve() { return state_->http->listen_after_bind(); }
void WebServer::Stop() {
  if (state_->http) state_->http->stop();
}

absl::StatusOr<std::unique_ptr<WebServer>> WebServer::Create(
    const WebOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  if (mkdir(options.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("data_dir: cannot create ",
                                                    options.data_dir, ": ",
                                                    std::strerror(errno)));
  }
  const std::string accounts_path = options.data_dir + "/portal_accounts";
  if (auto s =
          EnsureDemoAccounts(accounts_path, options.data_dir + "/demo_logins",
                             options.demo_accounts);
      !s.ok())
    return s;
  auto accounts = PortalAccounts::Load(accounts_path);
  if (!accounts.ok()) return accounts.status();
  state->accounts = *std::move(accounts);

  const std::string secret_path = options.data_dir + "/pseudonym_secret";
  auto secret = ReadFile("pseudonym secret", secret_path);
  if (!secret.ok()) {
    auto fresh = RandomToken();
    if (!fresh.ok()) return fresh.status();
    std::ofstream out(secret_path, std::ios::trunc);
    chmod(secret_path.c_str(), 0600);
    out << *fresh;
    if (!out)
      return absl::InternalError(absl::StrCat(secret_path, ": cannot write"));
    secret = *fresh;
  }
  state->pseudonym_secret = *secret;

  grpc::SslCredentialsOptions tls;
  for (auto [field, path, target] :
       {std::tuple{"gateway_ca", &options.gateway_ca, &tls.pem_root_certs},
        std::tuple{"client_cert", &options.client_cert, &tls.pem_cert_chain},
        std::tuple{"client_key", &options.client_key, &tls.pem_private_key}}) {
    auto pem = ReadFile(field, *path);
    if (!pem.ok()) return pem.status();
    *target = *pem;
  }
  state->channel =
      grpc::CreateChannel(options.gateway, grpc::SslCredentials(tls));
  state->identity = custos::v1::TakeIdentity::NewStub(state->channel);
  state->audit = custos::v1::AuditLog::NewStub(state->channel);
  state->approvals = custos::v1::Approvals::NewStub(state->channel);
  state->access = custos::v1::StaffAccess::NewStub(state->channel);

  for (const std::string* path : {&options.tls_cert, &options.tls_key}) {
    if (auto s = ReadFile("tls file", *path); !s.ok()) return s.status();
  }
  state->http = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(),
                                                     options.tls_key.c_str());
  if (!state->http->is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_cert, tls_key: cannot start TLS with ",
                     options.tls_cert, " and ", options.tls_key));
  }
  state->Install();
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(options.listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError("listen: expected host:port");
  }
  const std::string host = options.listen.substr(0, colon);
  if (port == 0) {
    port = state->http->bind_to_any_port(host);
  } else if (!state->http->bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("listen: cannot bind ", options.listen));
  }
  state->port = port;
  return std::unique_ptr<WebServer>(new WebServer(std::move(state)));
}

}  // namespace custos::web
