// fakekube's authentication and authorization, as kube-apiserver configures them with
// --token-file (static bearer tokens), --client-ca-file (client certificates: CN = user,
// O = groups), --requestheader-client-ca-file (front-proxy X-Remote-* headers), anonymous
// requests, and an RBAC-like policy file (or allow-all, kube's AlwaysAllow). The same objects
// answer TokenReview and SubjectAccessReview.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/http.h"
#include "kube/result.h"
#include "kube/status.h"
#include "kube/tls.h"

namespace fakekube {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
  bool operator==(const UserInfo&) const = default;
};

inline constexpr std::string_view kAnonymousUser = "system:anonymous";
inline constexpr std::string_view kUnauthenticatedGroup = "system:unauthenticated";
inline constexpr std::string_view kAuthenticatedGroup = "system:authenticated";
inline constexpr std::string_view kMastersGroup = "system:masters";
// The namespace controller's identity (kube-controller-manager with
// --use-service-account-credentials); fakekube's namespace controller sends its requests as it.
inline constexpr std::string_view kNamespaceControllerUser =
    "system:serviceaccount:kube-system:namespace-controller";

struct StaticToken {
  std::string token;
  UserInfo user;
};
// kube's --token-file: CSV lines `token,user,uid[,"group1,group2"]` (extra columns ignored,
// blank lines skipped). 400-style Status naming the line on malformed input.
kube::Result<std::vector<StaticToken>> ParseTokenFile(std::string_view csv);

// One rule of the policy file. Empty `users` and `groups` match nobody; "*" matches anything in
// users, groups, verbs, apiGroups, resources, namespaces. Empty `namespaces` matches every
// namespace and cluster-scoped requests; a non-empty list matches only requests in those
// namespaces. Empty `resourceNames` matches any name. `resources` entries may name subresources
// ("kubernetesclusters/status", "*/status"). `nonResourceURLs` ("/healthz", "/apis/*") apply to
// non-resource requests.
struct PolicyRule {
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> namespaces;
  std::vector<std::string> resource_names;
  std::vector<std::string> non_resource_urls;
};
struct Policy {
  std::vector<PolicyRule> rules;
};
// YAML or JSON: a list of rules, or an object {"rules": [...]}. Keys as in PolicyRule in
// camelCase (users/user, groups/group, verbs, apiGroups, resources, namespaces, resourceNames,
// nonResourceURLs); scalar values are accepted where lists are expected.
kube::Result<Policy> ParsePolicy(std::string_view text);

// authorizer.Attributes.
struct Attributes {
  UserInfo user;
  std::string verb;
  bool resource_request = false;
  std::string group;
  std::string version;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  std::string path;  // non-resource requests
};

struct Decision {
  bool allowed = false;
  std::string reason;
};

struct AuthnConfig {
  std::vector<StaticToken> tokens;
  std::string client_ca_pem;  // verifies client certificates ("" = none accepted)
  // Front-proxy (requestheader) authentication: a client certificate chaining to this CA (and,
  // when the list is not empty, with a CN in allowed_names) may assert the user in headers.
  std::string requestheader_ca_pem;
  std::vector<std::string> requestheader_allowed_names;
  bool anonymous = true;  // kube-apiserver's --anonymous-auth default
};

class Authenticator {
 public:
  explicit Authenticator(AuthnConfig config);

  // Bearer token, then client certificate (front proxy first, then the client CA), then
  // anonymous. A presented but invalid credential is 401 Unauthorized (kube's body); so is no
  // credential when anonymous auth is off. Authenticated users get group system:authenticated.
  kube::Result<UserInfo> Authenticate(const kube::http::Request& req) const;
  // TokenReview: the user of a valid token (with system:authenticated), nullopt otherwise.
  std::optional<UserInfo> AuthenticateToken(std::string_view token) const;

  void AddToken(StaticToken token);  // in-process tests; thread-safe
  void SetAnonymous(bool enabled);

 private:
  // Built once from the configured CAs (they never change): a chain is verified once, then
  // answered from the verifier's cache, so fakekube is not the bottleneck of a benchmark.
  // Null when the CA is not configured or does not parse (every certificate is then refused).
  std::shared_ptr<const kube::tls::ClientCertificateVerifier> requestheader_verifier_;
  std::shared_ptr<const kube::tls::ClientCertificateVerifier> client_verifier_;
  mutable std::mutex mu_;
  AuthnConfig config_;
};

class Authorizer {
 public:
  // nullopt: allow everything (AlwaysAllow).
  explicit Authorizer(std::optional<Policy> policy);
  // system:masters is always allowed; /healthz, /livez, /readyz, /version (and below) for
  // everyone; discovery and OpenAPI GETs for authenticated users (kube's bootstrap roles
  // system:public-info-viewer and system:discovery); the namespace controller's bootstrap role
  // (system:controller:namespace-controller: get/list/watch/delete/deletecollection of
  // everything, update of namespaces/finalize and namespaces/status); then the policy's rules.
  Decision Authorize(const Attributes& a) const;
  void SetPolicy(std::optional<Policy> policy);  // thread-safe
  bool allow_all() const;

 private:
  mutable std::mutex mu_;
  std::optional<Policy> policy_;
};

// The message k8s.io/apiserver's responsewriters.forbiddenMessage builds:
// `User "u" cannot get resource "secrets" in API group "" in the namespace "ns"`.
std::string ForbiddenMessage(const Attributes& a);
// The whole 403 Status (apierrors.NewForbidden around ForbiddenMessage, ": reason" appended
// when the reason is not empty).
kube::Status ForbiddenStatus(const Attributes& a, std::string_view reason);

}  // namespace fakekube
