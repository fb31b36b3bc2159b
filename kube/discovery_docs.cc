#include "kube/discovery_docs.h"

#include <openssl/evp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

namespace kube::discovery {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void Str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void Key(Writer& w, std::string_view s) {
  w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void StrArray(Writer& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) Str(w, s);
  w.EndArray();
}

// Parsed "v<major>[(alpha|beta)<minor>]".
struct KubeVersion {
  int major = 0;
  int stability = 0;  // 2 GA, 1 beta, 0 alpha
  int minor = 0;
};

std::optional<KubeVersion> ParseKubeVersion(std::string_view v) {
  if (v.size() < 2 || v[0] != 'v' || !std::isdigit(static_cast<unsigned char>(v[1]))) {
    return std::nullopt;
  }
  size_t i = 1;
  KubeVersion kv;
  long major = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
    major = major * 10 + (v[i] - '0');
    if (major > 1000000) return std::nullopt;
    ++i;
  }
  if (v[1] == '0') return std::nullopt;  // no leading zeros
  kv.major = static_cast<int>(major);
  if (i == v.size()) {
    kv.stability = 2;
    return kv;
  }
  std::string_view rest = v.substr(i);
  if (rest.starts_with("alpha")) {
    kv.stability = 0;
    rest.remove_prefix(5);
  } else if (rest.starts_with("beta")) {
    kv.stability = 1;
    rest.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  if (rest.empty() || rest[0] == '0') return std::nullopt;
  long minor = 0;
  for (char c : rest) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    minor = minor * 10 + (c - '0');
    if (minor > 1000000) return std::nullopt;
  }
  kv.minor = static_cast<int>(minor);
  return kv;
}

std::vector<const APIResource*> InGroupVersion(const std::vector<APIResource>& resources,
                                               std::string_view group, std::string_view version) {
  std::vector<const APIResource*> out;
  for (const auto& r : resources) {
    if (r.group == group && r.version == version) out.push_back(&r);
  }
  return out;
}

const std::vector<std::string>& SubresourceVerbs() {
  static const std::vector<std::string> verbs = {"get", "patch", "update"};
  return verbs;
}

void WriteGroupVersionForDiscovery(Writer& w, std::string_view group, std::string_view version) {
  w.StartObject();
  Key(w, "groupVersion");
  Str(w, std::string(group) + "/" + std::string(version));
  Key(w, "version");
  Str(w, version);
  w.EndObject();
}

void WriteAPIGroup(Writer& w, const GroupVersions& g, bool with_type_meta) {
  w.StartObject();
  if (with_type_meta) {
    Key(w, "kind");
    Str(w, "APIGroup");
    Key(w, "apiVersion");
    Str(w, "v1");
  }
  Key(w, "name");
  Str(w, g.group);
  Key(w, "versions");
  w.StartArray();
  for (const auto& v : g.versions) WriteGroupVersionForDiscovery(w, g.group, v);
  w.EndArray();
  if (!g.versions.empty()) {
    Key(w, "preferredVersion");
    WriteGroupVersionForDiscovery(w, g.group, g.versions.front());
  }
  w.EndObject();
}

void WriteResponseKind(Writer& w, std::string_view group, std::string_view version,
                       std::string_view kind) {
  w.StartObject();
  Key(w, "group");
  Str(w, group);
  Key(w, "version");
  Str(w, version);
  Key(w, "kind");
  Str(w, kind);
  w.EndObject();
}

