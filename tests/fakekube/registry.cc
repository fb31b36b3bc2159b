#include "tests/fakekube/registry.h"

#include <glog/logging.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "tests/fakekube/store.h"

namespace fakekube {

namespace json = kube::json;

namespace {

constexpr std::string_view kCRDFinalizer = "customresourcecleanup.apiextensions.k8s.io";

const std::vector<std::string>& AllVerbs() {
  static const std::vector<std::string> v = {"create", "delete", "deletecollection", "get",
                                             "list",   "patch",  "update",           "watch"};
  return v;
}

kube::PrinterColumn Col(std::string name, std::string type, std::string path, int priority = 0,
                        std::string description = "", std::string format = "") {
  kube::PrinterColumn c;
  c.name = std::move(name);
  c.type = std::move(type);
  c.json_path = std::move(path);
  c.priority = priority;
  c.description = std::move(description);
  c.format = std::move(format);
  return c;
}

kube::PrinterColumn AgeColumn() {
  return Col("Age", "date", ".metadata.creationTimestamp", 0,
             "CreationTimestamp is a timestamp representing the server time when this object was "
             "created. It is not guaranteed to be set in happens-before order across separate "
             "operations. Clients may not set this value. It is represented in RFC3339 form and "
             "is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
             "https://git.k8s.io/community/contributors/devel/sig-architecture/"
             "api-conventions.md#metadata");
}

std::shared_ptr<ServedResource> Builtin(
    std::string group, std::string version, std::string resource, std::string singular,
    std::string kind, bool namespaced, std::vector<std::string> verbs,
    std::vector<std::string> short_names, std::vector<std::string> categories,
    std::vector<kube::PrinterColumn> columns, bool has_status = false, bool generation = false) {
  auto r = std::make_shared<ServedResource>();
  r->api.group = std::move(group);
  r->api.version = std::move(version);
  r->api.resource = std::move(resource);
  r->api.singular = std::move(singular);
  r->api.kind = kind;
  r->api.list_kind = kind + "List";
  r->api.namespaced = namespaced;
  r->api.verbs = std::move(verbs);
  r->api.short_names = std::move(short_names);
  r->api.categories = std::move(categories);
  r->api.printer_columns = std::move(columns);
  r->api.has_status = has_status;
  r->storage_version = r->api.version;
  r->versions = {r->api.version};
  r->builtin = true;
  r->has_generation = generation;
  return r;
}

std::vector<std::shared_ptr<ServedResource>> Builtins() {
  std::vector<std::shared_ptr<ServedResource>> out;
  std::vector<std::string> no_dc = {"create", "delete", "get", "list", "patch", "update", "watch"};
  // Printer columns after "Name" (pkg/printers/internalversion); '@' paths are computed columns.
  out.push_back(Builtin(
      "", "v1", "namespaces", "namespace", "Namespace", false, no_dc, {"ns"}, {},
      {Col("Status", "string", ".status.phase", 0, "The status of the namespace"), AgeColumn()},
      true));
  out.push_back(Builtin(
      "", "v1", "secrets", "secret", "Secret", true, AllVerbs(), {}, {},
      {Col("Type", "string", ".type", 0, "The type of the secret"),
       Col("Data", "string", "@count:.data", 0, "The number of data in the secret"), AgeColumn()}));
  out.push_back(Builtin(
      "", "v1", "configmaps", "configmap", "ConfigMap", true, AllVerbs(), {"cm"}, {},
      {Col("Data", "string", "@count:.data+.binaryData", 0, "The number of data in the configmap"),
       AgeColumn()}));
  out.push_back(Builtin(
      "", "v1", "services", "service", "Service", true, AllVerbs(), {"svc"}, {"all"},
      {Col("Type", "string", ".spec.type", 0, "The type of the service."),
       Col("Cluster-IP", "string", ".spec.clusterIP", 0, "The IP address of the service."),
       Col("External-IP", "string", "@service-external-ip", 0,
           "The external IP address of the service."),
       Col("Port(s)", "string", "@service-ports", 0, "The ports of the service."), AgeColumn(),
       Col("Selector", "string", "@map:.spec.selector", 1,
           "Route service traffic to pods with label keys and values matching this selector.")},
      true));
  out.push_back(Builtin(
      "", "v1", "endpoints", "endpoints", "Endpoints", true, AllVerbs(), {"ep"}, {},
      {Col("Endpoints", "string", "@endpoints", 0, "Endpoints of the endpoints."), AgeColumn()}));
  out.push_back(
      Builtin("", "v1", "events", "event", "Event", true, AllVerbs(), {"ev"}, {},
              {Col("Type", "string", ".type", 0, "The type of the event."),
               Col("Reason", "string", ".reason", 0, "The reason of the event."),
               Col("Object", "string", "@event-object", 0, "The object of the event."),
               Col("Message", "string", ".message", 0, "The message of the event."), AgeColumn()}));
  out.push_back(
      Builtin("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, AllVerbs(), {}, {},
              {Col("Holder", "string", ".spec.holderIdentity", 0, "The holder of the lease."),
               AgeColumn()}));
  out.push_back(Builtin(
      "apiregistration.k8s.io", "v1", "apiservices", "apiservice", "APIService", false, AllVerbs(),
      {}, {"api-extensions"},
      {Col("Service", "string", "@apiservice-service", 0,
           "The reference to the service that hosts the API endpoint."),
       Col("Available", "string", "@apiservice-available", 0, "Whether this service is available."),
       AgeColumn()},
      true));
  out.push_back(
      Builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
              "CustomResourceDefinition", false, AllVerbs(), {"crd", "crds"}, {"api-extensions"},
              {Col("Created At", "date", ".metadata.creationTimestamp", 0, "")}, true, true));
  auto virt = [&](std::string group, std::string resource, std::string singular, std::string kind) {
    auto r = Builtin(std::move(group), "v1", std::move(resource), std::move(singular),
                     std::move(kind), false, {"create"}, {}, {}, {});
    r->virtual_create_only = true;
    out.push_back(r);
  };
  virt("authentication.k8s.io", "tokenreviews", "tokenreview", "TokenReview");
  virt("authorization.k8s.io", "subjectaccessreviews", "subjectaccessreview",
       "SubjectAccessReview");
  virt("authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectaccessreview",
       "SelfSubjectAccessReview");
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> StringArray(const json::Value* v) {
  std::vector<std::string> out;
  if (!v || !v->IsArray()) return out;
  for (auto& x : v->GetArray()) {
    if (x.IsString()) out.emplace_back(json::View(x));
  }
  return out;
}

// Served resources of one CRD object.
std::vector<std::shared_ptr<ServedResource>> FromCRD(const json::Value& crd) {
  std::vector<std::shared_ptr<ServedResource>> out;
  const json::Value* spec = json::Find(crd, "spec");
  if (!spec) return out;
  const json::Value* names = json::Find(*spec, "names");
  if (!names) return out;
  std::string group(json::GetString(*spec, "group"));
  std::string plural(json::GetString(*names, "plural"));
  std::string kind(json::GetString(*names, "kind"));
  if (group.empty() || plural.empty() || kind.empty()) return out;
  std::string singular(json::GetString(*names, "singular"));
  if (singular.empty()) singular = Lower(kind);
  std::string list_kind(json::GetString(*names, "listKind"));
  if (list_kind.empty()) list_kind = kind + "List";
  bool namespaced = json::GetString(*spec, "scope") != "Cluster";
  const json::Value* versions = json::Find(*spec, "versions");
  if (!versions || !versions->IsArray()) return out;
  std::string storage;
  std::vector<std::string> served;
  for (auto& v : versions->GetArray()) {
    const json::Value* s = json::Find(v, "served");
    if (s && s->IsBool() && s->GetBool()) served.emplace_back(json::GetString(v, "name"));
    const json::Value* st = json::Find(v, "storage");
    if (st && st->IsBool() && st->GetBool()) storage = json::GetString(v, "name");
  }
  std::sort(served.begin(), served.end(),
            [](const std::string& a, const std::string& b) { return KubeVersionLess(a, b); });
  std::string crd_name(json::GetString(*json::Find(crd, "metadata"), "name"));
  for (auto& v : versions->GetArray()) {
    const json::Value* s = json::Find(v, "served");
    if (!s || !s->IsBool() || !s->GetBool()) continue;
    auto r = std::make_shared<ServedResource>();
    r->api.group = group;
    r->api.version = json::GetString(v, "name");
    r->api.resource = plural;
    r->api.singular = singular;
    r->api.kind = kind;
    r->api.list_kind = list_kind;
    r->api.namespaced = namespaced;
    r->api.verbs = kube::DefaultResourceVerbs();
    r->api.short_names = StringArray(json::Find(*names, "shortNames"));
    r->api.categories = StringArray(json::Find(*names, "categories"));
    if (const json::Value* sub = json::Find(v, "subresources")) {
      r->api.has_status = json::Find(*sub, "status") != nullptr;
      r->api.has_scale = json::Find(*sub, "scale") != nullptr;
    }
    const json::Value* cols = json::Find(v, "additionalPrinterColumns");
    if (cols && cols->IsArray() && !cols->Empty()) {
      for (auto& c : cols->GetArray()) {
        kube::PrinterColumn pc;
        pc.name = json::GetString(c, "name");
        pc.type = json::GetString(c, "type");
        pc.format = json::GetString(c, "format");
        pc.description = json::GetString(c, "description");
        pc.json_path = json::GetString(c, "jsonPath");
        pc.priority = int(json::GetInt(c, "priority").value_or(0));
        r->api.printer_columns.push_back(std::move(pc));
      }
    } else {
      r->api.printer_columns.push_back(AgeColumn());
    }
    if (const json::Value* schema = json::Find(v, "schema")) {
      if (const json::Value* s3 = json::Find(*schema, "openAPIV3Schema")) {
        auto doc = std::make_shared<json::Document>();
        doc->CopyFrom(*s3, doc->GetAllocator());
        r->api.schema = std::move(doc);
      }
    }
    r->storage_version = storage.empty() ? r->api.version : storage;
    r->versions = served;
    r->builtin = false;
    r->has_generation = true;
    r->crd_name = crd_name;
    out.push_back(std::move(r));
  }
  return out;
}

std::string Key(std::string_view g, std::string_view v, std::string_view r) {
  std::string k(g);
  k += '/';
  k += v;
  k += '/';
  k += r;
  return k;
}

// Sets `type` condition to True with reason/message, keeping lastTransitionTime when unchanged.
void SetCondition(json::Value& conditions, std::string_view type, std::string_view reason,
                  std::string_view message, const std::string& now, json::Allocator& a) {
  for (auto& c : conditions.GetArray()) {
    if (json::GetString(c, "type") != type) continue;
    if (json::GetString(c, "status") != "True") json::SetString(c, "lastTransitionTime", now, a);
    json::SetString(c, "status", "True", a);
    json::SetString(c, "reason", reason, a);
    json::SetString(c, "message", message, a);
    return;
  }
  json::Value c(rapidjson::kObjectType);
  c.AddMember("type", json::Str(type, a), a);
  c.AddMember("status", "True", a);
  c.AddMember("lastTransitionTime", json::Str(now, a), a);
  c.AddMember("reason", json::Str(reason, a), a);
  c.AddMember("message", json::Str(message, a), a);
  conditions.PushBack(std::move(c), a);
}

}  // namespace

void SeedBuiltinObjects(Store& store) {
  for (std::string_view name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("apiVersion", "v1", a);
    d.AddMember("kind", "Namespace", a);
    json::Value meta(rapidjson::kObjectType);
    meta.AddMember("name", json::Str(name, a), a);
    json::Value labels(rapidjson::kObjectType);
    labels.AddMember("kubernetes.io/metadata.name", json::Str(name, a), a);
    meta.AddMember("labels", std::move(labels), a);
    d.AddMember("metadata", std::move(meta), a);
    json::Value spec(rapidjson::kObjectType);
    json::Value fins(rapidjson::kArrayType);
    fins.PushBack("kubernetes", a);
    spec.AddMember("finalizers", std::move(fins), a);
    d.AddMember("spec", std::move(spec), a);
    json::Value status(rapidjson::kObjectType);
    status.AddMember("phase", "Active", a);
    d.AddMember("status", std::move(status), a);
    (void)store.Create({"", "namespaces"}, "", std::move(d));
  }
}

bool KubeVersionLess(std::string_view a, std::string_view b) {
  // version.CompareKubeAwareVersionStrings: GA > beta > alpha, higher numbers first.
  struct Parsed {
    bool kube = false;
    int major = 0;
    int type = 0;  // 2 GA, 1 beta, 0 alpha
    int minor = 0;
  };
  auto parse = [](std::string_view s) {
    Parsed p;
    if (s.size() < 2 || s[0] != 'v' || !std::isdigit(static_cast<unsigned char>(s[1]))) return p;
    size_t i = 1;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      p.major = p.major * 10 + (s[i] - '0');
      ++i;
    }
    if (i == s.size()) {
      p.kube = true;
      p.type = 2;
      return p;
    }
    std::string_view rest = s.substr(i);
    if (rest.rfind("alpha", 0) == 0) {
      p.type = 0;
      rest.remove_prefix(5);
    } else if (rest.rfind("beta", 0) == 0) {
      p.type = 1;
      rest.remove_prefix(4);
    } else {
      return p;
    }
    if (rest.empty()) return p;
    for (char c : rest) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return p;
      p.minor = p.minor * 10 + (c - '0');
    }
    p.kube = true;
    return p;
  };
  Parsed pa = parse(a), pb = parse(b);
  if (pa.kube != pb.kube) return pa.kube;
  if (!pa.kube) return a < b;
  if (pa.type != pb.type) return pa.type > pb.type;
  if (pa.major != pb.major) return pa.major > pb.major;
  return pa.minor > pb.minor;
}

