#include "discovery/snapshot.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "discovery/served_apis.h"
#include "kube/yaml.h"

namespace discovery {
namespace {

namespace json = kube::json;

// FNV-1a, 64 bit: a content hash for the ETag (no cryptographic need).
class Hasher {
 public:
  void Add(std::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ULL;
    }
    // Separator so that ("ab","c") and ("a","bc") differ.
    h_ ^= 0xff;
    h_ *= 1099511628211ULL;
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ULL;
};

void HashResource(Hasher& h, const ServedResource& r) {
  const kube::APIResource& a = r.api;
  h.Add(a.group);
  h.Add(a.version);
  h.Add(a.resource);
  h.Add(a.singular);
  h.Add(a.kind);
  h.Add(a.list_kind);
  h.Add(a.namespaced ? "ns" : "cluster");
  h.Add(NamingKindName(r.naming));
  for (const auto& v : a.verbs) h.Add(v);
  h.Add("|");
  for (const auto& v : a.short_names) h.Add(v);
  h.Add("|");
  for (const auto& v : a.categories) h.Add(v);
  h.Add("|");
  h.Add(a.has_status ? "status" : "");
  h.Add(a.has_scale ? "scale" : "");
  for (const auto& c : a.printer_columns) {
    h.Add(c.name);
    h.Add(c.type);
    h.Add(c.format);
    h.Add(c.description);
    h.Add(c.json_path);
    h.Add(std::to_string(c.priority));
  }
  h.Add("|");
  if (a.schema) h.Add(json::Serialize(*a.schema));
}

std::string JoinForeign(const std::vector<ForeignAPIService>& f) {
  std::string out;
  for (const auto& a : f) {
    if (!out.empty()) out += "; ";
    out += a.name + ": " + a.reason;
  }
  return out;
}

}  // namespace

std::string_view NamePrefix(NamingKind kind) {
  return kind == NamingKind::kClaim ? "claim-" : "nxr-";
}

std::string_view NamingKindName(NamingKind kind) {
  return kind == NamingKind::kClaim ? "claim" : "nxr";
}

std::vector<ReadinessCheck> Readiness::Checks() const {
  std::vector<ReadinessCheck> out;
  out.push_back({"discovery-loaded", loaded,
                 loaded ? "" : "the control plane's XRDs and CRDs have not been listed yet"});
  out.push_back(
      {"control-plane", control_plane_reachable,
       control_plane_reachable ? "" : "control plane unreachable: " + control_plane_error});
  out.push_back({"claim-namespace", claim_namespace_ok, claim_namespace_reason});
  out.push_back({"apiservice-conflicts", true,
                 foreign_apiservices.empty() ? ""
                                             : "refused to touch APIServices we do not own: " +
                                                   JoinForeign(foreign_apiservices)});
  return out;
}

// ---- version order ----

namespace {

struct KubeVersion {
  bool ok = false;
  int type = 0;  // 0 alpha, 1 beta, 2 GA
  long major = 0;
  long minor = 0;
};

KubeVersion ParseKubeVersion(std::string_view v) {
  KubeVersion out;
  if (v.size() < 2 || v[0] != 'v') return out;
  size_t i = 1;
  auto digits = [&](long& n) {
    size_t start = i;
    n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
      if (n < 100000000) n = n * 10 + (v[i] - '0');
      ++i;
    }
    return i > start;
  };
  if (!digits(out.major)) return out;
  if (i == v.size()) {
    out.type = 2;
    out.ok = true;
    return out;
  }
  std::string_view rest = v.substr(i);
  if (rest.starts_with("alpha")) {
    out.type = 0;
    i += 5;
  } else if (rest.starts_with("beta")) {
    out.type = 1;
    i += 4;
  } else {
    return out;
  }
  if (!digits(out.minor) || i != v.size()) return out;
  out.ok = true;
  return out;
}

}  // namespace

int CompareKubeVersionPriority(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  KubeVersion va = ParseKubeVersion(a), vb = ParseKubeVersion(b);
  if (!va.ok && !vb.ok) return a < b ? -1 : 1;  // lexicographic, smaller first
  if (!va.ok) return 1;
  if (!vb.ok) return -1;
  if (va.type != vb.type) return va.type > vb.type ? -1 : 1;
  if (va.major != vb.major) return va.major > vb.major ? -1 : 1;
  if (va.minor != vb.minor) return va.minor > vb.minor ? -1 : 1;
  return 0;
}

// ---- DiscoverySnapshot ----