void WriteAggregatedResource(Writer& w, const APIResource& r) {
  w.StartObject();
  Key(w, "resource");
  Str(w, r.resource);
  Key(w, "responseKind");
  WriteResponseKind(w, r.group, r.version, r.kind);
  Key(w, "scope");
  Str(w, r.namespaced ? "Namespaced" : "Cluster");
  Key(w, "singularResource");
  Str(w, r.singular);
  Key(w, "verbs");
  StrArray(w, r.verbs);
  if (!r.short_names.empty()) {
    Key(w, "shortNames");
    StrArray(w, r.short_names);
  }
  if (!r.categories.empty()) {
    Key(w, "categories");
    StrArray(w, r.categories);
  }
  if (r.has_status || r.has_scale) {
    Key(w, "subresources");
    w.StartArray();
    if (r.has_scale) {
      w.StartObject();
      Key(w, "subresource");
      Str(w, "scale");
      Key(w, "responseKind");
      WriteResponseKind(w, "autoscaling", "v1", "Scale");
      Key(w, "verbs");
      StrArray(w, SubresourceVerbs());
      w.EndObject();
    }
    if (r.has_status) {
      w.StartObject();
      Key(w, "subresource");
      Str(w, "status");
      Key(w, "responseKind");
      WriteResponseKind(w, r.group, r.version, r.kind);
      Key(w, "verbs");
      StrArray(w, SubresourceVerbs());
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

std::string Take(rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

std::vector<std::string> ReadStrings(const json::Value& obj, std::string_view key) {
  std::vector<std::string> out;
  const json::Value* v = json::Find(obj, key);
  if (v == nullptr || !v->IsArray()) return out;
  for (const auto& e : v->GetArray()) {
    if (e.IsString()) out.emplace_back(json::View(e));
  }
  return out;
}

}  // namespace

Format NegotiateFormat(std::string_view accept) {
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view entry = Trim(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    if (entry.empty()) continue;
    size_t semi = entry.find(';');
    std::string media = Lower(Trim(entry.substr(0, semi)));
    std::map<std::string, std::string> params;
    while (semi != std::string_view::npos) {
      entry = entry.substr(semi + 1);
      semi = entry.find(';');
      std::string_view p = Trim(entry.substr(0, semi));
      size_t eq = p.find('=');
      if (eq == std::string_view::npos) continue;
      params[Lower(Trim(p.substr(0, eq)))] = std::string(Trim(p.substr(eq + 1)));
    }
    if (auto q = params.find("q"); q != params.end() && (q->second == "0" || q->second == "0.0")) {
      continue;
    }
    bool json_like = media == "application/json" || media == "*/*" || media == "application/*";
    if (!json_like) continue;  // protobuf, yaml, ...: not served, try the next entry
    auto as = params.find("as");
    if (as == params.end()) return Format::kLegacy;
    if (as->second == "APIGroupDiscoveryList" && params["g"] == "apidiscovery.k8s.io") {
      if (params["v"] == "v2") return Format::kAggregatedV2;
      if (params["v"] == "v2beta1") return Format::kAggregatedV2Beta1;
    }
    // Another "as=" (e.g. Table) or an unknown discovery version: not this entry.
  }
  return Format::kLegacy;
}

std::string_view ContentType(Format f) {
  switch (f) {
    case Format::kAggregatedV2:
      return kAggregatedV2ContentType;
    case Format::kAggregatedV2Beta1:
      return kAggregatedV2Beta1ContentType;
    case Format::kLegacy:
      break;
  }
  return "application/json";
}

bool KubeVersionHigher(std::string_view a, std::string_view b) {
  auto ka = ParseKubeVersion(a);
  auto kb = ParseKubeVersion(b);
  if (ka && kb) {
    // GA before beta before alpha; then the higher major; then the higher pre-release number.
    if (ka->stability != kb->stability) return ka->stability > kb->stability;
    if (ka->major != kb->major) return ka->major > kb->major;
    return ka->minor > kb->minor;
  }
  if (ka) return true;
  if (kb) return false;
  return a < b;
}

std::vector<GroupVersions> CollectGroups(const std::vector<APIResource>& resources) {
  std::vector<GroupVersions> groups;
  for (const auto& r : resources) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const GroupVersions& g) { return g.group == r.group; });
    if (it == groups.end()) {
      groups.push_back(GroupVersions{r.group, {}});
      it = groups.end() - 1;
    }
    if (std::find(it->versions.begin(), it->versions.end(), r.version) == it->versions.end()) {
      it->versions.push_back(r.version);
    }
  }
  for (auto& g : groups) {
    std::stable_sort(
        g.versions.begin(), g.versions.end(),
        [](const std::string& a, const std::string& b) { return KubeVersionHigher(a, b); });
  }
  return groups;
}

std::string RenderAPIVersions(std::string_view server_address) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "kind");
  Str(w, "APIVersions");
  Key(w, "versions");
  w.StartArray();
  Str(w, "v1");
  w.EndArray();
  Key(w, "serverAddressByClientCIDRs");
  w.StartArray();
  w.StartObject();
  Key(w, "clientCIDR");
  Str(w, "0.0.0.0/0");
  Key(w, "serverAddress");
  Str(w, server_address);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return Take(buf);
}

std::string RenderAPIResourceList(std::string_view group, std::string_view version,
                                  const std::vector<APIResource>& resources) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "kind");
  Str(w, "APIResourceList");
  Key(w, "apiVersion");
  Str(w, "v1");
  Key(w, "groupVersion");
  Str(w, group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version));
  Key(w, "resources");
  w.StartArray();
  for (const APIResource* r : InGroupVersion(resources, group, version)) {
    w.StartObject();
    Key(w, "name");
    Str(w, r->resource);
    Key(w, "singularName");
    Str(w, r->singular);
    Key(w, "namespaced");
    w.Bool(r->namespaced);
    Key(w, "kind");
    Str(w, r->kind);
    Key(w, "verbs");
    StrArray(w, r->verbs);
    if (!r->short_names.empty()) {
      Key(w, "shortNames");
      StrArray(w, r->short_names);
    }
    if (!r->categories.empty()) {
      Key(w, "categories");
      StrArray(w, r->categories);
    }
    w.EndObject();
    if (r->has_scale) {
      w.StartObject();
      Key(w, "name");
      Str(w, r->resource + "/scale");
      Key(w, "singularName");
      Str(w, "");
      Key(w, "namespaced");
      w.Bool(r->namespaced);
      Key(w, "group");
      Str(w, "autoscaling");
      Key(w, "version");
      Str(w, "v1");
      Key(w, "kind");
      Str(w, "Scale");
      Key(w, "verbs");
      StrArray(w, SubresourceVerbs());
      w.EndObject();
    }
    if (r->has_status) {
      w.StartObject();
      Key(w, "name");
      Str(w, r->resource + "/status");
      Key(w, "singularName");
      Str(w, "");
      Key(w, "namespaced");
      w.Bool(r->namespaced);
      Key(w, "kind");
      Str(w, r->kind);
      Key(w, "verbs");
      StrArray(w, SubresourceVerbs());
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return Take(buf);
}

std::string RenderAPIGroupList(const std::vector<APIResource>& resources) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "kind");
  Str(w, "APIGroupList");
  Key(w, "apiVersion");
  Str(w, "v1");
  Key(w, "groups");
  w.StartArray();
  for (const auto& g : CollectGroups(resources)) {
    if (g.group.empty()) continue;
    WriteAPIGroup(w, g, false);
  }
  w.EndArray();
  w.EndObject();
  return Take(buf);
}

