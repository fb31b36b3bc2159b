#include "tests/fakekube/auth.h"

#include <glog/logging.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

#include "kube/tls.h"

namespace fakekube {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// One CSV record (RFC 4180 quoting, as Go's encoding/csv reads it).
std::vector<std::string> SplitCsv(std::string_view line, bool& ok) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  bool was_quoted = false;
  ok = true;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      out.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else {
      field.push_back(c);
    }
  }
  if (quoted) ok = false;
  out.push_back(std::move(field));
  return out;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool MatchesOrStar(const std::vector<std::string>& v, std::string_view s) {
  return Contains(v, "*") || Contains(v, s);
}

void AddAuthenticatedGroup(UserInfo& u) {
  if (u.name == kAnonymousUser) return;
  if (!Contains(u.groups, kAuthenticatedGroup)) u.groups.emplace_back(kAuthenticatedGroup);
}

std::vector<std::string> ReadList(const YAML::Node& rule, std::initializer_list<const char*> keys) {
  std::vector<std::string> out;
  for (const char* key : keys) {
    YAML::Node n = rule[key];
    if (!n) continue;
    if (n.IsScalar()) {
      out.push_back(n.as<std::string>());
    } else if (n.IsSequence()) {
      for (const auto& e : n) {
        if (e.IsScalar()) out.push_back(e.as<std::string>());
      }
    }
  }
  return out;
}

bool UrlMatches(const std::vector<std::string>& patterns, std::string_view path) {
  for (const auto& p : patterns) {
    if (p == "*" || p == path) return true;
    if (!p.empty() && p.back() == '*' &&
        path.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1)) {
      return true;
    }
  }
  return false;
}

bool ResourceMatches(const std::vector<std::string>& resources, const Attributes& a) {
  std::string combined = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  for (const auto& r : resources) {
    if (r == "*" || r == combined) return true;
    if (!a.subresource.empty() && r == "*/" + a.subresource) return true;
    if (!a.subresource.empty() && r == a.resource + "/*") return true;
  }
  return false;
}

bool SubjectMatches(const PolicyRule& rule, const UserInfo& user) {
  if (MatchesOrStar(rule.users, user.name)) return true;
  if (Contains(rule.groups, "*")) return true;
  for (const auto& g : user.groups) {
    if (Contains(rule.groups, g)) return true;
  }
  return false;
}

bool RuleAllows(const PolicyRule& rule, const Attributes& a) {
  if (!SubjectMatches(rule, a.user)) return false;
  if (!MatchesOrStar(rule.verbs, a.verb)) return false;
  if (!a.resource_request) return UrlMatches(rule.non_resource_urls, a.path);
  if (!MatchesOrStar(rule.api_groups, a.group)) return false;
  if (!ResourceMatches(rule.resources, a)) return false;
  if (!rule.namespaces.empty()) {
    if (a.ns.empty() || !MatchesOrStar(rule.namespaces, a.ns)) return false;
  }
  if (!rule.resource_names.empty()) {
    if (a.name.empty() || !Contains(rule.resource_names, a.name)) return false;
  }
  return true;
}

bool IsPublicInfoPath(std::string_view path) {
  for (std::string_view p : {"/healthz", "/livez", "/readyz", "/version"}) {
    if (path == p || path.starts_with(std::string(p) + "/")) return true;
  }
  return false;
}

bool IsDiscoveryPath(std::string_view path) {
  for (std::string_view p : {"/api", "/apis", "/openapi"}) {
    if (path == p || path.starts_with(std::string(p) + "/")) return true;
  }
  return false;
}

}  // namespace