std::shared_ptr<const DiscoverySnapshot> DiscoverySnapshot::Make(
    std::vector<ServedResource> resources, Readiness readiness, uint64_t generation) {
  std::shared_ptr<DiscoverySnapshot> s(new DiscoverySnapshot());
  s->generation_ = generation;
  std::sort(readiness.foreign_apiservices.begin(), readiness.foreign_apiservices.end(),
            [](const ForeignAPIService& a, const ForeignAPIService& b) { return a.name < b.name; });
  s->readiness_ = std::move(readiness);

  // group -> version -> resource
  std::map<std::string, std::map<std::string, std::map<std::string, ServedResource>>> tree;
  for (auto& r : resources) {
    auto& slot = tree[r.api.group][r.api.version];
    std::string key = r.api.resource;
    slot.emplace(std::move(key), std::move(r));  // first wins
  }
  Hasher h;
  for (auto& [group, versions] : tree) {
    ServedGroup g;
    g.name = group;
    for (auto& [version, res] : versions) {
      ServedGroupVersion gv;
      gv.group = group;
      gv.version = version;
      for (auto& [name, r] : res) gv.resources.push_back(std::move(r));
      s->count_ += gv.resources.size();
      g.versions.push_back(std::move(gv));
    }
    std::sort(g.versions.begin(), g.versions.end(),
              [](const ServedGroupVersion& a, const ServedGroupVersion& b) {
                return CompareKubeVersionPriority(a.version, b.version) < 0;
              });
    for (const auto& gv : g.versions) {
      for (const auto& r : gv.resources) HashResource(h, r);
    }
    s->groups_.push_back(std::move(g));
  }
  char buf[24];
  std::snprintf(buf, sizeof(buf), "\"%016llx\"", static_cast<unsigned long long>(h.value()));
  s->etag_ = buf;
  return s;
}

std::shared_ptr<const DiscoverySnapshot> DiscoverySnapshot::Empty() {
  return Make({}, Readiness{}, 0);
}

std::shared_ptr<const DiscoverySnapshot> DiscoverySnapshot::WithReadiness(
    Readiness readiness, uint64_t generation) const {
  std::shared_ptr<DiscoverySnapshot> s(new DiscoverySnapshot(*this));
  std::sort(readiness.foreign_apiservices.begin(), readiness.foreign_apiservices.end(),
            [](const ForeignAPIService& a, const ForeignAPIService& b) { return a.name < b.name; });
  s->readiness_ = std::move(readiness);
  s->generation_ = generation;
  return s;
}

const ServedGroup* DiscoverySnapshot::FindGroup(std::string_view group) const {
  auto it = std::lower_bound(groups_.begin(), groups_.end(), group,
                             [](const ServedGroup& g, std::string_view n) { return g.name < n; });
  if (it == groups_.end() || it->name != group) return nullptr;
  return &*it;
}

const ServedGroupVersion* DiscoverySnapshot::FindGroupVersion(std::string_view group,
                                                              std::string_view version) const {
  const ServedGroup* g = FindGroup(group);
  if (!g) return nullptr;
  for (const auto& gv : g->versions) {
    if (gv.version == version) return &gv;
  }
  return nullptr;
}

const ServedResource* DiscoverySnapshot::Lookup(std::string_view group, std::string_view version,
                                                std::string_view resource) const {
  const ServedGroupVersion* gv = FindGroupVersion(group, version);
  if (!gv) return nullptr;
  auto it = std::lower_bound(
      gv->resources.begin(), gv->resources.end(), resource,
      [](const ServedResource& r, std::string_view n) { return r.api.resource < n; });
  if (it == gv->resources.end() || it->api.resource != resource) return nullptr;
  return &*it;
}

const ServedResource* DiscoverySnapshot::LookupKind(std::string_view group,
                                                    std::string_view version,
                                                    std::string_view kind) const {
  const ServedGroupVersion* gv = FindGroupVersion(group, version);
  if (!gv) return nullptr;
  for (const auto& r : gv->resources) {
    if (r.api.kind == kind) return &r;
  }
  return nullptr;
}

std::vector<const ServedResource*> DiscoverySnapshot::AllResources() const {
  std::vector<const ServedResource*> out;
  out.reserve(count_);
  for (const auto& g : groups_) {
    for (const auto& gv : g.versions) {
      for (const auto& r : gv.resources) out.push_back(&r);
    }
  }
  return out;
}

// ---- SnapshotPublisher ----

SnapshotPublisher::SnapshotPublisher() : current_(DiscoverySnapshot::Empty()) {}

std::shared_ptr<const DiscoverySnapshot> SnapshotPublisher::Load() const noexcept {
  return current_.load(std::memory_order_acquire);
}

void SnapshotPublisher::Publish(std::shared_ptr<const DiscoverySnapshot> snapshot) noexcept {
  if (!snapshot) return;
  current_.store(std::move(snapshot), std::memory_order_release);
}

// ---- static files ----

