// The DPO's pages: trips to decide, live grants and sessions to revoke, the
// report's instructions.
#include <set>

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
    // The most one page holds; `custos trip list` pages through more.
    trips_request.set_page_size(500);
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
    // The report reads the log's file itself and verifies it as it goes, so
    // it runs where that file is, not through custos-web.
    SendPage(
        res, 200, "Audit report", "",
        absl::StrCat(
            "<p>The report is made by <code>custos report</code> from the "
            "log's file (custosd's <code>.custos/audit.db</code> or a copy), "
            "which it verifies as it reads it; it says what staff did with "
            "customer data in a period, what stands out, and whether the log "
            "is intact.</p><pre id=\"report-command\">custos report --from "
            "2026-11-01 --to 2026-11-30 --format html --out november.html \\\n"
            "  --verifier_key \"$(cat .custos/log_verifier_key)\"</pre>"
            "<p>Formats: html, csv, json; <code>custos report --help</code> "
            "lists the options.</p><p>",
            Link("/dpo", "Back"), "</p>"));
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

}  // namespace custos::web
