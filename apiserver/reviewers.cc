#include "apiserver/reviewers.h"

#include <glog/logging.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sodium.h>

#include <algorithm>

#include "kube/rest_client.h"

namespace apiserver {
namespace {

namespace json = kube::json;

constexpr std::string_view kConfigMapPath =
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication";

void Wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
}

asio::awaitable<kube::Result<std::string>> PostReview(kube::RestClient& client, std::string path,
                                                      std::string body,
                                                      std::chrono::milliseconds timeout,
                                                      bool sensitive) {
  kube::RestRequest req;
  req.method = "POST";
  req.path = std::move(path);
  req.headers.Set("Content-Type", "application/json");
  req.headers.Set("Accept", "application/json");
  req.body = std::move(body);
  req.timeout = timeout;
  req.sensitive = sensitive;  // RestClient wipes the body once it is written
  auto r = co_await client.Do(std::move(req));
  if (!r.ok()) co_return r.error();
  if (r->status < 200 || r->status > 299) {
    kube::Status s = kube::RestClient::ErrorFromResponse(r->status, r->body);
    co_return kube::NewServiceUnavailable("the app cluster answered " + std::to_string(r->status) +
                                          ": " + s.message);
  }
  co_return std::move(r->body);
}

class RestTokenReviewer : public TokenReviewer {
 public:
  RestTokenReviewer(std::shared_ptr<kube::RestClient> c, std::chrono::milliseconds t)
      : client_(std::move(c)), timeout_(t) {}
  asio::awaitable<kube::Result<std::optional<UserInfo>>> Review(std::string token) override {
    std::string body = BuildTokenReviewBody(token);
    auto r = co_await PostReview(*client_, "/apis/authentication.k8s.io/v1/tokenreviews",
                                 std::move(body), timeout_, true);
    if (!r.ok()) {
      Wipe(token);
      co_return r.error();
    }
    // kube-apiserver echoes spec.token in its answer: blank it before the JSON parser copies
    // it, and wipe the answer afterwards.
    RedactToken(*r, token);
    Wipe(token);
    auto parsed = ParseTokenReviewResponse(*r);
    Wipe(*r);
    co_return parsed;
  }

 private:
  std::shared_ptr<kube::RestClient> client_;
  std::chrono::milliseconds timeout_;
};

class RestAccessReviewer : public AccessReviewer {
 public:
  RestAccessReviewer(std::shared_ptr<kube::RestClient> c, std::chrono::milliseconds t)
      : client_(std::move(c)), timeout_(t) {}
  asio::awaitable<kube::Result<AuthorizationResult>> Review(Attributes attrs) override {
    auto r = co_await PostReview(*client_, "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                 BuildSubjectAccessReview(attrs), timeout_, false);
    if (!r.ok()) co_return r.error();
    co_return ParseSubjectAccessReviewResponse(*r);
  }

 private:
  std::shared_ptr<kube::RestClient> client_;
  std::chrono::milliseconds timeout_;
};

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace

std::string BuildTokenReviewBody(std::string_view token) {
  static constexpr std::string_view kHead =
      R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":")";
  static constexpr std::string_view kTail = R"("}})";
  std::string out;
  // Sized up front (worst case: every byte \u00XX) so the buffer never reallocates and leaves
  // an unwiped copy behind.
  out.reserve(kHead.size() + token.size() * 6 + kTail.size());
  out.append(kHead);
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : token) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c == 0x7f) {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);  // UTF-8 bytes pass through (JSON allows them unescaped)
    }
  }
  out.append(kTail);
  return out;
}

size_t RedactToken(std::string& body, std::string_view token) {
  if (token.empty()) return 0;
  size_t n = 0;
  for (size_t at = body.find(token); at != std::string::npos; at = body.find(token, at)) {
    // Inside a JSON string any printable ASCII is valid: the document stays parseable.
    std::fill_n(body.begin() + static_cast<std::ptrdiff_t>(at), token.size(), '*');
    at += token.size();
    ++n;
  }
  return n;
}

std::shared_ptr<TokenReviewer> NewTokenReviewer(std::shared_ptr<kube::RestClient> app,
                                                std::chrono::milliseconds timeout) {
  return std::make_shared<RestTokenReviewer>(std::move(app), timeout);
}

std::shared_ptr<AccessReviewer> NewAccessReviewer(std::shared_ptr<kube::RestClient> app,
                                                  std::chrono::milliseconds timeout) {
  return std::make_shared<RestAccessReviewer>(std::move(app), timeout);
}

AuthenticationConfig AuthenticationOverrides::Apply(AuthenticationConfig c) const {
  RequestHeaderConfig& rh = c.request_header;
  const RequestHeaderConfig& o = config.request_header;
  if (has_requestheader_ca) rh.client_ca_pem = o.client_ca_pem;
  if (has_allowed_names) rh.allowed_names = o.allowed_names;
  if (has_username_headers) rh.username_headers = o.username_headers;
  if (has_uid_headers) rh.uid_headers = o.uid_headers;
  if (has_group_headers) rh.group_headers = o.group_headers;
  if (has_extra_prefix) rh.extra_headers_prefix = o.extra_headers_prefix;
  if (has_client_ca) c.client_ca_pem = config.client_ca_pem;
  return c;
}

asio::awaitable<void> WatchAuthenticationConfig(std::shared_ptr<kube::RestClient> app,
                                                std::shared_ptr<Authenticator> authenticator,
                                                AuthenticationOverrides overrides,
                                                std::shared_ptr<std::atomic<bool>> stop) {
  std::chrono::milliseconds backoff(500);
  std::string last_data;
  auto apply = [&](const json::Value& cm) {
    const json::Value* data = json::Find(cm, "data");
    std::string serialized = data ? json::Serialize(*data) : "";
    if (serialized == last_data && authenticator->has_config()) return;
    last_data = serialized;
    authenticator->SetConfig(overrides.Apply(ParseAuthenticationConfigMap(cm)));
    LOG(INFO) << "authentication: loaded kube-system/extension-apiserver-authentication";
  };
  while (!stop->load()) {
    auto got = co_await app->Get(std::string(kConfigMapPath));
    if (!got.ok()) {
      LOG(WARNING) << "authentication: cannot read kube-system/extension-apiserver-authentication: "
                   << got.error().message;
      co_await Sleep(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000));
      continue;
    }
    backoff = std::chrono::milliseconds(500);
    apply(*got);
    const json::Value* rv_value = json::FindPath(*got, "metadata.resourceVersion");
    std::string rv = rv_value ? std::string(json::View(*rv_value)) : std::string();
    std::string path =
        "/api/v1/namespaces/kube-system/configmaps?fieldSelector=metadata.name%3D"
        "extension-apiserver-authentication&allowWatchBookmarks=true&resourceVersion=" +
        rv;
    auto watcher = co_await app->Watch(path);
    if (!watcher.ok()) {
      co_await Sleep(backoff);
      continue;
    }
    while (!stop->load()) {
      auto ev = co_await (*watcher)->Next();
      if (!ev.ok() || !ev->has_value()) break;
      const auto& e = **ev;
      if (e.type == "ADDED" || e.type == "MODIFIED") apply(e.object);
      if (e.type == "ERROR") break;
    }
    co_await Sleep(std::chrono::milliseconds(200));
  }
}

}  // namespace apiserver