namespace {

std::vector<std::string> Strings(const json::Value* v) {
  std::vector<std::string> out;
  if (!v || !v->IsArray()) return out;
  for (const auto& s : v->GetArray()) {
    if (s.IsString()) out.emplace_back(json::View(s));
  }
  return out;
}

kube::Result<ServedResource> EntryToResource(const json::Value& e, size_t index) {
  auto bad = [&](const std::string& what) {
    return kube::NewBadRequest("api file entry " + std::to_string(index) + ": " + what);
  };
  if (!e.IsObject()) return bad("not an object");
  ServedResource r;
  kube::APIResource& a = r.api;
  a.group = std::string(json::GetString(e, "group"));
  a.version = std::string(json::GetString(e, "version"));
  a.resource = std::string(json::GetString(e, "resource"));
  a.kind = std::string(json::GetString(e, "kind"));
  if (a.group.empty()) return bad("group is required");
  if (a.version.empty()) return bad("version is required");
  if (a.resource.empty()) return bad("resource is required");
  if (a.kind.empty()) return bad("kind is required");
  a.singular = std::string(json::GetString(e, "singular"));
  if (a.singular.empty()) {
    a.singular = a.kind;
    for (char& c : a.singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  a.list_kind = std::string(json::GetString(e, "listKind"));
  if (a.list_kind.empty()) a.list_kind = a.kind + "List";
  if (const json::Value* ns = json::Find(e, "namespaced")) {
    if (!ns->IsBool()) return bad("namespaced must be a boolean");
    a.namespaced = ns->GetBool();
  }
  std::string_view naming = json::GetString(e, "naming", "claim");
  if (naming == "claim") {
    r.naming = NamingKind::kClaim;
  } else if (naming == "nxr") {
    r.naming = NamingKind::kNamespacedXR;
  } else {
    return bad("naming must be claim or nxr");
  }
  a.verbs = json::Find(e, "verbs") ? Strings(json::Find(e, "verbs")) : kube::DefaultResourceVerbs();
  a.short_names = Strings(json::Find(e, "shortNames"));
  a.categories = Strings(json::Find(e, "categories"));
  for (const auto& s : Strings(json::Find(e, "subresources"))) {
    if (s == "status") a.has_status = true;
    if (s == "scale") a.has_scale = true;
  }
  if (const json::Value* cols = json::Find(e, "printerColumns"); cols && cols->IsArray()) {
    for (const auto& c : cols->GetArray()) {
      kube::PrinterColumn pc;
      pc.name = std::string(json::GetString(c, "name"));
      pc.type = std::string(json::GetString(c, "type", "string"));
      pc.format = std::string(json::GetString(c, "format"));
      pc.description = std::string(json::GetString(c, "description"));
      pc.json_path = std::string(json::GetString(c, "jsonPath"));
      pc.priority = static_cast<int>(json::GetInt(c, "priority").value_or(0));
      if (pc.name.empty() || pc.json_path.empty())
        return bad("printer column without name/jsonPath");
      a.printer_columns.push_back(std::move(pc));
    }
  }
  if (const json::Value* schema = json::Find(e, "schema"); schema && schema->IsObject()) {
    const json::Value* inner = json::Find(*schema, "openAPIV3Schema");
    auto doc = std::make_shared<json::Document>();
    doc->CopyFrom(inner && inner->IsObject() ? *inner : *schema, doc->GetAllocator());
    a.schema = std::move(doc);
  }
  r.xrd_name = std::string(json::GetString(e, "xrd"));
  return r;
}

Readiness StaticReadiness() {
  Readiness r;
  r.loaded = true;
  r.control_plane_reachable = true;
  r.claim_namespace_ok = true;
  r.claim_namespace_reason = "static API file";
  return r;
}

}  // namespace

kube::Result<std::shared_ptr<const DiscoverySnapshot>> SnapshotFromText(std::string_view text) {
  auto docs = kube::yaml::ToJsonDocuments(text);
  if (!docs.ok()) return std::move(docs).error();
  std::vector<const json::Value*> entries, xrds, crds;
  for (const auto& d : *docs) {
    if (d.IsArray()) {
      for (const auto& e : d.GetArray()) entries.push_back(&e);
      continue;
    }
    if (!d.IsObject())
      return kube::NewBadRequest("api file: a document is neither list nor object");
    std::string_view kind = json::GetString(d, "kind");
    if (kind == "CompositeResourceDefinition") {
      xrds.push_back(&d);
    } else if (kind == "CustomResourceDefinition") {
      crds.push_back(&d);
    } else if (const json::Value* res = json::Find(d, "resources"); res && res->IsArray()) {
      for (const auto& e : res->GetArray()) entries.push_back(&e);
    } else if (kind == "List" && json::Find(d, "items") && json::Find(d, "items")->IsArray()) {
      for (const auto& e : json::Find(d, "items")->GetArray()) {
        std::string_view k = json::GetString(e, "kind");
        if (k == "CompositeResourceDefinition") xrds.push_back(&e);
        if (k == "CustomResourceDefinition") crds.push_back(&e);
      }
    } else {
      entries.push_back(&d);
    }
  }
  std::vector<ServedResource> resources;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto r = EntryToResource(*entries[i], i);
    if (!r.ok()) return std::move(r).error();
    resources.push_back(std::move(*r));
  }
  if (!xrds.empty()) {
    ServedAPIs computed = ComputeServedAPIs(xrds, crds, {.assume_established = true});
    for (auto& r : computed.resources) resources.push_back(std::move(r));
  }
  return DiscoverySnapshot::Make(std::move(resources), StaticReadiness(), 1);
}

kube::Result<std::shared_ptr<const DiscoverySnapshot>> SnapshotFromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return kube::NewBadRequest("cannot read api file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return SnapshotFromText(ss.str());
}

}  // namespace discovery