struct Registry::Impl {
  Store* store = nullptr;
  int hook_id = 0;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<const ServedResource>> by_key;   // g/v/resource
  std::map<std::string, std::shared_ptr<const ServedResource>> by_kind;  // g/v/Kind
  std::map<std::string, std::vector<std::string>> crd_keys;              // CRD name -> by_key keys
  std::map<std::string, std::string> crd_spec;  // CRD name -> serialized spec last applied
  uint64_t generation = 1;
  std::map<int, std::function<void()>> listeners;
  int next_listener = 1;

  void Add(const std::shared_ptr<const ServedResource>& r) {
    by_key[Key(r->api.group, r->api.version, r->api.resource)] = r;
    by_kind[Key(r->api.group, r->api.version, r->api.kind)] = r;
  }
  // Returns true when the served set changed.
  bool ApplyCRD(const std::string& name, const json::Value* crd) {
    std::vector<std::shared_ptr<ServedResource>> resources;
    std::string fingerprint;
    if (crd) {
      resources = FromCRD(*crd);
      if (const json::Value* spec = json::Find(*crd, "spec")) fingerprint = json::Serialize(*spec);
    }
    std::lock_guard lock(mu);
    auto fp = crd_spec.find(name);
    if (crd && fp != crd_spec.end() && fp->second == fingerprint) return false;
    if (!crd && fp == crd_spec.end()) return false;
    if (crd) {
      crd_spec[name] = fingerprint;
    } else {
      crd_spec.erase(name);
    }
    bool changed = false;
    if (auto it = crd_keys.find(name); it != crd_keys.end()) {
      for (auto& k : it->second) {
        auto r = by_key.find(k);
        if (r != by_key.end()) {
          by_kind.erase(Key(r->second->api.group, r->second->api.version, r->second->api.kind));
          by_key.erase(r);
        }
      }
      crd_keys.erase(it);
      changed = true;
    }
    for (auto& r : resources) {
      std::string k = Key(r->api.group, r->api.version, r->api.resource);
      if (auto existing = by_key.find(k); existing != by_key.end() && existing->second->builtin) {
        continue;  // never shadow a built-in
      }
      Add(r);
      crd_keys[name].push_back(k);
      changed = true;
    }
    if (changed) ++generation;
    return changed;
  }
  void NotifyListeners() {
    std::vector<std::function<void()>> ls;
    {
      std::lock_guard lock(mu);
      for (auto& [id, l] : listeners) ls.push_back(l);
    }
    for (auto& l : ls) l();
  }
  void OnCRD(const Event& e);
};

