#include "discovery/served_apis.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace discovery {
namespace {

namespace json = kube::json;

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> StringList(const json::Value* v) {
  std::vector<std::string> out;
  if (!v || !v->IsArray()) return out;
  for (const auto& item : v->GetArray()) {
    if (item.IsString()) out.emplace_back(json::View(item));
  }
  return out;
}

std::string_view Name(const json::Value& obj) {
  const json::Value* md = json::Find(obj, "metadata");
  return md ? json::GetString(*md, "name") : std::string_view();
}

const json::Value* FindVersion(const json::Value& spec, std::string_view version) {
  const json::Value* versions = json::Find(spec, "versions");
  if (!versions || !versions->IsArray()) return nullptr;
  for (const auto& v : versions->GetArray()) {
    if (json::GetString(v, "name") == version) return &v;
  }
  return nullptr;
}

bool Served(const json::Value& version) {
  const json::Value* s = json::Find(version, "served");
  return s && s->IsBool() && s->GetBool();
}

// The versions an XRD serves, in the order it lists them.
std::vector<std::string> XRDServedVersions(const json::Value& spec) {
  std::vector<std::string> out;
  const json::Value* versions = json::Find(spec, "versions");
  if (!versions || !versions->IsArray()) return out;
  for (const auto& v : versions->GetArray()) {
    std::string_view name = json::GetString(v, "name");
    if (!name.empty() && Served(v)) out.emplace_back(name);
  }
  return out;
}

}  // namespace

bool CRDEstablished(const json::Value& crd) {
  const json::Value* conds = json::FindPath(crd, "status.conditions");
  if (!conds || !conds->IsArray()) return false;
  for (const auto& c : conds->GetArray()) {
    if (json::GetString(c, "type") == "Established") return json::GetString(c, "status") == "True";
  }
  return false;
}

std::string XRDScope(const json::Value& xrd) {
  const json::Value* spec = json::Find(xrd, "spec");
  if (spec) {
    std::string_view scope = json::GetString(*spec, "scope");
    if (!scope.empty()) return std::string(scope);
    if (json::Find(*spec, "claimNames")) return "LegacyCluster";
  }
  if (json::GetString(xrd, "apiVersion") == "apiextensions.crossplane.io/v2") return "Namespaced";
  return "LegacyCluster";
}

std::optional<kube::APIResource> APIResourceFromCRD(const json::Value& crd,
                                                    std::string_view version) {
  const json::Value* spec = json::Find(crd, "spec");
  if (!spec) return std::nullopt;
  const json::Value* ver = FindVersion(*spec, version);
  if (!ver) return std::nullopt;
  const json::Value* names = json::Find(*spec, "names");
  if (!names) return std::nullopt;
  kube::APIResource r;
  r.group = std::string(json::GetString(*spec, "group"));
  r.version = std::string(version);
  r.resource = std::string(json::GetString(*names, "plural"));
  r.kind = std::string(json::GetString(*names, "kind"));
  if (r.resource.empty() || r.kind.empty() || r.group.empty()) return std::nullopt;
  r.singular = std::string(json::GetString(*names, "singular"));
  if (r.singular.empty()) r.singular = ToLower(r.kind);
  r.list_kind = std::string(json::GetString(*names, "listKind"));
  if (r.list_kind.empty()) r.list_kind = r.kind + "List";
  r.namespaced = json::GetString(*spec, "scope") != "Cluster";
  r.verbs = kube::DefaultResourceVerbs();
  r.short_names = StringList(json::Find(*names, "shortNames"));
  r.categories = StringList(json::Find(*names, "categories"));
  if (const json::Value* sub = json::Find(*ver, "subresources"); sub && sub->IsObject()) {
    r.has_status = json::Find(*sub, "status") != nullptr;
    r.has_scale = json::Find(*sub, "scale") != nullptr;
  }
  if (const json::Value* cols = json::Find(*ver, "additionalPrinterColumns");
      cols && cols->IsArray()) {
    for (const auto& c : cols->GetArray()) {
      kube::PrinterColumn pc;
      pc.name = std::string(json::GetString(c, "name"));
      pc.type = std::string(json::GetString(c, "type"));
      pc.format = std::string(json::GetString(c, "format"));
      pc.description = std::string(json::GetString(c, "description"));
      pc.json_path = std::string(json::GetString(c, "jsonPath"));
      pc.priority = static_cast<int>(json::GetInt(c, "priority").value_or(0));
      if (!pc.name.empty() && !pc.json_path.empty()) r.printer_columns.push_back(std::move(pc));
    }
  }
  if (const json::Value* schema = json::FindPath(*ver, "schema.openAPIV3Schema");
      schema && schema->IsObject()) {
    auto doc = std::make_shared<json::Document>();
    doc->CopyFrom(*schema, doc->GetAllocator());
    r.schema = std::move(doc);
  }
  return r;
}

