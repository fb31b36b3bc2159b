#include "kube/kubeconfig.h"

#include <sodium.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <istream>
#include <streambuf>

#include "kube/tls.h"

namespace kube {
namespace {

Status ConfigError(std::string_view msg) {
  Status st = NewBadRequest("kubeconfig: " + std::string(msg));
  st.details_token = "kubeconfig_invalid";
  return st;
}

// Where copies of secrets (user tokens, client keys) go while a kubeconfig is read, and what is
// done about each:
// - the file: read straight into a SecretString (guarded memory); parsed from there through a
//   read-only streambuf, so no std::string copy of the document is made;
// - the token / key-data scalars: read by reference from the parsed nodes (no std::string copy)
//   into SecretStrings; base64 key material is decoded into a buffer that is wiped;
// - the parsed node tree: every scalar under `users` (tokens, key data, passwords, exec env, ...)
//   is wiped in place before the tree is freed.
// Residue (not reachable through yaml-cpp's API): its scanner copies each scalar into token
// strings that are freed (unwiped) during parsing, and its input stream prefetches up to 2 KiB
// of the document into an internal buffer freed with the parser. Both live only for the
// duration of one LoadKubeconfig call, at start (and never on a request path). Prefer tokenFile /
// client-key files (read by SecretString::FromFile, no parser involved) where that matters.

// A read-only std::streambuf over memory we own (no copy).
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view v) {
    char* p = const_cast<char*>(v.data());  // never written: only the get area is set
    setg(p, p, p + v.size());
  }
};

// Wipes every scalar reachable from `n` (depth- and count-bounded: aliases may form cycles).
void WipeScalars(const YAML::Node& n, int depth, int& budget) {
  if (!n || depth > 64 || --budget < 0) return;
  if (n.IsScalar()) {
    const std::string& v = n.Scalar();
    // The node owns this string (node_data::m_scalar is not const); wiping it in place is the
    // only way to reach yaml-cpp's copy.
    if (!v.empty()) sodium_memzero(const_cast<char*>(v.data()), v.size());
    return;
  }
  if (n.IsSequence()) {
    for (const auto& item : n) WipeScalars(item, depth + 1, budget);
  } else if (n.IsMap()) {
    for (const auto& kv : n) {
      WipeScalars(kv.first, depth + 1, budget);
      WipeScalars(kv.second, depth + 1, budget);
    }
  }
}

// The scalar at n[key] by reference (no copy); nullptr when absent or not a scalar.
const std::string* ScalarRef(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  if (!v || !v.IsScalar()) return nullptr;
  return &v.Scalar();  // owned by the document's node memory, which outlives `v`
}

// Decodes standard base64 (whitespace ignored) into `out`; false on malformed input.
bool Base64Decode(std::string_view in, std::string& out) {
  out.assign(in.size() * 3 / 4 + 3, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), " \t\r\n", &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    sodium_memzero(out.data(), out.size());
    out.clear();
    return false;
  }
  out.resize(len);
  return true;
}

std::string Base64Encode(std::string_view in) {
  std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()),
                    in.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string Resolve(const std::string& path, std::string_view base_dir) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(std::string(base_dir)) / path).lexically_normal().string();
}

std::string Str(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  if (!v || !v.IsScalar()) return {};
  return v.as<std::string>();
}

bool Bool(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  if (!v || !v.IsScalar()) return false;
  return v.as<bool>(false);
}

// The `field` map of the entry called `name` in the list `list` (clusters, users, contexts).
Result<YAML::Node> Named(const YAML::Node& root, const char* list, const char* field,
                         const std::string& name) {
  const YAML::Node l = root[list];
  if (l && l.IsSequence()) {
    for (const auto& item : l) {
      if (!item.IsMap()) continue;
      if (Str(item, "name") == name) {
        YAML::Node f = item[field];
        if (!f || !f.IsMap()) return YAML::Node(YAML::NodeType::Map);
        return f;
      }
    }
  }
  return ConfigError(std::string(list) + " entry \"" + name + "\" not found");
}

