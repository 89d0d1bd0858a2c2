// The web app's single sign-on: OpenID Connect's authorization code flow with PKCE ([auth.oidc]).
// /v1/auth/oidc/start sends the browser to the provider with a fresh state, nonce and PKCE
// challenge (the state also goes into a short-lived cookie, binding the flow to this browser);
// /v1/auth/oidc/callback exchanges the code at the token endpoint (through the outbound policy),
// verifies the ID token as any JWT ([auth.jwt]) plus its nonce, and signs the browser in: the ID
// token becomes the HttpOnly session cookie until it expires.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include "auth/credential_util.h"
#include "auth/jwt.h"
#include "net/http_post.h"
#include "server/api.h"
#include "server/async_util.h"
#include "server/auth_filter.h"
#include "server/error_mapping.h"

namespace hearth {
using json = nlohmann::json;

namespace {

constexpr const char* kFlowCookie = "hearth_oidc";
constexpr std::int64_t kFlowSeconds = 600;
constexpr std::size_t kMaxFlows = 10000;

struct Flow {
  std::string verifier, nonce;
  std::int64_t expires_at = 0;
};

// Sign-ins under way: state -> flow, in this process (a sign-in starts and ends on one replica,
// or the provider's redirect lands on another and the user starts again).
class Flows {
 public:
  void put(const std::string& state, Flow f, std::int64_t now) {
    std::lock_guard lock(mu_);
    std::erase_if(flows_, [now](const auto& kv) { return kv.second.expires_at < now; });
    if (flows_.size() >= kMaxFlows) flows_.erase(flows_.begin());
    flows_[state] = std::move(f);
  }
  std::optional<Flow> take(const std::string& state, std::int64_t now) {
    std::lock_guard lock(mu_);
    auto it = flows_.find(state);
    if (it == flows_.end()) return std::nullopt;
    Flow f = std::move(it->second);
    flows_.erase(it);
    if (f.expires_at < now) return std::nullopt;
    return f;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Flow> flows_;
};

Flows& flows() {
  static Flows f;
  return f;
}

std::string base64url(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::string pkce_challenge(const std::string& verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return base64url(digest, sizeof digest);
}

std::string redirect_uri(const ApiContext& api, const HttpRequest& req) {
  const OidcSettings& o = api.config.auth.oidc;
  if (!o.redirect_uri.empty()) return o.redirect_uri;
  return fmt::format("{}://{}/v1/auth/oidc/callback", api.config.tls.enabled() ? "https" : "http", req.header("host"));
}

std::string cookie_value(const HttpRequest& req, std::string_view name) {
  std::string_view all = req.header("cookie");
  while (!all.empty()) {
    const std::size_t end = std::min(all.find(';'), all.size());
    std::string_view pair = all.substr(0, end);
    all.remove_prefix(std::min(end + 1, all.size()));
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
  }
  return {};
}

Result<std::string> start_location(const ApiContext& api, const HttpRequest& req, std::string& state) {
  const OidcSettings& o = api.config.auth.oidc;
  auto st = auth::detail::random_base62(32);
  auto verifier = auth::detail::random_base62(64);
  auto nonce = auth::detail::random_base62(32);
  if (!st || !verifier || !nonce) return internal_error("no randomness for the sign-in");
  state = *st;
  flows().put(state, {*verifier, *nonce, unix_time_now() + kFlowSeconds}, unix_time_now());
  using net::form_escape;
  return fmt::format("{}{}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}"
                     "&code_challenge={}&code_challenge_method=S256",
                     o.authorization_endpoint, o.authorization_endpoint.find('?') == std::string::npos ? '?' : '&',
                     form_escape(o.client_id), form_escape(redirect_uri(api, req)), form_escape(o.scopes),
                     state, *nonce, pkce_challenge(*verifier));
}

struct SignedIn {
  std::string id_token;
  std::int64_t expires_at = 0;
};

// The token exchange and the ID token's checks (blocking: runs on the pool).
Result<SignedIn> exchange(const ApiContext& api, const std::string& code, const std::string& redirect, const Flow& f) {
  const OidcSettings& o = api.config.auth.oidc;
  using net::form_escape;
  std::string form = fmt::format("grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
                                 form_escape(code), form_escape(redirect), form_escape(o.client_id), f.verifier);
  if (!o.client_secret_file.empty()) {
    std::ifstream in(o.client_secret_file, std::ios::binary);
    std::string secret(std::istreambuf_iterator<char>(in), {});
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) return unavailable(fmt::format("cannot read auth.oidc.client_secret_file {}", o.client_secret_file));
    form += "&client_secret=" + form_escape(secret);
  }
  auto reply = net::http_post(o.token_endpoint, "application/x-www-form-urlencoded", form, {}, 15, 1 << 20);
  if (!reply) return unavailable(fmt::format("the identity provider's token endpoint: {}", reply.error().message));
  const json body = json::parse(reply->body, nullptr, false);
  if (reply->status != 200 || !body.is_object() || !body.contains("id_token") || !body["id_token"].is_string()) {
    const std::string why = body.is_object() && body.contains("error") ? body["error"].dump() : "no id_token";
    return Error{ErrorCode::kUnauthenticated,
                 fmt::format("the identity provider did not sign you in (token endpoint: HTTP {}, {})", reply->status, why)};
  }
  SignedIn out{body["id_token"].get<std::string>(), 0};
  auto id = api.jwks->verify(out.id_token, *api.jwt, unix_time_now());
  if (!id) return id.take_error();
  if (id->nonce != f.nonce) return Error{ErrorCode::kUnauthenticated, "the ID token's nonce does not match this sign-in"};
  out.expires_at = id->expires_at;
  return out;
}

HttpResponse redirect_to(const std::string& location) {
  HttpResponse res;
  res.status = 302;
  res.content_type = "text/plain; charset=utf-8";
  res.headers.emplace_back("Location", location);
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

}  // namespace

Task<> handle_oidc_start(ApiContext& api, Exchange& ex) {
  if (!api.config.auth.oidc.enabled() || !api.jwks) {
    co_return co_await ex.respond(error_response(not_found("single sign-on is not configured on this server ([auth.oidc])")));
  }
  std::string state;
  auto location = start_location(api, ex.request(), state);
  if (!location) co_return co_await ex.respond(error_response(location.error()));
  HttpResponse res = redirect_to(*location);
  res.headers.emplace_back("Set-Cookie", fmt::format("{}={}; Path=/v1/auth/oidc; Max-Age={}; HttpOnly; SameSite=Lax{}",
                                                     kFlowCookie, state, kFlowSeconds,
                                                     api.config.tls.enabled() ? "; Secure" : ""));
  co_await ex.respond(std::move(res));
}

Task<> handle_oidc_callback(ApiContext& api, Exchange& ex) {
  const std::string& q = ex.request().query;
  if (!api.config.auth.oidc.enabled() || !api.jwks) {
    co_return co_await ex.respond(error_response(not_found("single sign-on is not configured on this server ([auth.oidc])")));
  }
  if (const std::string err = query_param(q, "error"); !err.empty()) {
    const Error e{ErrorCode::kUnauthenticated, fmt::format("the identity provider refused the sign-in: {} {}", err,
                                                           query_param(q, "error_description"))};
    co_return co_await ex.respond(error_response(e));
  }
  const std::string state = query_param(q, "state");
  std::optional<Flow> flow;
  if (!state.empty() && cookie_value(ex.request(), kFlowCookie) == state) flow = flows().take(state, unix_time_now());
  if (!flow) {
    co_return co_await ex.respond(error_response(invalid_argument(
        "this sign-in is unknown, expired or was started in another browser (state): sign in again", "state")));
  }
  auto work = [&api, code = query_param(q, "code"), redirect = redirect_uri(api, ex.request()), f = *flow] {
    return exchange(api, code, redirect, f);
  };
  auto signed_in = co_await run_blocking(api.blocking, work);
  if (!signed_in) co_return co_await ex.respond(error_response(signed_in.error()));
  HttpResponse res = redirect_to("/");
  res.headers.emplace_back("Set-Cookie", session_cookie_header(signed_in->id_token,
                                                               signed_in->expires_at - unix_time_now(),
                                                               api.config.tls.enabled()));
  res.headers.emplace_back("Set-Cookie", fmt::format("{}=; Path=/v1/auth/oidc; Max-Age=0; HttpOnly; SameSite=Lax",
                                                     kFlowCookie));
  co_await ex.respond(std::move(res));
}

}  // namespace hearth
