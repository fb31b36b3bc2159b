#include "apiserver/authn.h"

#include <glog/logging.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include <algorithm>
#include <cctype>

namespace apiserver {
namespace {

namespace json = kube::json;
using kube::http::EqualsIgnoreCase;
using kube::http::StartsWithIgnoreCase;

// A verifier trusting every certificate of a PEM bundle; `previous` is reused when its bundle is
// the same (its cache stays warm across unrelated configuration changes). Null when the bundle
// is empty or holds no certificate.
std::shared_ptr<const kube::tls::ClientCertificateVerifier> MakeVerifier(
    const std::string& pem,
    const std::shared_ptr<const kube::tls::ClientCertificateVerifier>& previous,
    std::chrono::seconds ttl) {
  if (pem.empty()) return nullptr;
  if (previous && previous->ca_bundle_pem() == pem) return previous;
  auto v = kube::tls::ClientCertificateVerifier::Create(pem, ttl);
  if (!v.ok()) {
    LOG(WARNING) << "authentication: a CA bundle holds no usable certificate";
    return nullptr;
  }
  return std::move(*v);
}

std::string Sha256Hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Every field whose name starts with one of `prefixes` (case-insensitively).
std::vector<std::string> NamesWithPrefix(const kube::http::Headers& h,
                                         const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (const auto& [name, value] : h) {
    for (const auto& p : prefixes) {
      if (StartsWithIgnoreCase(name, p)) {
        out.push_back(name);
        break;
      }
    }
  }
  return out;
}

void StripIdentityHeaders(kube::http::Request& req, const RequestHeaderConfig* rh) {
  static const RequestHeaderConfig defaults;
  for (const RequestHeaderConfig* c : {&defaults, rh}) {
    if (c == nullptr) continue;
    for (const auto& n : c->username_headers) req.headers.Remove(n);
    for (const auto& n : c->uid_headers) req.headers.Remove(n);
    for (const auto& n : c->group_headers) req.headers.Remove(n);
    for (const auto& n : NamesWithPrefix(req.headers, c->extra_headers_prefix)) {
      req.headers.Remove(n);
    }
  }
  req.headers.Remove("X-Remote-Uid");
  WipeCredentialHeaders(req.headers);  // Remove() frees the strings: overwrite them first
  req.headers.Remove("Authorization");
}

std::optional<std::vector<std::string>> StringList(const json::Value& data, std::string_view key) {
  const json::Value* v = json::Find(data, key);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  auto doc = json::Parse(json::View(*v));
  std::vector<std::string> out;
  if (!doc || !doc->IsArray()) {
    // Malformed: keep the value we had (kube refuses to load such a ConfigMap). Treating it as
    // empty would turn an allowed-names list into "any certificate from the CA".
    LOG(WARNING) << "extension-apiserver-authentication: " << key
                 << " is not a JSON string array; keeping the previous value";
    return std::nullopt;
  }
  for (const auto& item : doc->GetArray()) {
    if (item.IsString() && item.GetStringLength() > 0) out.emplace_back(json::View(item));
  }
  return out;
}

}  // namespace

void WipeCredentialHeaders(kube::http::Headers& headers) {
  for (const auto& [name, value] : headers) {
    // The strings belong to `headers`, which is not const: only the accessor is.
    if (EqualsIgnoreCase(name, "Authorization") && !value.empty()) {
      sodium_memzero(const_cast<char*>(value.data()), value.size());
    }
  }
}

struct Authenticator::State {
  AuthenticationConfig config;
  std::shared_ptr<const kube::tls::ClientCertificateVerifier> request_header_verifier;
  std::shared_ptr<const kube::tls::ClientCertificateVerifier> client_verifier;
};

AuthenticationConfig ParseAuthenticationConfigMap(const json::Value& configmap,
                                                  AuthenticationConfig base) {
  const json::Value* data = json::Find(configmap, "data");
  if (data == nullptr || !data->IsObject()) return base;
  if (const json::Value* v = json::Find(*data, "client-ca-file"); v && v->IsString()) {
    base.client_ca_pem = std::string(json::View(*v));
  }
  RequestHeaderConfig& rh = base.request_header;
  if (const json::Value* v = json::Find(*data, "requestheader-client-ca-file");
      v && v->IsString()) {
    rh.client_ca_pem = std::string(json::View(*v));
  }
  if (auto l = StringList(*data, "requestheader-allowed-names")) rh.allowed_names = *l;
  if (auto l = StringList(*data, "requestheader-username-headers")) rh.username_headers = *l;
  if (auto l = StringList(*data, "requestheader-uid-headers")) rh.uid_headers = *l;
  if (auto l = StringList(*data, "requestheader-group-headers")) rh.group_headers = *l;
  if (auto l = StringList(*data, "requestheader-extra-headers-prefix")) {
    rh.extra_headers_prefix = *l;
  }
  return base;
}

kube::Result<std::optional<UserInfo>> ParseTokenReviewResponse(std::string_view body) {
  auto doc = json::Parse(body);
  if (!doc || !doc->IsObject()) {
    return kube::NewInternalError("TokenReview answer is not JSON");
  }
  const json::Value* status = json::Find(*doc, "status");
  if (status == nullptr || !status->IsObject()) return std::optional<UserInfo>();
  const json::Value* authed = json::Find(*status, "authenticated");
  if (authed == nullptr || !authed->IsBool() || !authed->GetBool()) {
    return std::optional<UserInfo>();
  }
  const json::Value* user = json::Find(*status, "user");
  if (user == nullptr || !user->IsObject()) return std::optional<UserInfo>();
  UserInfo u;
  u.name = std::string(json::GetString(*user, "username"));
  u.uid = std::string(json::GetString(*user, "uid"));
  if (const json::Value* g = json::Find(*user, "groups"); g && g->IsArray()) {
    for (const auto& item : g->GetArray()) {
      if (item.IsString()) u.groups.emplace_back(json::View(item));
    }
  }
  if (const json::Value* e = json::Find(*user, "extra"); e && e->IsObject()) {
    for (const auto& m : e->GetObject()) {
      auto& vals = u.extra[std::string(json::View(m.name))];
      if (m.value.IsArray()) {
        for (const auto& item : m.value.GetArray()) {
          if (item.IsString()) vals.emplace_back(json::View(item));
        }
      }
    }
  }
  if (u.name.empty()) return std::optional<UserInfo>();
  return std::optional<UserInfo>(std::move(u));
}

void AddAuthenticatedGroup(UserInfo& user) {
  if (user.name == "system:anonymous") return;
  for (const auto& g : user.groups) {
    if (g == "system:authenticated" || g == "system:unauthenticated") return;
  }
  user.groups.push_back("system:authenticated");
}

Authenticator::Authenticator(std::shared_ptr<TokenReviewer> reviewer,
                             std::chrono::milliseconds token_ttl,
                             std::chrono::seconds cert_cache_ttl)
    : reviewer_(std::move(reviewer)), token_ttl_(token_ttl), cert_cache_ttl_(cert_cache_ttl) {}

kube::Result<kube::tls::PeerIdentity> Authenticator::VerifyCached(
    const kube::tls::ClientCertificateVerifier& verifier, const kube::http::Request& req) {
  bool hit = false;
  auto id = verifier.Verify(req.peer_certificates_der, &hit, req.peer_certificates_digest);
  if (!hit) cert_verifications_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void Authenticator::SetConfig(const AuthenticationConfig& config) {
  std::shared_ptr<const State> previous = state_.load();
  auto s = std::make_shared<State>();
  s->config = config;
  s->request_header_verifier =
      MakeVerifier(config.request_header.client_ca_pem,
                   previous ? previous->request_header_verifier : nullptr, cert_cache_ttl_);
  s->client_verifier = MakeVerifier(
      config.client_ca_pem, previous ? previous->client_verifier : nullptr, cert_cache_ttl_);
  state_.store(std::shared_ptr<const State>(std::move(s)));
}

asio::awaitable<AuthenticationResult> Authenticator::Authenticate(kube::http::Request& req) {
  std::shared_ptr<const State> s = state_.load();
  const RequestHeaderConfig* rh = s ? &s->config.request_header : nullptr;
  AuthenticationResult result;
  std::string error;

  // 1. The authenticating front proxy: certificate from the requestheader CA (and an allowed
  // CN), then the identity from its headers.
  if (s && s->request_header_verifier && !req.peer_certificates_der.empty()) {
    auto cert = VerifyCached(*s->request_header_verifier, req);
    if (cert.ok()) {
      bool allowed =
          rh->allowed_names.empty() || std::find(rh->allowed_names.begin(), rh->allowed_names.end(),
                                                 cert->common_name) != rh->allowed_names.end();
      if (!allowed) {
        error = "front-proxy certificate CN \"" + cert->common_name + "\" is not allowed";
      } else {
        UserInfo u;
        for (const auto& h : rh->username_headers) {
          auto v = req.headers.Get(h);
          if (v && !v->empty()) {
            u.name = std::string(*v);
            break;
          }
        }
        if (!u.name.empty()) {
          for (const auto& h : rh->uid_headers) {
            auto v = req.headers.Get(h);
            if (v && !v->empty()) {
              u.uid = std::string(*v);
              break;
            }
          }
          for (const auto& h : rh->group_headers) {
            for (const auto& [name, value] : req.headers) {
              if (!value.empty() && kube::http::EqualsIgnoreCase(name, h)) {
                u.groups.push_back(value);
              }
            }
          }
          for (const auto& prefix : rh->extra_headers_prefix) {
            for (const auto& [name, value] : req.headers) {
              if (!StartsWithIgnoreCase(name, prefix)) continue;
              std::string key =
                  kube::http::PercentDecode(Lower(std::string_view(name).substr(prefix.size())));
              u.extra[key].push_back(value);
            }
          }
          result.user = std::move(u);
          result.method = "requestheader";
        }
      }
    } else {
      error = "client certificate not trusted: " + cert.error().message;
    }
  }

  // 2. Ordinary client certificates: CN is the user, O the groups.
  if (!result.user && s && s->client_verifier && !req.peer_certificates_der.empty()) {
    auto cert = VerifyCached(*s->client_verifier, req);
    if (cert.ok()) {
      if (!cert->common_name.empty()) {
        UserInfo u;
        u.name = cert->common_name;
        u.groups = cert->organizations;
        result.user = std::move(u);
        result.method = "x509";
      }
    } else if (error.empty()) {
      error = "client certificate not trusted: " + cert.error().message;
    }
  }

  // 3. Bearer tokens, via TokenReview (cached).
  std::string token;
  if (!result.user) {
    if (auto auth = req.headers.Get("Authorization")) {
      std::string_view v = *auth;
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (StartsWithIgnoreCase(v, "bearer ")) {
        v.remove_prefix(7);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        token = std::string(v);
      }
    }
  }
  // The credentials go now, whatever happens next: nothing downstream may see them.
  StripIdentityHeaders(req, rh);

  if (!result.user && !token.empty()) {
    std::string key = Sha256Hex(token);
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu_);
      auto it = token_cache_.find(key);
      if (it != token_cache_.end()) {
        if (it->second.expires > now) {
          result.user = it->second.user;
          result.method = "token";
          token_hits_.fetch_add(1);
        } else {
          token_cache_.erase(it);
        }
      }
    }
    if (!result.user) {
      if (!reviewer_) {
        error = "bearer tokens are not accepted";
      } else {
        auto r = co_await reviewer_->Review(token);
        if (!r.ok()) {
          error = "TokenReview failed: " + r.error().message;
        } else if (!r->has_value()) {
          error = "invalid bearer token";
        } else {
          result.user = **r;
          result.method = "token";
          std::lock_guard lock(mu_);
          if (token_cache_.size() > 4096) {
            std::erase_if(token_cache_, [&](const auto& e) { return e.second.expires <= now; });
          }
          if (token_cache_.size() <= 4096) {
            token_cache_[key] = CachedToken{*result.user, now + token_ttl_};
          }
        }
      }
    }
  }
  // Wipe the local copy of the token.
  if (!token.empty()) sodium_memzero(token.data(), token.size());

  if (result.user) {
    AddAuthenticatedGroup(*result.user);
  } else {
    result.error = error.empty() ? "no credentials" : error;
  }
  co_return result;
}

}  // namespace apiserver
