#include "clients/web/web_server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/web/html.h"
#include "clients/web/server_state.h"
#include "clients/web/static_app_js.h"
#include "clients/web/static_style_css.h"
#include "clients/web/static_verify_js.h"
#include "common/files.h"

namespace custos::web {
namespace {

constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'";

// cpp-httplib 0.11.4 keeps a request line in memory however long it grows,
// and reads a body sent chunked or without a length whole, however large
// (set_payload_max_length binds only a Content-Length). So the bytes a
// connection may send are counted below it: OpenSSL shows each TLS record's
// header to a message callback before reading the record, and a connection
// past this many bytes is cut there. Five requests (cpp-httplib's keep-alive
// limit) of the largest body and a browser's headers fit well within it.
constexpr uintptr_t kMaxConnectionBytes = 1 << 20;

int ConnectionBytesIndex() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Resets the TCP connection at once, leaving the descriptor to cpp-httplib,
// whose next read or write on it fails and which then closes it.
void AbortConnection(const SSL* ssl) {
  sockaddr unspecified{};
  unspecified.sa_family = AF_UNSPEC;
  connect(SSL_get_fd(ssl), &unspecified, sizeof unspecified);
}

void CountRecordRead(int write_p, int, int content_type, const void* buf,
                     size_t len, SSL* ssl, void*) {
  if (write_p || content_type != SSL3_RT_HEADER || len < 5) return;
  const auto* header = static_cast<const unsigned char*>(buf);
  // The count lives in the ex_data slot itself: nothing to allocate or free.
  const uintptr_t read = reinterpret_cast<uintptr_t>(
                             SSL_get_ex_data(ssl, ConnectionBytesIndex())) +
                         len + (header[3] << 8 | header[4]);
  SSL_set_ex_data(ssl, ConnectionBytesIndex(), reinterpret_cast<void*>(read));
  if (read > kMaxConnectionBytes) AbortConnection(ssl);
}

// Marks a connection whose last request's body was left unread: whatever
// it sends next is that body, and must not be taken for a request of its
// own (cpp-httplib would parse it as one and run its handler).
int BodyLeftUnreadIndex() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
// cpp-httplib hands handlers the connection's SSL as const; the mark is
// data the connection carries for custos-web, set through OpenSSL's ex_data.
void MarkBodyLeftUnread(const SSL* ssl) {
  SSL* connection = const_cast<SSL*>(ssl);
  SSL_set_ex_data(connection, BodyLeftUnreadIndex(), connection);
}
bool BodyLeftUnread(const SSL* ssl) {
  return SSL_get_ex_data(ssl, BodyLeftUnreadIndex()) != nullptr;
}

// Ends the connection once `res`, a refusal of `req` before its body was
// read, is written: whatever the connection sends next is that body.
httplib::Server::HandlerResponse RefusedUnread(const Request& req,
                                               Response& res) {
  res.set_header("Connection", "close");
  if (req.ssl != nullptr) MarkBodyLeftUnread(req.ssl);
  return httplib::Server::HandlerResponse::Handled;
}

// Why a request is refused before its body is read, with the HTTP status to
// answer: its body is one cpp-httplib would read without a bound, would
// decompress, or would not read at all (leaving it to be taken for the next
// request).
struct FramingRefusal {
  int http_status;
  std::string why;
};

std::optional<FramingRefusal> CheckBodyFraming(const Request& req) {
  if (req.has_header("Transfer-Encoding")) {
    return FramingRefusal{411,
                          "Transfer-Encoding: not accepted; send the body "
                          "with a Content-Length"};
  }
  if (req.has_header("Content-Encoding")) {
    return FramingRefusal{
        415, "Content-Encoding: not accepted; send the body uncompressed"};
  }
  if (req.method != "GET" && req.method != "HEAD" && req.method != "POST") {
    return FramingRefusal{
        405, absl::StrCat("method: ", req.method, " is not served")};
  }
  const size_t lengths = req.get_header_value_count("Content-Length");
  if (lengths == 0) {
    if (req.method != "POST") return std::nullopt;
    return FramingRefusal{411, "Content-Length: required for a POST"};
  }
  const std::string length = req.get_header_value("Content-Length");
  if (lengths > 1 || length.empty() ||
      length.find_first_not_of("0123456789") != std::string::npos) {
    return FramingRefusal{
        400, "Content-Length: expected one decimal number of bytes"};
  }
  if (req.method != "POST" &&
      length.find_first_not_of('0') != std::string::npos) {
    return FramingRefusal{
        400, absl::StrCat("Content-Length: a ", req.method, " has no body")};
  }
  return std::nullopt;
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
    // As the page a link opens: a sign-in page opened from another site
    // carries the form token, its POST the session cookie too.
    auto form = CheckedVisitorForm(req, *session);
    if (!form.ok()) return SendError(res, form.status());
    const std::string login = Field(*form, "login");
    const absl::Time now = absl::Now();
    const std::string login_key = absl::StrCat("login:", login);
    const std::string address_key =
        absl::StrCat("address:", SignInLimitKey(BrowserAddress(req)));
    // Counted before the password is checked, so that attempts made in
    // parallel cannot all pass the check before any of them has failed.
    if (!login_limiter.TryAttempt({login_key, address_key}, now)) {
      return SendError(res, absl::ResourceExhaustedError(
                                "too many failed sign-ins; wait 15 minutes"));
    }
    const PortalAccount* account = accounts.Find(login);
    // Hash even for an unknown login, so timing does not tell which exist.
    const bool ok =
        CheckPassword(account ? account->password_hash : unknown_login_hash,
                      Field(*form, "password"));
    if (!ok || account == nullptr) {
      return SendError(res,
                       absl::UnauthenticatedError("login or password is wrong"),
                       "Sign in");
    }
    // The address's earlier failures are left to lapse with their window:
    // cleared on a success, they would let an address that holds one
    // account try other logins without end.
    login_limiter.Forget(login_key);
    login_limiter.Uncount(address_key);
    WebSession signed_in;
    signed_in.acts_as = account->acts_as;
    signed_in.login = login;
    signed_in.kind = absl::StartsWith(account->acts_as, "customer:")
                         ? WebSession::Kind::kCustomer
                         : WebSession::Kind::kDpo;
    auto created = sessions.Create(signed_in, now);
    if (!created.ok()) return SendError(res, created.status());
    EndHeldTakeIdentitySession(*session, req, "its browser signed in");
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
    EndHeldTakeIdentitySession(*session, req, "its browser signed out");
    sessions.Erase(session->id);
    res.set_header("Set-Cookie", ClearedSessionCookie());
    Redirect(res, "/login");
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
  // cpp-httplib keeps a bare CR (or a NUL) inside a header's value; refuse
  // the request before any handler sees it. This runs before cpp-httplib
  // reads the body, so a body it should not read is refused here, unread.
  http->set_pre_routing_handler([this](const Request& req, Response& res) {
    // cpp-httplib 0.11.4 answers a Range of many ranges with a copy of the
    // body for each, all built in memory: one 8 KiB header asks for some
    // 2,700 (20 MB of a 7.5 KB script, far more of an export). Nothing
    // custos-web serves is worth fetching in parts, so every answer is
    // whole, as RFC 9110 lets a server answer any Range. The request is
    // cpp-httplib's own, not const, and handed to handlers as const only.
    const_cast<Request&>(req).ranges.clear();
    if (req.ssl != nullptr && BodyLeftUnread(req.ssl)) {
      SendError(res, absl::InvalidArgumentError(
                         "request: sent on a connection whose last request "
                         "was refused with its body unread; open a new "
                         "connection"));
      res.status = 400;
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    for (const auto& [name, value] : req.headers) {
      if (auto s = ValidateHeaderValue(name, value); !s.ok()) {
        SendError(res, s);
        return RefusedUnread(req, res);
      }
    }
    if (auto refusal = CheckBodyFraming(req)) {
      SendError(res, absl::InvalidArgumentError(refusal->why));
      res.status = refusal->http_status;
      if (res.status == 405) res.set_header("Allow", "GET, HEAD, POST");
      return RefusedUnread(req, res);
    }
    // A trusted proxy's X-Forwarded-For that names no address is refused
    // here, so that every handler has the browser's address; its body, as
    // above, is left unread.
    if (auto address = ClientAddressOf(req); !address.ok()) {
      SendError(res, address.status());
      return RefusedUnread(req, res);
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // cpp-httplib calls its logger once the response is written: the place to
  // end a connection whose request body was left unread, which cpp-httplib
  // would otherwise keep reading. The client gets the answer and the end of
  // the stream; what it still sends is refused above, unread by any handler.
  // Only such a connection: one that ends normally gets its TLS close_notify
  // from cpp-httplib, which a shutdown here would leave unsent.
  http->set_logger([](const Request& req, const Response&) {
    if (req.ssl != nullptr && BodyLeftUnread(req.ssl))
      shutdown(SSL_get_fd(req.ssl), SHUT_WR);
  });
  SSL_CTX_set_msg_callback(http->ssl_context(), CountRecordRead);
  http->set_payload_max_length(64 * 1024);
  // cpp-httplib gives a connection one worker thread from its first byte to
  // its last, and its timeout bounds each read, not a request: a client that
  // sends a byte every few seconds holds a worker as long as it likes. Short
  // waits and more workers than its max(8, cores - 1) raise what it takes to
  // hold them all; facing the internet, custos-web belongs behind a proxy
  // that buffers whole requests (README).
  http->set_read_timeout(3);
  http->set_keep_alive_timeout(3);
  http->set_keep_alive_max_count(5);
  http->new_task_queue = [] { return new httplib::ThreadPool(32); };
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
  auto trusted_proxies = TrustedProxies::Parse(options.trusted_proxies);
  if (!trusted_proxies.ok()) return trusted_proxies.status();
  state->trusted_proxies = *std::move(trusted_proxies);
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
  auto form_tokens = AnonymousFormTokens::Create(absl::Minutes(30));
  if (!form_tokens.ok()) return form_tokens.status();
  state->form_tokens = *std::move(form_tokens);
  auto unknown_login_hash = HashPassword("unused");
  if (!unknown_login_hash.ok()) return unknown_login_hash.status();
  state->unknown_login_hash = *std::move(unknown_login_hash);

  const std::string secret_path = options.data_dir + "/pseudonym_secret";
  auto secret = ReadFile(secret_path);
  if (secret.status().code() == absl::StatusCode::kNotFound) {
    // First run: the secret that keeps pseudonyms stable across restarts.
    secret = RandomToken();
    if (!secret.ok()) return secret.status();
    if (auto s = WriteFileAtomically(secret_path, *secret, 0600); !s.ok())
      return s;
  }
  if (!secret.ok()) return secret.status();
  state->pseudonym_secret = *secret;

  grpc::SslCredentialsOptions tls;
  for (auto [field, path, target] :
       {std::tuple{"gateway_ca", &options.gateway_ca, &tls.pem_root_certs},
        std::tuple{"client_cert", &options.client_cert, &tls.pem_cert_chain},
        std::tuple{"client_key", &options.client_key, &tls.pem_private_key}}) {
    auto pem = ReadFile(*path);
    if (!pem.ok()) {
      return absl::Status(pem.status().code(),
                          absl::StrCat(field, ": ", pem.status().message()));
    }
    *target = *pem;
  }
  state->channel =
      grpc::CreateChannel(options.gateway, grpc::SslCredentials(tls));
  state->identity = custos::v1::TakeIdentity::NewStub(state->channel);
  state->audit = custos::v1::AuditLog::NewStub(state->channel);
  state->approvals = custos::v1::Approvals::NewStub(state->channel);
  state->access = custos::v1::StaffAccess::NewStub(state->channel);

  for (const std::string* path : {&options.tls_cert, &options.tls_key}) {
    if (auto s = ReadFile(*path); !s.ok()) return s.status();
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
