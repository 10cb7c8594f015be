// Take identity in the browser: the link's exchange, the customer's pages
// under the banner, the end of the session.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "clients/web/html.h"
#include "clients/web/server_state.h"
#include "google/protobuf/util/time_util.h"

namespace custos::web {

using google::protobuf::util::TimeUtil;
namespace {

// What the session may do, as custosd described it with the page: read, or
// also perform the actions the customer asked for.
std::string SessionMode(const custos::v1::TakeIdentitySession& session) {
  if (session.read_only()) return "read-only";
  std::vector<std::string> actions;
  for (const auto& a : session.customer_requested_actions()) {
    actions.push_back(absl::StrCat(a.action(), " (customer request ",
                                   a.customer_request_ref(), ")"));
  }
  return absl::StrCat("may perform what the customer asked: ",
                      absl::StrJoin(actions, ", "), ", not from custos-web");
}

// The banner of a take-identity session: always first on the page, with no
// way to close it. `shown` is the session as custosd returned it with the
// page, or null on a page custosd refused (which then says nothing of what
// the session may do).
std::string Banner(const WebSession& s,
                   const custos::v1::TakeIdentitySession* shown = nullptr) {
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
      "</span> · ",
      shown == nullptr ? ""
                       : absl::StrCat(HtmlEscape(SessionMode(*shown)), " · "),
      "every page is logged ",
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
    // Opened from another site, the page came without the session cookie
    // and carries the form token; its POST carries both cookies.
    auto form = CheckedVisitorForm(req, *session);
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
    const absl::Time now = absl::Now();
    auto created = sessions.Create(opened, now);
    if (!created.ok()) {
      // No one could use or end the session whose token is not kept.
      EndHeldTakeIdentitySession(opened, req, "custos-web could not keep it");
      return SendError(res, created.status(), "This link cannot be opened");
    }
    // The browser's cookie names the new session from here on: a session it
    // held before would stay live with no one holding its token.
    EndHeldTakeIdentitySession(*session, req,
                               "another link was opened in its browser");
    sessions.Erase(session->id);
    // The cookie lasts as long as the session custos-web keeps: the take-
    // identity session's own time, not a sign-in's 8 hours.
    res.set_header("Set-Cookie",
                   SessionCookie(created->id, created->expires - now));
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
    if (TakeIdentitySessionOver(s)) {
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
      // ABORTED is an end under way, which may yet fail to be recorded:
      // refused for now, not for good.
      return SendPage(
          res, s.code() == absl::StatusCode::kAborted ? 503 : HttpCode(s), page,
          Banner(*session), body);
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
    SendPage(res, 200, response.title(), Banner(*session, &response.session()),
             body);
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
    // Over already (ended, expired, revoked): the token goes too. Any other
    // failure, an end under way included, may leave the session live, and
    // custos-web keeps its token so that it can be ended again.
    if (!s.ok() && !TakeIdentitySessionOver(s)) {
      return SendPage(
          res, s.code() == absl::StatusCode::kAborted ? 503 : HttpCode(s),
          "Session not ended", Banner(*session),
          absl::StrCat("<p class=\"error\" id=\"error\">",
                       HtmlEscape(s.message()),
                       "</p><p>The session is still live; end it again.</p>"));
    }
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

}  // namespace custos::web
