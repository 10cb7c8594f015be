#include "clients/web/server_state.h"

#include <cctype>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "clients/web/html.h"
#include "google/protobuf/util/time_util.h"

namespace custos::web {

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  // These say nothing the visitor can act on, and gRPC's text names
  // custosd's address: the page gets a fixed sentence, the log the details.
  const char* shown = nullptr;
  switch (code) {
    case absl::StatusCode::kUnavailable:
      shown = "custosd is unavailable; try again in a moment.";
      break;
    case absl::StatusCode::kDeadlineExceeded:
      shown = "custosd did not answer in time; try again in a moment.";
      break;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      shown =
          "custosd could not complete the request; try again in a moment. "
          "If it persists, custos-web's log has the details.";
      break;
    default:
      return absl::Status(code, status.error_message());
  }
  std::fprintf(stderr, "custos-web: custosd answered %s: %s\n",
               absl::StatusCodeToString(code).c_str(),
               status.error_message().c_str());
  return absl::Status(code, shown);
}

int HttpCode(const absl::Status& status) {
  if (const int code = HttpStatusOf(status); code != 0) return code;
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
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(t));
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

void SendPage(Response& res, int code, absl::string_view title,
              absl::string_view banner, absl::string_view body) {
  res.status = code;
  res.set_content(Page(title, banner, body), "text/html; charset=utf-8");
}

void SendError(Response& res, const absl::Status& status,
               absl::string_view title) {
  const int code = HttpCode(status);
  // A 5xx is no refusal: nothing was decided.
  if (code >= 500 && title == "Refused") title = "Not available";
  SendPage(res, code, title, "",
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
  return ParsePostedForm(req.get_header_value("Content-Type"), req.body,
                         session.csrf);
}

// A titled table with an id the tests and scripts find it by; cells are HTML.
std::string Section(absl::string_view title, absl::string_view id,
                    const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows) {
  return absl::StrCat("<h2>", HtmlEscape(title), "</h2><div id=\"", id, "\">",
                      HtmlTable(header, rows), "</div>");
}

absl::StatusOr<WebServer::State::Form> WebServer::State::CheckedVisitorForm(
    const Request& req, const WebSession& session) {
  auto form = CheckedForm(req, session);
  if (form.ok() ||
      form.status().code() != absl::StatusCode::kPermissionDenied ||
      session.kind == WebSession::Kind::kAnonymous) {
    return form;
  }
  const std::string token =
      CookieValue(req.get_header_value("Cookie"), kFormCookie);
  if (!form_tokens->Expiry(token, absl::Now())) return form;
  WebSession visitor;
  visitor.csrf = token;
  return CheckedForm(req, visitor);
}

void WebServer::State::EndHeldTakeIdentitySession(const WebSession& held,
                                                  const Request& req,
                                                  absl::string_view why) {
  if (held.kind != WebSession::Kind::kIdentity) return;
  custos::v1::EndSessionRequest request;
  request.set_session_token(held.session_token);
  request.set_reason(absl::StrCat("ended in custos-web: ", why));
  custos::v1::EndSessionResponse response;
  auto context = Context("", req);
  const absl::Status s =
      FromGrpc(identity->EndSession(context.get(), request, &response));
  if (s.ok() || TakeIdentitySessionOver(s)) return;
  std::fprintf(stderr,
               "custos-web: take-identity session %s (%s) not ended at "
               "custosd, %s: %s; its browser session is dropped all the same, "
               "and it stays live until it expires or is revoked\n",
               held.session_id.c_str(), std::string(why).c_str(),
               absl::StatusCodeToString(s.code()).c_str(),
               std::string(s.message()).c_str());
}

std::string SignOutForm(const WebSession& session) {
  return absl::StrCat(
      "<nav class=\"account\">Signed in as ", HtmlEscape(session.acts_as), " ",
      ButtonForm("/logout", session.csrf, {}, "Sign out"), "</nav>");
}

}  // namespace custos::web