void Registry::Impl::OnCRD(const Event& e) {
  const kube::GroupResource crd_gr{"apiextensions.k8s.io", "customresourcedefinitions"};
  const json::Value* meta = json::Find(*e.object, "metadata");
  bool terminating = meta && json::Find(*meta, "deletionTimestamp");
  if (e.type == EventType::kDeleted || terminating) {
    bool changed = ApplyCRD(e.name, nullptr);
    if (changed) NotifyListeners();
    if (terminating && e.type != EventType::kDeleted) {
      // The CRD finalizer controller: delete every custom resource, then drop the finalizer.
      const json::Value* spec = json::Find(*e.object, "spec");
      std::string group(spec ? json::GetString(*spec, "group") : "");
      const json::Value* names = spec ? json::Find(*spec, "names") : nullptr;
      std::string plural(names ? json::GetString(*names, "plural") : "");
      if (!plural.empty()) {
        kube::GroupResource gr{group, plural};
        for (auto& obj : store->Snapshot(gr)) {
          const json::Value* m = json::Find(*obj, "metadata");
          if (!m) continue;
          (void)store->Delete(gr, json::GetString(*m, "namespace"), json::GetString(*m, "name"));
        }
      }
      (void)store->Update(crd_gr, "", e.name,
                          [](const Object& cur) -> kube::Result<json::Document> {
                            if (!cur) return kube::NewNotFound({}, "");
                            json::Document d = CopyObject(*cur);
                            auto& a = d.GetAllocator();
                            json::Value& m = json::EnsureObject(d, "metadata", a);
                            if (json::Value* f = json::Find(m, "finalizers"); f && f->IsArray()) {
                              for (auto it = f->Begin(); it != f->End();) {
                                if (json::View(*it) == kCRDFinalizer) {
                                  it = f->Erase(it);
                                } else {
                                  ++it;
                                }
                              }
                            }
                            return d;
                          });
    }
    return;
  }
  bool changed = ApplyCRD(e.name, e.object.get());
  if (changed) NotifyListeners();
  // The naming and establishing controllers: accepted names, conditions, the finalizer.
  std::string now = FormatTime(std::chrono::system_clock::now());
  (void)store->Update(crd_gr, "", e.name, [&](const Object& cur) -> kube::Result<json::Document> {
    if (!cur) return kube::NewNotFound({}, "");
    json::Document d = CopyObject(*cur);
    auto& a = d.GetAllocator();
    json::Value& m = json::EnsureObject(d, "metadata", a);
    json::Value* fins = json::Find(m, "finalizers");
    if (!fins || !fins->IsArray()) {
      json::SetMember(m, "finalizers", json::Value(rapidjson::kArrayType), a);
      fins = json::Find(m, "finalizers");
    }
    bool has = false;
    for (auto& f : fins->GetArray()) has = has || json::View(f) == kCRDFinalizer;
    if (!has) fins->PushBack(json::Str(kCRDFinalizer, a), a);
    const json::Value* spec = json::Find(d, "spec");
    json::Value& status = json::EnsureObject(d, "status", a);
    if (spec) {
      if (const json::Value* names = json::Find(*spec, "names")) {
        json::Value accepted;
        accepted.CopyFrom(*names, a);
        std::string kind(json::GetString(accepted, "kind"));
        if (json::GetString(accepted, "singular").empty()) {
          json::SetString(accepted, "singular", Lower(kind), a);
        }
        if (json::GetString(accepted, "listKind").empty()) {
          json::SetString(accepted, "listKind", kind + "List", a);
        }
        json::SetMember(status, "acceptedNames", std::move(accepted), a);
      }
      if (const json::Value* versions = json::Find(*spec, "versions");
          versions && versions->IsArray()) {
        json::Value* stored = json::Find(status, "storedVersions");
        if (!stored || !stored->IsArray()) {
          json::SetMember(status, "storedVersions", json::Value(rapidjson::kArrayType), a);
          stored = json::Find(status, "storedVersions");
        }
        for (auto& v : versions->GetArray()) {
          const json::Value* st = json::Find(v, "storage");
          if (!st || !st->IsBool() || !st->GetBool()) continue;
          std::string_view name = json::GetString(v, "name");
          bool found = false;
          for (auto& s : stored->GetArray()) found = found || json::View(s) == name;
          if (!found) stored->PushBack(json::Str(name, a), a);
        }
      }
    }
    json::Value* conds = json::Find(status, "conditions");
    if (!conds || !conds->IsArray()) {
      json::SetMember(status, "conditions", json::Value(rapidjson::kArrayType), a);
      conds = json::Find(status, "conditions");
    }
    SetCondition(*conds, "NamesAccepted", "NoConflicts", "no conflicts found", now, a);
    SetCondition(*conds, "Established", "InitialNamesAccepted",
                 "the initial names have been accepted", now, a);
    return d;
  });
}

