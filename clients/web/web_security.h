// The small pieces of custos-web's HTTP security, kept apart from the server
// so they test without one: random tokens, cookies, form bodies, CSRF checks,
// single-use link tokens, HTML escaping and the pseudonyms customers see.
//
// All functions are pure (RandomToken reads the OS's random source) and
// thread-safe.
#ifndef CUSTOS_CLIENTS_WEB_WEB_SECURITY_H_
#define CUSTOS_CLIENTS_WEB_WEB_SECURITY_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custos::web {

// The session cookie's name. "__Host-" makes browsers accept it only when
// Secure, host-only and Path=/.
inline constexpr char kSessionCookie[] = "__Host-custos-session";

// 32 random bytes as 64 lowercase hex digits. INTERNAL if the OS's random
// source fails.
absl::StatusOr<std::string> RandomToken();

// The value of cookie `name` in a Cookie request header, or "" when absent.
std::string CookieValue(absl::string_view cookie_header,
                        absl::string_view name);

// The session id in a Cookie request header: the value of kSessionCookie when
// it has the shape RandomToken gives (64 lowercase hex digits), or "" when it
// is absent, malformed, or given twice with different values (the browser
// would not say which one custos-web set).
std::string SessionIdFromCookies(absl::string_view cookie_header);

// A Set-Cookie value for the session cookie: HttpOnly, Secure,
// SameSite=Strict, Path=/, expiring after `max_age`.
std::string SessionCookie(absl::string_view value, absl::Duration max_age);
// A Set-Cookie value that makes the browser drop the session cookie.
std::string ClearedSessionCookie();

// Parses an application/x-www-form-urlencoded body. INVALID_ARGUMENT naming
// the problem for a body over 16 KiB, more than 64 fields, a repeated field
// or bad %-escapes.
absl::StatusOr<std::map<std::string, std::string>> ParseForm(
    absl::string_view body);

// Decodes %XX escapes and '+' (as a space). INVALID_ARGUMENT for a bad escape.
absl::StatusOr<std::string> UrlDecode(absl::string_view text);

// Compares in time independent of where the strings differ; false when
// either is empty.
bool TokensEqual(absl::string_view a, absl::string_view b);

// OK when the form's "csrf" field equals the session's token;
// PERMISSION_DENIED otherwise.
absl::Status CheckCsrf(absl::string_view session_csrf,
                       const std::map<std::string, std::string>& form);

// A form a browser posted, as every POST handler takes it: `content_type`
// must be application/x-www-form-urlencoded (parameters such as a charset are
// allowed), the body must parse (ParseForm), and its "csrf" field must equal
// `session_csrf` (CheckCsrf), checked in that order. INVALID_ARGUMENT for the
// first two (with HTTP 415 and, for a body over 16 KiB, 413 attached; see
// HttpStatusOf), PERMISSION_DENIED for the third.
absl::StatusOr<std::map<std::string, std::string>> ParsePostedForm(
    absl::string_view content_type, absl::string_view body,
    absl::string_view session_csrf);

// The HTTP status a refusal from this file asks for when it is more precise
// than its code's usual one (413 Payload Too Large, 415 Unsupported Media
// Type); 0 when it asks for none.
int HttpStatusOf(const absl::Status& status);

// A take-identity link token as custosd makes them ("lt_" and hex digits).
// INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateLinkToken(absl::string_view token);

// OK when a request header's value holds no control character but tab:
// a bare CR, LF or NUL that reached a value could split a header anywhere
// it is copied to. INVALID_ARGUMENT naming the header otherwise.
absl::Status ValidateHeaderValue(absl::string_view name,
                                 absl::string_view value);

// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string HtmlEscape(absl::string_view text);

// A stable pseudonym for a staff member as one customer sees them:
// "staff-" + the first 12 hex digits of HMAC-SHA256(secret, customer "\n"
// staff). Different customers see different pseudonyms for the same person.
std::string StaffPseudonym(absl::string_view secret,
                           absl::string_view customer_id,
                           absl::string_view staff_id);

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_WEB_SECURITY_H_