Result<ClusterConfig> ParseRoot(const YAML::Node& root, std::string_view base_dir,
                                std::string_view context) {
  if (!root.IsMap()) return ConfigError("not a kubeconfig document");
  std::string ctx_name = context.empty() ? Str(root, "current-context") : std::string(context);
  if (ctx_name.empty()) return ConfigError("no current-context set and no context given");
  auto ctx = Named(root, "contexts", "context", ctx_name);
  if (!ctx.ok()) return std::move(ctx).error();
  std::string cluster_name = Str(*ctx, "cluster");
  std::string user_name = Str(*ctx, "user");
  auto cluster = Named(root, "clusters", "cluster", cluster_name);
  if (!cluster.ok()) return std::move(cluster).error();

  ClusterConfig cfg;
  cfg.server = Str(*cluster, "server");
  if (cfg.server.empty()) return ConfigError("cluster \"" + cluster_name + "\" has no server");
  cfg.insecure_skip_tls_verify = Bool(*cluster, "insecure-skip-tls-verify");
  cfg.tls_server_name = Str(*cluster, "tls-server-name");
  if (std::string data = Str(*cluster, "certificate-authority-data"); !data.empty()) {
    if (!Base64Decode(data, cfg.ca_pem)) {
      return ConfigError("certificate-authority-data is not valid base64");
    }
  } else if (std::string file = Str(*cluster, "certificate-authority"); !file.empty()) {
    auto pem = tls::ReadFile(Resolve(file, base_dir));
    if (!pem.ok()) return ConfigError("certificate-authority: " + pem.error().message);
    cfg.ca_pem = std::move(*pem);
  }

  if (!user_name.empty()) {
    auto user = Named(root, "users", "user", user_name);
    if (!user.ok()) return std::move(user).error();
    if (const std::string* token = ScalarRef(*user, "token"); token && !token->empty()) {
      cfg.bearer_token.Assign(*token);
    }
    if (std::string file = Str(*user, "tokenFile"); !file.empty()) {
      cfg.token_file = Resolve(file, base_dir);
    }
    if (std::string data = Str(*user, "client-certificate-data"); !data.empty()) {
      if (!Base64Decode(data, cfg.client_cert_pem)) {
        return ConfigError("client-certificate-data is not valid base64");
      }
    } else if (std::string file = Str(*user, "client-certificate"); !file.empty()) {
      auto pem = tls::ReadFile(Resolve(file, base_dir));
      if (!pem.ok()) return ConfigError("client-certificate: " + pem.error().message);
      cfg.client_cert_pem = std::move(*pem);
    }
    if (const std::string* data = ScalarRef(*user, "client-key-data"); data && !data->empty()) {
      std::string key;
      bool ok = Base64Decode(*data, key);
      if (!ok) return ConfigError("client-key-data is not valid base64");
      cfg.client_key_pem.Assign(key);
      sodium_memzero(key.data(), key.size());
    } else if (std::string file = Str(*user, "client-key"); !file.empty()) {
      auto key = SecretString::FromFile(Resolve(file, base_dir), false);
      if (!key.ok()) return ConfigError("client-key: " + key.error().message);
      cfg.client_key_pem = std::move(*key);
    }
    if ((*user)["exec"] || (*user)["auth-provider"]) {
      return ConfigError("user \"" + user_name + "\": exec and auth-provider are not supported");
    }
    if (cfg.client_cert_pem.empty() != cfg.client_key_pem.empty()) {
      return ConfigError("user \"" + user_name +
                         "\": client certificate and key must be given together");
    }
  }
  return cfg;
}

Result<ClusterConfig> Parse(std::string_view yaml, std::string_view base_dir,
                            std::string_view context) {
  ViewBuf buf(yaml);
  std::istream in(&buf);
  YAML::Node root = YAML::Load(in);
  struct WipeUsers {
    const YAML::Node& root;
    ~WipeUsers() {
      int budget = 100000;
      if (root.IsMap()) WipeScalars(root["users"], 0, budget);
    }
  } wipe{root};
  return ParseRoot(root, base_dir, context);
}

}  // namespace