Registry::Registry(Store& store) : impl_(std::make_shared<Impl>()) {
  impl_->store = &store;
  for (auto& r : Builtins()) impl_->Add(r);
  std::weak_ptr<Impl> weak = impl_;
  impl_->hook_id = store.AddChangeHook([weak](const Event& e) {
    if (e.group != "apiextensions.k8s.io" || e.resource != "customresourcedefinitions") return;
    if (auto impl = weak.lock()) impl->OnCRD(e);
  });
  for (auto& crd : store.Snapshot({"apiextensions.k8s.io", "customresourcedefinitions"})) {
    const json::Value* m = json::Find(*crd, "metadata");
    if (!m) continue;
    Event e;
    e.type = EventType::kAdded;
    e.group = "apiextensions.k8s.io";
    e.resource = "customresourcedefinitions";
    e.name = json::GetString(*m, "name");
    e.object = crd;
    impl_->OnCRD(e);
  }
}

Registry::~Registry() { impl_->store->RemoveChangeHook(impl_->hook_id); }

std::shared_ptr<const ServedResource> Registry::Lookup(std::string_view group,
                                                       std::string_view version,
                                                       std::string_view resource) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->by_key.find(Key(group, version, resource));
  return it == impl_->by_key.end() ? nullptr : it->second;
}

