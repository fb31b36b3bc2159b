#include "discovery/apiservice.h"

#include <algorithm>
#include <cctype>

#include "discovery/snapshot.h"

namespace discovery {
namespace {

namespace json = kube::json;

// Parses v<major>[(alpha|beta)<minor>]: type 0 alpha, 1 beta, 2 GA; nullopt otherwise.
struct Parsed {
  int type;
  long major;
  long minor;
};
std::optional<Parsed> Parse(std::string_view v) {
  if (v.size() < 2 || v[0] != 'v') return std::nullopt;
  size_t i = 1;
  auto digits = [&](long& n) {
    size_t start = i;
    n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
      if (n < 1000000) n = n * 10 + (v[i] - '0');
      ++i;
    }
    return i > start;
  };
  Parsed p{2, 0, 0};
  if (!digits(p.major)) return std::nullopt;
  if (i == v.size()) return p;
  std::string_view rest = v.substr(i);
  if (rest.starts_with("alpha")) {
    p.type = 0;
    i += 5;
  } else if (rest.starts_with("beta")) {
    p.type = 1;
    i += 4;
  } else {
    return std::nullopt;
  }
  if (!digits(p.minor) || i != v.size()) return std::nullopt;
  return p;
}

std::string_view Label(const json::Value& obj, std::string_view key) {
  const json::Value* labels = json::FindPath(obj, "metadata.labels");
  if (!labels || !labels->IsObject()) return {};
  const json::Value* v = json::Find(*labels, key);
  return v && v->IsString() ? json::View(*v) : std::string_view();
}
bool HasLabel(const json::Value& obj, std::string_view key) {
  const json::Value* labels = json::FindPath(obj, "metadata.labels");
  return labels && json::Find(*labels, key) != nullptr;
}

bool SameJson(const json::Value* a, const json::Value* b) {
  if (!a || !b) return a == b;
  return *a == *b;  // RapidJSON deep equality (object member order ignored)
}

}  // namespace

std::string APIServiceName(std::string_view group, std::string_view version) {
  std::string out(version);
  out += '.';
  out += group;
  return out;
}

int VersionPriority(std::string_view version) {
  std::optional<Parsed> p = Parse(version);
  if (!p) return 1;
  long major = std::min(p->major, 999L);
  long minor = std::min(p->minor, 999L);
  return static_cast<int>(100 + 1000000L * p->type + 1000 * major + minor);
}

std::string Base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8) |
                 uint8_t(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t n = uint32_t(uint8_t(data[i])) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    uint32_t n = (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

json::Document DesiredAPIService(const APIServiceSpec& spec) {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  json::SetString(d, "apiVersion", "apiregistration.k8s.io/v1", a);
  json::SetString(d, "kind", "APIService", a);
  json::Value& md = json::EnsureObject(d, "metadata", a);
  json::SetString(md, "name", APIServiceName(spec.group, spec.version), a);
  json::Value& labels = json::EnsureObject(md, "labels", a);
  json::SetString(labels, kManagedByLabel, kManagedByValue, a);
  json::SetString(labels, kClusterLabel, spec.cluster_id, a);
  json::Value& s = json::EnsureObject(d, "spec", a);
  json::SetString(s, "group", spec.group, a);
  json::SetString(s, "version", spec.version, a);
  json::Value& svc = json::EnsureObject(s, "service", a);
  json::SetString(svc, "namespace", spec.service_namespace, a);
  json::SetString(svc, "name", spec.service_name, a);
  json::SetMember(svc, "port", json::Value(spec.service_port), a);
  if (!spec.ca_bundle_pem.empty()) {
    json::SetString(s, "caBundle", Base64Encode(spec.ca_bundle_pem), a);
  }
  json::SetMember(s, "groupPriorityMinimum", json::Value(kGroupPriorityMinimum), a);
  json::SetMember(s, "versionPriority", json::Value(VersionPriority(spec.version)), a);
  return d;
}

bool OwnedBy(const json::Value& apiservice, std::string_view cluster_id) {
  return Label(apiservice, kManagedByLabel) == kManagedByValue &&
         Label(apiservice, kClusterLabel) == cluster_id && !HasLabel(apiservice, kAutomanagedLabel);
}

std::string ForeignReason(const json::Value& apiservice, std::string_view cluster_id) {
  if (OwnedBy(apiservice, cluster_id)) return {};
  if (HasLabel(apiservice, kAutomanagedLabel)) {
    return "managed by kube-apiserver (label " + std::string(kAutomanagedLabel) + "=" +
           std::string(Label(apiservice, kAutomanagedLabel)) +
           "): the app cluster serves this group/version itself";
  }
  if (Label(apiservice, kManagedByLabel) == kManagedByValue) {
    return "owned by an mcp-connector for another app cluster ID (" +
           std::string(Label(apiservice, kClusterLabel)) + ")";
  }
  const json::Value* svc = json::FindPath(apiservice, "spec.service");
  std::string out = "not labelled as owned by this connector";
  if (svc && svc->IsObject()) {
    out += " (served by service " + std::string(json::GetString(*svc, "namespace")) + "/" +
           std::string(json::GetString(*svc, "name")) + ")";
  } else {
    out += " (served locally)";
  }
  return out;
}

std::optional<json::Document> UpdateFor(const json::Value& current, const json::Value& desired) {
  bool differ = false;
  // Our labels.
  const json::Value* want_labels = json::FindPath(desired, "metadata.labels");
  if (want_labels && want_labels->IsObject()) {
    for (const auto& m : want_labels->GetObject()) {
      if (Label(current, json::View(m.name)) != json::View(m.value) ||
          !HasLabel(current, json::View(m.name))) {
        differ = true;
      }
    }
  }
  const json::Value* want_spec = json::Find(desired, "spec");
  const json::Value* have_spec = json::Find(current, "spec");
  static constexpr std::string_view kFields[] = {
      "group", "version", "service", "caBundle", "groupPriorityMinimum", "versionPriority"};
  if (!have_spec || !have_spec->IsObject()) {
    differ = true;
  } else {
    for (std::string_view f : kFields) {
      if (!SameJson(json::Find(*want_spec, f), json::Find(*have_spec, f))) differ = true;
    }
    const json::Value* insecure = json::Find(*have_spec, "insecureSkipTLSVerify");
    if (insecure && insecure->IsBool() && insecure->GetBool()) differ = true;
  }
  if (!differ) return std::nullopt;

  json::Document out;
  out.CopyFrom(current, out.GetAllocator());
  auto& a = out.GetAllocator();
  json::Value& md = json::EnsureObject(out, "metadata", a);
  json::Value& labels = json::EnsureObject(md, "labels", a);
  if (want_labels && want_labels->IsObject()) {
    for (const auto& m : want_labels->GetObject()) {
      json::SetString(labels, json::View(m.name), json::View(m.value), a);
    }
  }
  json::Value& spec = json::EnsureObject(out, "spec", a);
  for (std::string_view f : kFields) {
    const json::Value* w = json::Find(*want_spec, f);
    if (w) {
      json::Value copy;
      copy.CopyFrom(*w, a);
      json::SetMember(spec, f, std::move(copy), a);
    } else {
      json::RemoveMember(spec, f);
    }
  }
  json::RemoveMember(spec, "insecureSkipTLSVerify");
  return out;
}

}  // namespace discovery