std::string SpacesServerURL(std::string_view host, std::string_view group,
                            std::string_view control_plane) {
  std::string url;
  if (!host.starts_with("https://") && !host.starts_with("http://")) url = "https://";
  url += host;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/apis/spaces.upbound.io/v1beta1/namespaces/";
  url += group;
  url += "/controlplanes/";
  url += control_plane;
  url += "/k8s";
  return url;
}

Result<ClusterConfig> LoadKubeconfigFromString(std::string_view yaml, std::string_view base_dir,
                                               std::string_view context) {
  try {
    return Parse(yaml, base_dir, context);
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("cannot parse: ") + e.what());
  } catch (const std::exception& e) {
    return ConfigError(std::string("cannot load: ") + e.what());
  }
}

Result<ClusterConfig> LoadKubeconfig(const std::string& path, std::string_view context) {
  // Read into guarded memory (the file holds tokens and keys); parsed in place.
  auto text = SecretString::FromFile(path, false);
  if (!text.ok()) return ConfigError(text.error().message);
  std::string base = std::filesystem::absolute(std::filesystem::path(path)).parent_path();
  return text->With(
      [&](std::string_view yaml) { return LoadKubeconfigFromString(yaml, base, context); });
}

Result<ClusterConfig> InClusterConfig(std::string_view sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return ConfigError(
        "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT must be defined");
  }
  std::string h(host);
  ClusterConfig cfg;
  cfg.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  std::string dir(sa_dir);
  auto ca = tls::ReadFile(dir + "/ca.crt");
  if (!ca.ok()) return ConfigError("in-cluster CA: " + ca.error().message);
  cfg.ca_pem = std::move(*ca);
  cfg.token_file = dir + "/token";
  if (!std::filesystem::exists(cfg.token_file)) {
    return ConfigError("in-cluster token file " + cfg.token_file + " does not exist");
  }
  return cfg;
}

std::string RenderKubeconfig(const KubeconfigSpec& spec) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "v1";
  out << YAML::Key << "kind" << YAML::Value << "Config";
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << spec.name;
  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << spec.server;
  if (!spec.ca_pem.empty()) {
    out << YAML::Key << "certificate-authority-data" << YAML::Value << Base64Encode(spec.ca_pem);
  }
  if (spec.insecure_skip_tls_verify) {
    out << YAML::Key << "insecure-skip-tls-verify" << YAML::Value << true;
  }
  if (!spec.tls_server_name.empty()) {
    out << YAML::Key << "tls-server-name" << YAML::Value << spec.tls_server_name;
  }
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << spec.name;
  out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  if (!spec.token.empty()) out << YAML::Key << "token" << YAML::Value << spec.token;
  if (!spec.token_file.empty()) out << YAML::Key << "tokenFile" << YAML::Value << spec.token_file;
  if (!spec.client_cert_pem.empty()) {
    out << YAML::Key << "client-certificate-data" << YAML::Value
        << Base64Encode(spec.client_cert_pem);
  }
  if (!spec.client_key_pem.empty()) {
    out << YAML::Key << "client-key-data" << YAML::Value << Base64Encode(spec.client_key_pem);
  }
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << spec.name;
  out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << spec.name;
  out << YAML::Key << "user" << YAML::Value << spec.name;
  if (!spec.namespace_.empty()) {
    out << YAML::Key << "namespace" << YAML::Value << spec.namespace_;
  }
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "current-context" << YAML::Value << spec.name;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Outcome WriteKubeconfig(const std::string& path, const KubeconfigSpec& spec) {
  std::string text = RenderKubeconfig(spec);
  auto out = tls::WriteFile(path, text, 0600);
  sodium_memzero(text.data(), text.size());
  return out;
}

}  // namespace kube