std::shared_ptr<const ServedResource> Registry::LookupKind(std::string_view group,
                                                           std::string_view version,
                                                           std::string_view kind) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->by_kind.find(Key(group, version, kind));
  return it == impl_->by_kind.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const ServedResource>> Registry::All() const {
  std::vector<std::shared_ptr<const ServedResource>> out;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [k, r] : impl_->by_key) out.push_back(r);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a->builtin != b->builtin) return a->builtin;
    if (a->api.group != b->api.group) return a->api.group < b->api.group;
    if (a->api.version != b->api.version) return KubeVersionLess(a->api.version, b->api.version);
    return a->api.resource < b->api.resource;
  });
  return out;
}

std::vector<std::string> Registry::Versions(std::string_view group) const {
  std::vector<std::string> out;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [k, r] : impl_->by_key) {
      if (r->api.group != group) continue;
      if (std::find(out.begin(), out.end(), r->api.version) == out.end()) {
        out.push_back(r->api.version);
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return KubeVersionLess(a, b); });
  return out;
}

std::string Registry::PreferredVersion(std::string_view group) const {
  auto v = Versions(group);
  return v.empty() ? "" : v.front();
}

uint64_t Registry::generation() const {
  std::lock_guard lock(impl_->mu);
  return impl_->generation;
}

int Registry::AddChangeListener(std::function<void()> listener) {
  std::lock_guard lock(impl_->mu);
  int id = impl_->next_listener++;
  impl_->listeners[id] = std::move(listener);
  return id;
}

void Registry::RemoveChangeListener(int id) {
  std::lock_guard lock(impl_->mu);
  impl_->listeners.erase(id);
}

}  // namespace fakekube