ServedAPIs ComputeServedAPIs(const std::vector<const json::Value*>& xrds,
                             const std::vector<const json::Value*>& crds,
                             const ServedAPIsOptions& options) {
  ServedAPIs out;
  std::map<std::string, const json::Value*, std::less<>> crd_by_name;
  for (const json::Value* crd : crds) {
    if (crd) crd_by_name.emplace(std::string(Name(*crd)), crd);
  }
  // Deterministic: XRDs by name; on a clash for one group/version/resource the first XRD wins.
  std::vector<const json::Value*> sorted;
  for (const json::Value* x : xrds) {
    if (x && x->IsObject()) sorted.push_back(x);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const json::Value* a, const json::Value* b) { return Name(*a) < Name(*b); });
  std::set<std::string> taken;

  for (const json::Value* xrd : sorted) {
    const std::string xrd_name(Name(*xrd));
    const json::Value* spec = json::Find(*xrd, "spec");
    if (!spec) continue;
    const std::string group(json::GetString(*spec, "group"));
    if (group.empty()) continue;
    const std::string scope = XRDScope(*xrd);
    NamingKind naming;
    std::string plural;
    if (const json::Value* claim_names = json::Find(*spec, "claimNames");
        claim_names && claim_names->IsObject() && scope == "LegacyCluster") {
      naming = NamingKind::kClaim;
      plural = std::string(json::GetString(*claim_names, "plural"));
    } else if (scope == "Namespaced") {
      naming = NamingKind::kNamespacedXR;
      const json::Value* names = json::Find(*spec, "names");
      plural = names ? std::string(json::GetString(*names, "plural")) : std::string();
    } else {
      continue;  // a cluster-scoped XR without claims: not served
    }
    if (plural.empty()) {
      out.notes.push_back("xrd " + xrd_name + ": no plural name");
      continue;
    }
    const std::string crd_name = plural + "." + group;
    auto it = crd_by_name.find(crd_name);
    if (it == crd_by_name.end()) {
      out.notes.push_back("xrd " + xrd_name + ": CRD " + crd_name + " not found");
      continue;
    }
    const json::Value& crd = *it->second;
    if (!options.assume_established && !CRDEstablished(crd)) {
      out.notes.push_back("xrd " + xrd_name + ": CRD " + crd_name + " not established");
      continue;
    }
    const json::Value* crd_spec = json::Find(crd, "spec");
    if (!crd_spec || json::GetString(*crd_spec, "group") != group) {
      out.notes.push_back("xrd " + xrd_name + ": CRD " + crd_name + " has another group");
      continue;
    }
    if (json::GetString(*crd_spec, "scope") != "Namespaced") {
      out.notes.push_back("xrd " + xrd_name + ": CRD " + crd_name + " is not namespaced");
      continue;
    }
    for (const std::string& version : XRDServedVersions(*spec)) {
      const json::Value* crd_version = FindVersion(*crd_spec, version);
      if (!crd_version || !Served(*crd_version)) {
        out.notes.push_back("xrd " + xrd_name + ": CRD " + crd_name + " does not serve " + version);
        continue;
      }
      std::optional<kube::APIResource> api = APIResourceFromCRD(crd, version);
      if (!api) continue;
      std::string key = api->group + "/" + api->version + "/" + api->resource;
      if (!taken.insert(key).second) {
        out.notes.push_back("xrd " + xrd_name + ": " + key + " already served by another XRD");
        continue;
      }
      ServedResource r;
      r.api = std::move(*api);
      r.naming = naming;
      r.xrd_name = xrd_name;
      r.crd_name = crd_name;
      out.resources.push_back(std::move(r));
    }
  }
  std::sort(out.resources.begin(), out.resources.end(),
            [](const ServedResource& a, const ServedResource& b) {
              return std::tie(a.api.group, a.api.version, a.api.resource) <
                     std::tie(b.api.group, b.api.version, b.api.resource);
            });
  return out;
}

}  // namespace discovery
