// The customer's portal: access log, export, requests and consents, and the
// proofs the browser verifies.
#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "clients/web/html.h"
#include "clients/web/log_rows.h"
#include "clients/web/server_state.h"
#include "google/protobuf/util/time_util.h"

namespace custos::web {

using google::protobuf::util::TimeUtil;
namespace {

// The most entries one proofs.json proves, and so the largest page of the
// access log: every entry a page shows can be verified.
constexpr int kMaxProvedEntries = 200;
// An export reads the largest page the portal shows at a time, and holds at
// most kMaxExportEntries entries: more is refused, never cut short.
constexpr int kExportReadSize = kMaxProvedEntries;
constexpr size_t kMaxExportEntries = 100000;

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
          "outcome: expected ALLOWED, REFUSED, PENDING or NOT_APPLIED");
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
        page_size > kMaxProvedEntries) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_size: expected 1 to ", kMaxProvedEntries,
                       ", the most entries Verify proves at once"));
    }
  }
  request.set_page_size(page_size);
  request.set_page_token(Param(req, "page_token"));
  return request;
}

// Whether `p` waits for the customer's decision: the customer is one of
// those it waits for and has not approved it yet. A request pending only
// for the DPO (abroad, once the customer approved) is not theirs to decide.
bool WaitsForCustomer(const custos::v1::PendingRequest& p) {
  auto has_customer = [](const auto& approvers) {
    return std::find(approvers.begin(), approvers.end(),
                     custos::v1::APPROVER_CUSTOMER) != approvers.end();
  };
  return has_customer(p.waiting_for()) && !has_customer(p.approved_by());
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
    for (const char* o : {"", "ALLOWED", "REFUSED", "PENDING", "NOT_APPLIED"}) {
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
  http->Get("/portal/export", [this, customer](const Request& req,
                                               Response& res) {
    auto session = customer(req, res);
    if (!session) return;
    auto request = LogFilters(req);
    if (!request.ok()) return SendError(res, request.status());
    // Every entry the filters select, from the newest, whichever page the
    // link was on, in reads of kExportReadSize whatever page size the link
    // has: one export is one call to custosd (and one log entry) per read,
    // and page_size=1 must not make that 100,000 of them.
    request->clear_page_token();
    request->set_page_size(kExportReadSize);
    const std::string customer_id(
        absl::StripPrefix(session->acts_as, "customer:"));
    const bool json = Param(req, "format") == "json";
    std::string out =
        json ? "["
             : "index,when,staff,from,category,reference,action,read,outcome\n";
    size_t written = 0;
    do {
      custos::v1::ListEntriesResponse response;
      auto context = Context(session->acts_as, req);
      if (auto s =
              FromGrpc(audit->ListEntries(context.get(), *request, &response));
          !s.ok())
        return SendError(res, s);
      if (written + response.entries_size() > kMaxExportEntries) {
        return SendError(
            res, absl::InvalidArgumentError(absl::StrCat(
                     "from, to: more than ", kMaxExportEntries,
                     " entries match, the most one export holds; export "
                     "fewer days at a time")));
      }
      for (const auto& e : response.entries()) {
        LogRow r = ToRow(e, pseudonym_secret, customer_id);
        if (json) {
          absl::StrAppend(&out, written ? ",\n" : "\n", "{\"index\":", r.index,
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
        ++written;
      }
      request->set_page_token(response.next_page_token());
    } while (!request->page_token().empty());
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
    // The most one page holds: those waiting for the DPO alone are left
    // out below, and should not leave the customer's own out of the page.
    pending_request.set_page_size(500);
    custos::v1::ListPendingRequestsResponse pending;
    auto context = Context(session->acts_as, req);
    if (auto s = FromGrpc(approvals->ListPendingRequests(
            context.get(), pending_request, &pending));
        !s.ok())
      return SendError(res, s);
    std::string body = PortalNav(*session);
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : pending.requests()) {
      if (!WaitsForCustomer(p)) continue;
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
    std::vector<std::string> consented;
    for (const auto& c : consents.consents()) {
      if (c.consented()) consented.push_back(c.partner_organisation());
      consent_rows.push_back(
          {HtmlEscape(c.partner_organisation()),
           c.consented() ? "given" : "withdrawn",
           ButtonForm("/portal/consent", session->csrf,
                      {{"partner", c.partner_organisation()},
                       {"consent", c.consented() ? "no" : "yes"}},
                      c.consented() ? "Withdraw" : "Give consent")});
    }
    absl::StrAppend(&body, "<h2>Partner consents</h2><div id=\"consents\">",
                    HtmlTable({"partner", "consent", "change"}, consent_rows),
                    "</div>");
    // Consent is given by choosing one of the partners custosd names, so no
    // name is mistyped; those already consented to are not offered again.
    std::string options;
    for (const std::string& partner : consents.partner_organisations()) {
      if (std::find(consented.begin(), consented.end(), partner) !=
          consented.end()) {
        continue;
      }
      absl::StrAppend(&options, "<option value=\"", HtmlEscape(partner), "\">",
                      HtmlEscape(partner), "</option>");
    }
    if (!options.empty()) {
      absl::StrAppend(
          &body,
          "<form method=\"post\" action=\"/portal/consent\" "
          "id=\"new-consent\"><input type=\"hidden\" name=\"csrf\" value=\"",
          HtmlEscape(session->csrf),
          "\"><input type=\"hidden\" name=\"consent\" value=\"yes\">"
          "<label>Partner <select name=\"partner\" required>",
          options,
          "</select></label><button type=\"submit\">Give consent</button>"
          "</form>");
    }
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
    std::vector<uint64_t> indices;
    for (absl::string_view part :
         absl::StrSplit(Param(req, "indices"), ',', absl::SkipEmpty())) {
      uint64_t index;
      if (!absl::SimpleAtoi(part, &index) ||
          indices.size() >= kMaxProvedEntries) {
        return SendError(res, absl::InvalidArgumentError(absl::StrCat(
                                  "indices: expected up to ", kMaxProvedEntries,
                                  " entry numbers")));
      }
      indices.push_back(index);
    }
    // A checkpoint that covers every entry asked for: the page may show
    // entries newer than the latest signed one.
    custos::v1::GetCheckpointRequest latest;
    if (!indices.empty()) {
      latest.set_min_size(*std::max_element(indices.begin(), indices.end()) +
                          1);
    }
    custos::v1::Checkpoint checkpoint;
    auto context = Context(session->acts_as, req);
    if (auto s =
            FromGrpc(audit->GetCheckpoint(context.get(), latest, &checkpoint));
        !s.ok())
      return SendError(res, s);
    std::string out = absl::StrCat(
        "{\"checkpoint\":", JsonString(checkpoint.note()),
        ",\"verifier_key\":", JsonString(checkpoint.verifier_key()),
        ",\"size\":", checkpoint.size(), ",\"entries\":[");
    int written = 0;
    for (const uint64_t index : indices) {
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

}  // namespace custos::web