std::string RenderAPIGroup(std::string_view group, const std::vector<APIResource>& resources) {
  if (group.empty()) return {};
  for (const auto& g : CollectGroups(resources)) {
    if (g.group != group) continue;
    rapidjson::StringBuffer buf;
    Writer w(buf);
    WriteAPIGroup(w, g, true);
    return Take(buf);
  }
  return {};
}

std::string RenderAggregated(const std::vector<APIResource>& resources, bool core, Format format) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "kind");
  Str(w, "APIGroupDiscoveryList");
  Key(w, "apiVersion");
  Str(w, format == Format::kAggregatedV2Beta1 ? "apidiscovery.k8s.io/v2beta1"
                                              : "apidiscovery.k8s.io/v2");
  Key(w, "metadata");
  w.StartObject();
  w.EndObject();
  Key(w, "items");
  w.StartArray();
  for (const auto& g : CollectGroups(resources)) {
    if (g.group.empty() != core) continue;
    w.StartObject();
    Key(w, "metadata");
    w.StartObject();
    if (!g.group.empty()) {
      Key(w, "name");
      Str(w, g.group);
    }
    Key(w, "creationTimestamp");
    w.Null();
    w.EndObject();
    Key(w, "versions");
    w.StartArray();
    for (const auto& v : g.versions) {
      w.StartObject();
      Key(w, "version");
      Str(w, v);
      Key(w, "resources");
      w.StartArray();
      for (const APIResource* r : InGroupVersion(resources, g.group, v)) {
        WriteAggregatedResource(w, *r);
      }
      w.EndArray();
      Key(w, "freshness");
      Str(w, "Current");
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Take(buf);
}

std::string Hash(std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(body.data(), body.size(), md, &len, EVP_sha512(), nullptr);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

Result<std::vector<APIResource>> ParseAPIResourceList(std::string_view body) {
  auto doc = json::Parse(body);
  if (!doc || !doc->IsObject()) return NewBadRequest("APIResourceList is not a JSON object");
  if (json::GetString(*doc, "kind") != "APIResourceList") {
    return NewBadRequest("not an APIResourceList");
  }
  std::string_view gv = json::GetString(*doc, "groupVersion");
  if (gv.empty()) return NewBadRequest("APIResourceList has no groupVersion");
  std::string group;
  std::string version;
  if (size_t slash = gv.find('/'); slash == std::string_view::npos) {
    version = std::string(gv);
  } else {
    group = std::string(gv.substr(0, slash));
    version = std::string(gv.substr(slash + 1));
  }
  std::vector<APIResource> out;
  const json::Value* list = json::Find(*doc, "resources");
  if (list == nullptr || !list->IsArray()) return out;
  std::vector<std::pair<std::string, std::string>> subresources;
  for (const auto& e : list->GetArray()) {
    if (!e.IsObject()) continue;
    std::string_view name = json::GetString(e, "name");
    if (name.empty()) continue;
    if (size_t slash = name.find('/'); slash != std::string_view::npos) {
      subresources.emplace_back(std::string(name.substr(0, slash)),
                                std::string(name.substr(slash + 1)));
      continue;
    }
    APIResource r;
    r.group = group;
    r.version = version;
    r.resource = std::string(name);
    r.singular = std::string(json::GetString(e, "singularName"));
    r.kind = std::string(json::GetString(e, "kind"));
    r.list_kind = r.kind + "List";
    const json::Value* ns = json::Find(e, "namespaced");
    r.namespaced = ns != nullptr && ns->IsBool() && ns->GetBool();
    r.verbs = ReadStrings(e, "verbs");
    r.short_names = ReadStrings(e, "shortNames");
    r.categories = ReadStrings(e, "categories");
    out.push_back(std::move(r));
  }
  for (const auto& [parent, sub] : subresources) {
    for (auto& r : out) {
      if (r.resource != parent) continue;
      if (sub == "status") r.has_status = true;
      if (sub == "scale") r.has_scale = true;
    }
  }
  return out;
}

}  // namespace kube::discovery
