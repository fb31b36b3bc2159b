#include "apiserver/authz.h"

#include <glog/logging.h>

#include <algorithm>
#include <charconv>

#include "kube/json.h"

namespace apiserver {
namespace {

namespace json = kube::json;

void SetIfNotEmpty(json::Value& obj, std::string_view key, std::string_view v, json::Allocator& a) {
  if (!v.empty()) json::SetString(obj, key, v, a);
}

// The SAR spec.
json::Value Spec(const Attributes& attrs, json::Allocator& a) {
  json::Value spec(rapidjson::kObjectType);
  if (attrs.is_resource_request) {
    json::Value ra(rapidjson::kObjectType);
    SetIfNotEmpty(ra, "namespace", attrs.namespace_, a);
    SetIfNotEmpty(ra, "verb", attrs.verb, a);
    SetIfNotEmpty(ra, "group", attrs.api_group, a);
    SetIfNotEmpty(ra, "version", attrs.api_version, a);
    SetIfNotEmpty(ra, "resource", attrs.resource, a);
    SetIfNotEmpty(ra, "subresource", attrs.subresource, a);
    SetIfNotEmpty(ra, "name", attrs.name, a);
    json::SetMember(spec, "resourceAttributes", std::move(ra), a);
  } else {
    json::Value nra(rapidjson::kObjectType);
    SetIfNotEmpty(nra, "path", attrs.path, a);
    SetIfNotEmpty(nra, "verb", attrs.verb, a);
    json::SetMember(spec, "nonResourceAttributes", std::move(nra), a);
  }
  SetIfNotEmpty(spec, "user", attrs.user.name, a);
  if (!attrs.user.groups.empty()) {
    json::Value groups(rapidjson::kArrayType);
    for (const auto& g : attrs.user.groups) groups.PushBack(json::Str(g, a), a);
    json::SetMember(spec, "groups", std::move(groups), a);
  }
  if (!attrs.user.extra.empty()) {
    json::Value extra(rapidjson::kObjectType);
    for (const auto& [k, vals] : attrs.user.extra) {
      json::Value arr(rapidjson::kArrayType);
      for (const auto& v : vals) arr.PushBack(json::Str(v, a), a);
      json::SetMember(extra, k, std::move(arr), a);
    }
    json::SetMember(spec, "extra", std::move(extra), a);
  }
  SetIfNotEmpty(spec, "uid", attrs.user.uid, a);
  return spec;
}

// The cache key: every attribute the SAR carries, each length-prefixed (so no two different
// attribute sets give the same key). Built directly, without a JSON document per request.
void AppendKeyField(std::string& key, std::string_view v) {
  char len[24];
  auto [end, ec] = std::to_chars(len, len + sizeof len, v.size());
  key.append(len, end);
  key += ':';
  key.append(v);
}

void AppendKeyCount(std::string& key, size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  key.append(buf, end);
  key += ';';
}

std::string CacheKey(const Attributes& attrs) {
  std::string key;
  size_t size = 64 + attrs.namespace_.size() + attrs.verb.size() + attrs.api_group.size() +
                attrs.api_version.size() + attrs.resource.size() + attrs.subresource.size() +
                attrs.name.size() + attrs.path.size() + attrs.user.name.size() +
                attrs.user.uid.size();
  for (const auto& g : attrs.user.groups) size += g.size() + 8;
  key.reserve(size);
  if (attrs.is_resource_request) {
    key += 'R';
    AppendKeyField(key, attrs.namespace_);
    AppendKeyField(key, attrs.verb);
    AppendKeyField(key, attrs.api_group);
    AppendKeyField(key, attrs.api_version);
    AppendKeyField(key, attrs.resource);
    AppendKeyField(key, attrs.subresource);
    AppendKeyField(key, attrs.name);
  } else {
    key += 'N';
    AppendKeyField(key, attrs.path);
    AppendKeyField(key, attrs.verb);
  }
  AppendKeyField(key, attrs.user.name);
  AppendKeyField(key, attrs.user.uid);
  key += 'G';
  AppendKeyCount(key, attrs.user.groups.size());
  for (const auto& g : attrs.user.groups) AppendKeyField(key, g);
  key += 'E';
  AppendKeyCount(key, attrs.user.extra.size());
  for (const auto& [k, vals] : attrs.user.extra) {  // std::map: ordered
    AppendKeyField(key, k);
    AppendKeyCount(key, vals.size());
    for (const auto& v : vals) AppendKeyField(key, v);
  }
  return key;
}

std::string Sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

// Go's %q for the plain strings kube puts in messages.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

std::string BuildSubjectAccessReview(const Attributes& attrs) {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  json::SetString(d, "apiVersion", "authorization.k8s.io/v1", a);
  json::SetString(d, "kind", "SubjectAccessReview", a);
  json::SetMember(d, "spec", Spec(attrs, a), a);
  return json::Serialize(d);
}

kube::Result<AuthorizationResult> ParseSubjectAccessReviewResponse(std::string_view body) {
  auto doc = json::Parse(body);
  if (!doc || !doc->IsObject()) {
    return kube::NewServiceUnavailable("SubjectAccessReview answer is not JSON");
  }
  const json::Value* status = json::Find(*doc, "status");
  if (status == nullptr || !status->IsObject()) {
    return kube::NewServiceUnavailable("SubjectAccessReview answer has no status");
  }
  AuthorizationResult r;
  const json::Value* allowed = json::Find(*status, "allowed");
  const json::Value* denied = json::Find(*status, "denied");
  if (allowed != nullptr && allowed->IsBool() && allowed->GetBool()) {
    r.decision = Decision::kAllow;
  } else if (denied != nullptr && denied->IsBool() && denied->GetBool()) {
    r.decision = Decision::kDeny;
  } else {
    r.decision = Decision::kNoOpinion;
  }
  r.reason = std::string(json::GetString(*status, "reason"));
  return r;
}

kube::Status ForbiddenStatus(const Attributes& attrs, std::string_view reason) {
  std::string msg;
  if (!attrs.is_resource_request) {
    msg = "User " + Quote(attrs.user.name) + " cannot " + attrs.verb + " path " + Quote(attrs.path);
  } else {
    std::string resource = attrs.resource;
    if (!attrs.subresource.empty()) resource += "/" + attrs.subresource;
    msg = "User " + Quote(attrs.user.name) + " cannot " + attrs.verb + " resource " +
          Quote(resource) + " in API group " + Quote(attrs.api_group);
    if (!attrs.namespace_.empty()) {
      msg += " in the namespace " + Quote(attrs.namespace_);
    } else {
      msg += " at the cluster scope";
    }
  }
  msg = Sanitize(msg);
  if (!reason.empty()) msg += ": " + std::string(reason);
  kube::GroupResource gr{attrs.api_group, attrs.resource};
  kube::Status s = kube::NewForbidden(gr, attrs.name, msg);
  s.details_token = "authz_denied";
  return s;
}

Authorizer::Authorizer(std::shared_ptr<AccessReviewer> reviewer, AuthorizerOptions options)
    : reviewer_(std::move(reviewer)), options_(std::move(options)) {}

asio::awaitable<kube::Result<AuthorizationResult>> Authorizer::Authorize(const Attributes& attrs) {
  if (!attrs.is_resource_request) {
    for (const auto& p : options_.always_allow_paths) {
      if (attrs.path == p || (attrs.path.size() > p.size() && attrs.path.starts_with(p) &&
                              attrs.path[p.size()] == '/')) {
        co_return AuthorizationResult{Decision::kAllow, ""};
      }
    }
  }
  for (const auto& g : attrs.user.groups) {
    if (std::find(options_.always_allow_groups.begin(), options_.always_allow_groups.end(), g) !=
        options_.always_allow_groups.end()) {
      co_return AuthorizationResult{Decision::kAllow, ""};
    }
  }
  std::string key = CacheKey(attrs);
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (it->second.expires > now) {
        hits_.fetch_add(1);
        co_return it->second.result;
      }
      cache_.erase(it);
    }
  }
  misses_.fetch_add(1);
  if (!reviewer_) {
    co_return kube::NewServiceUnavailable("authorization is not configured");
  }
  auto r = co_await reviewer_->Review(attrs);
  if (!r.ok()) {
    LOG(WARNING) << "authorization: SubjectAccessReview failed: " << r.error().message;
    kube::Status s =
        kube::NewServiceUnavailable("authorization check failed: " + r.error().message);
    s.details_token = "authz_unavailable";
    co_return s;
  }
  AuthorizationResult result = *r;
  if (result.decision == Decision::kNoOpinion) result.decision = Decision::kDeny;
  auto ttl = result.decision == Decision::kAllow ? options_.allow_ttl : options_.deny_ttl;
  if (ttl.count() > 0) {
    std::lock_guard lock(mu_);
    if (cache_.size() > 8192) {
      std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now; });
    }
    if (cache_.size() <= 8192) cache_[key] = Entry{result, now + ttl};
  }
  co_return result;
}

}  // namespace apiserver