kube::Result<std::vector<StaticToken>> ParseTokenFile(std::string_view csv) {
  std::vector<StaticToken> out;
  size_t line_no = 0;
  while (!csv.empty()) {
    size_t nl = csv.find('\n');
    std::string_view line = csv.substr(0, nl);
    csv = nl == std::string_view::npos ? std::string_view() : csv.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Trim(line).empty()) continue;
    bool ok = true;
    auto fields = SplitCsv(line, ok);
    if (!ok || fields.size() < 3) {
      return kube::NewBadRequest("token file: line " + std::to_string(line_no) +
                                 ": want token,user,uid[,\"group1,group2\"]");
    }
    StaticToken t;
    t.token = std::string(Trim(fields[0]));
    t.user.name = std::string(Trim(fields[1]));
    t.user.uid = std::string(Trim(fields[2]));
    if (t.token.empty() || t.user.name.empty()) {
      return kube::NewBadRequest("token file: line " + std::to_string(line_no) +
                                 ": empty token or user");
    }
    if (fields.size() > 3) {
      std::string_view groups = fields[3];
      while (!groups.empty()) {
        size_t comma = groups.find(',');
        std::string_view g = Trim(groups.substr(0, comma));
        if (!g.empty()) t.user.groups.emplace_back(g);
        groups = comma == std::string_view::npos ? std::string_view() : groups.substr(comma + 1);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

kube::Result<Policy> ParsePolicy(std::string_view text) {
  Policy policy;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    YAML::Node rules = root.IsMap() ? root["rules"] : root;
    if (!rules || rules.IsNull()) return policy;
    if (!rules.IsSequence()) return kube::NewBadRequest("policy: want a list of rules");
    size_t i = 0;
    for (const auto& r : rules) {
      ++i;
      if (!r.IsMap()) {
        return kube::NewBadRequest("policy: rule " + std::to_string(i) + " is not an object");
      }
      PolicyRule rule;
      rule.users = ReadList(r, {"users", "user"});
      rule.groups = ReadList(r, {"groups", "group"});
      rule.verbs = ReadList(r, {"verbs", "verb"});
      rule.api_groups = ReadList(r, {"apiGroups", "apiGroup"});
      rule.resources = ReadList(r, {"resources", "resource"});
      rule.namespaces = ReadList(r, {"namespaces", "namespace"});
      rule.resource_names = ReadList(r, {"resourceNames"});
      rule.non_resource_urls = ReadList(r, {"nonResourceURLs"});
      if (rule.verbs.empty()) {
        return kube::NewBadRequest("policy: rule " + std::to_string(i) + " has no verbs");
      }
      policy.rules.push_back(std::move(rule));
    }
  } catch (const YAML::Exception& e) {
    return kube::NewBadRequest(std::string("policy: ") + e.what());
  }
  return policy;
}

namespace {
std::shared_ptr<const kube::tls::ClientCertificateVerifier> VerifierFor(const std::string& ca_pem) {
  if (ca_pem.empty()) return nullptr;
  auto v = kube::tls::ClientCertificateVerifier::Create(ca_pem);
  if (!v.ok()) {
    LOG(WARNING) << "fakekube: client CA not usable, certificates are refused: "
                 << v.error().message;
    return nullptr;
  }
  return *v;
}
}  // namespace

Authenticator::Authenticator(AuthnConfig config)
    : requestheader_verifier_(VerifierFor(config.requestheader_ca_pem)),
      client_verifier_(VerifierFor(config.client_ca_pem)),
      config_(std::move(config)) {}

void Authenticator::AddToken(StaticToken token) {
  std::lock_guard lock(mu_);
  config_.tokens.push_back(std::move(token));
}

void Authenticator::SetAnonymous(bool enabled) {
  std::lock_guard lock(mu_);
  config_.anonymous = enabled;
}

std::optional<UserInfo> Authenticator::AuthenticateToken(std::string_view token) const {
  std::lock_guard lock(mu_);
  for (const auto& t : config_.tokens) {
    if (t.token == token) {
      UserInfo u = t.user;
      AddAuthenticatedGroup(u);
      return u;
    }
  }
  return std::nullopt;
}

kube::Result<UserInfo> Authenticator::Authenticate(const kube::http::Request& req) const {
  // kube-apiserver's body for every authentication failure.
  const kube::Status unauthorized = kube::NewUnauthorized("Unauthorized");
  if (auto auth = req.headers.Get("Authorization")) {
    std::string_view v = Trim(*auth);
    if (v.size() > 7 && kube::http::EqualsIgnoreCase(v.substr(0, 7), "bearer ")) {
      std::string_view token = Trim(v.substr(7));
      if (auto u = AuthenticateToken(token)) return *u;
      return unauthorized;
    }
    // Other schemes (basic) are not configured: the header is ignored, as kube does.
  }
  // The CAs and allowed names never change after construction; only tokens and anonymous do.
  const AuthnConfig& config = config_;
  if (!req.peer_certificates_der.empty()) {
    if (!config.requestheader_ca_pem.empty()) {
      auto peer = requestheader_verifier_
                      ? requestheader_verifier_->Verify(req.peer_certificates_der)
                      : kube::Result<kube::tls::PeerIdentity>(kube::NewUnauthorized("bad CA"));
      if (peer.ok() && (config.requestheader_allowed_names.empty() ||
                        Contains(config.requestheader_allowed_names, peer->common_name))) {
        auto user = req.headers.Get("X-Remote-User");
        if (user && !user->empty()) {
          UserInfo u;
          u.name = std::string(*user);
          for (auto g : req.headers.GetAll("X-Remote-Group")) u.groups.emplace_back(g);
          for (const auto& [k, val] : req.headers) {
            if (k.size() > 15 && kube::http::StartsWithIgnoreCase(k, "X-Remote-Extra-")) {
              std::string key = kube::http::PercentDecode(std::string_view(k).substr(15));
              for (char& c : key)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
              u.extra[key].push_back(val);
            }
          }
          AddAuthenticatedGroup(u);
          return u;
        }
      }
    }
    if (!config.client_ca_pem.empty()) {
      auto peer = client_verifier_
                      ? client_verifier_->Verify(req.peer_certificates_der)
                      : kube::Result<kube::tls::PeerIdentity>(kube::NewUnauthorized("bad CA"));
      if (peer.ok()) {
        UserInfo u;
        u.name = peer->common_name;
        u.groups = peer->organizations;
        AddAuthenticatedGroup(u);
        return u;
      }
      // A certificate that does not verify is an authentication failure in kube (x509 error).
      return unauthorized;
    }
  }
  bool anonymous;
  {
    std::lock_guard lock(mu_);
    anonymous = config_.anonymous;
  }
  if (!anonymous) return unauthorized;
  UserInfo anon;
  anon.name = std::string(kAnonymousUser);
  anon.groups = {std::string(kUnauthenticatedGroup)};
  return anon;
}

Authorizer::Authorizer(std::optional<Policy> policy) : policy_(std::move(policy)) {}

void Authorizer::SetPolicy(std::optional<Policy> policy) {
  std::lock_guard lock(mu_);
  policy_ = std::move(policy);
}

bool Authorizer::allow_all() const {
  std::lock_guard lock(mu_);
  return !policy_.has_value();
}

Decision Authorizer::Authorize(const Attributes& a) const {
  if (Contains(a.user.groups, kMastersGroup)) return {true, ""};
  std::lock_guard lock(mu_);
  if (!policy_) return {true, ""};
  if (!a.resource_request) {
    if (IsPublicInfoPath(a.path) && a.verb == "get") {
      return {true, "allowed by fakekube's built-in system:public-info-viewer"};
    }
    if (IsDiscoveryPath(a.path) && a.verb == "get" &&
        Contains(a.user.groups, kAuthenticatedGroup)) {
      return {true, "allowed by fakekube's built-in system:discovery"};
    }
  }
  if (a.resource_request && a.user.name == kNamespaceControllerUser) {
    bool read_delete = a.verb == "get" || a.verb == "list" || a.verb == "watch" ||
                       a.verb == "delete" || a.verb == "deletecollection";
    bool finalize = a.verb == "update" && a.group.empty() && a.resource == "namespaces" &&
                    (a.subresource == "finalize" || a.subresource == "status");
    if (read_delete || finalize) {
      return {true, "allowed by fakekube's built-in system:controller:namespace-controller"};
    }
  }
  for (size_t i = 0; i < policy_->rules.size(); ++i) {
    if (RuleAllows(policy_->rules[i], a)) {
      return {true, "allowed by fakekube policy rule #" + std::to_string(i + 1)};
    }
  }
  return {false, ""};
}

std::string ForbiddenMessage(const Attributes& a) {
  auto q = [](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
    return out;
  };
  if (!a.resource_request) {
    return "User " + q(a.user.name) + " cannot " + a.verb + " path " + q(a.path);
  }
  std::string resource = a.resource;
  if (!a.subresource.empty()) resource += "/" + a.subresource;
  if (!a.ns.empty()) {
    return "User " + q(a.user.name) + " cannot " + a.verb + " resource " + q(resource) +
           " in API group " + q(a.group) + " in the namespace " + q(a.ns);
  }
  return "User " + q(a.user.name) + " cannot " + a.verb + " resource " + q(resource) +
         " in API group " + q(a.group) + " at the cluster scope";
}

kube::Status ForbiddenStatus(const Attributes& a, std::string_view reason) {
  std::string msg = ForbiddenMessage(a);
  // responsewriters.Forbidden escapes &, <, > so the message cannot look like HTML.
  std::string sanitized;
  for (char c : msg) {
    if (c == '&')
      sanitized += "&amp;";
    else if (c == '<')
      sanitized += "&lt;";
    else if (c == '>')
      sanitized += "&gt;";
    else
      sanitized.push_back(c);
  }
  if (!reason.empty()) sanitized += ": " + std::string(reason);
  kube::GroupResource gr{a.resource_request ? a.group : "", a.resource_request ? a.resource : ""};
  return kube::NewForbidden(gr, a.resource_request ? a.name : "", sanitized);
}

}  // namespace fakekube
