#include "proxy/translator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>
#include <vector>

#include "proxy/fast_translate.h"
#include "proxy/names.h"
#include "kube/http.h"
#include "kube/selectors.h"
#include "kube/yaml.h"

namespace proxy {

namespace json = kube::json;
using json::Value;

namespace {

constexpr std::string_view kLabelCluster = naming::kLabelAppCluster;
constexpr std::string_view kLabelNamespace = naming::kLabelAppNamespace;
constexpr std::string_view kLabelName = naming::kLabelAppResourceName;

// Go's %q for names in messages.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

// Keeps the last of duplicate member names, recursively (encoding/json semantics).
void DedupeMembers(Value& v, json::Allocator& a) {
  if (v.IsArray()) {
    for (auto& e : v.GetArray()) DedupeMembers(e, a);
    return;
  }
  if (!v.IsObject()) return;
  for (auto& m : v.GetObject()) DedupeMembers(m.value, a);
  if (v.MemberCount() < 2) return;
  // Looking for a duplicate allocates nothing for an object of up to 32 members (the usual
  // case, and every object of a create or update body was being hashed into a set).
  bool dup = false;
  if (v.MemberCount() <= 32) {
    std::array<std::string_view, 32> names;
    size_t n = 0;
    for (auto& m : v.GetObject()) {
      const std::string_view name = json::View(m.name);
      for (size_t i = 0; i < n && !dup; ++i) dup = names[i] == name;
      if (dup) break;
      names[n++] = name;
    }
  } else {
    std::vector<std::string_view> names;
    names.reserve(v.MemberCount());
    for (auto& m : v.GetObject()) names.push_back(json::View(m.name));
    std::sort(names.begin(), names.end());
    dup = std::adjacent_find(names.begin(), names.end()) != names.end();
  }
  if (!dup) return;
  std::unordered_set<std::string_view> seen;
  std::unordered_set<const Value*> keep;  // the last member of each name
  for (auto it = v.MemberEnd(); it != v.MemberBegin();) {
    --it;
    if (seen.insert(json::View(it->name)).second) keep.insert(&it->value);
  }
  Value out(rapidjson::kObjectType);
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    if (keep.count(&it->value)) out.AddMember(Value(it->name, a), Value(it->value, a), a);
  }
  v = std::move(out);
}

Value* EnsureObjectMember(Value& obj, std::string_view key, json::Allocator& a) {
  return &json::EnsureObject(obj, key, a);
}

void RemoveReservedKeys(Value& meta, std::string_view map) {
  Value* m = json::Find(meta, map);
  if (!m) return;
  if (!m->IsObject()) return;
  for (auto it = m->MemberBegin(); it != m->MemberEnd();) {
    if (IsReservedKey(json::View(it->name))) {
      it = m->EraseMember(it);
    } else {
      ++it;
    }
  }
  if (m->MemberCount() == 0) json::RemoveMember(meta, map);
}

// managedFields entries name our labels/annotations ("f:mcp-connector.upbound.io/..."): the app
// side never wrote them, so they go too.
void StripManagedFields(Value& meta) {
  Value* mf = json::Find(meta, "managedFields");
  if (!mf || !mf->IsArray()) return;
  for (auto& entry : mf->GetArray()) {
    Value* fv = json::Find(entry, "fieldsV1");
    Value* fm = fv ? json::Find(*fv, "f:metadata") : nullptr;
    if (!fm || !fm->IsObject()) continue;
    for (std::string_view map : {std::string_view("f:labels"), std::string_view("f:annotations")}) {
      Value* m = json::Find(*fm, map);
      if (!m || !m->IsObject()) continue;
      for (auto it = m->MemberBegin(); it != m->MemberEnd();) {
        std::string_view key = json::View(it->name);
        if (key.size() > 2 && key.substr(0, 2) == "f:" && IsReservedKey(key.substr(2))) {
          it = m->EraseMember(it);
        } else {
          ++it;
        }
      }
      if (m->MemberCount() == 0) json::RemoveMember(*fm, map);
    }
  }
}

// JSON pointer tokens (RFC 6901).
std::vector<std::string> PointerTokens(std::string_view p, bool* ok) {
  std::vector<std::string> out;
  *ok = true;
  if (p.empty()) return out;
  if (p[0] != '/') {
    *ok = false;
    return out;
  }
  p.remove_prefix(1);
  while (true) {
    size_t slash = p.find('/');
    std::string_view raw = p.substr(0, slash);
    std::string tok;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        tok.push_back(raw[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        tok.push_back(raw[i]);
      }
    }
    out.push_back(std::move(tok));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return out;
}

std::string PointerEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out.push_back(c);
  }
  return out;
}

}  // namespace

bool IsReservedKey(std::string_view key) {
  return kube::http::StartsWithIgnoreCase(key, kReservedPrefix);
}

std::string ConnectionSecretName(std::string_view secret, std::string_view ns,
                                 std::string_view cluster_id) {
  return naming::HashedName("conn-", secret, ns, cluster_id);
}

// ---------------------------------------------------------------------------------------------
// Names and paths

std::string Translator::ControlPlaneName(std::string_view app_ns, std::string_view app_name) const {
  // A request maps its object's name (the path) and then proves the response's object is that
  // one (OwnerOf hashes its origin labels): the same inputs twice. One remembered answer per
  // thread saves the second SHA-256.
  struct Memo {
    Kind kind{};
    std::string cluster_id, ns, name, out;
  };
  thread_local Memo memo;
  if (!memo.out.empty() && memo.kind == scope_.kind && memo.name == app_name && memo.ns == app_ns &&
      memo.cluster_id == scope_.cluster_id)
    return memo.out;
  std::string out = names::ObjectName(scope_.kind, app_name, app_ns, scope_.cluster_id);
  memo.kind = scope_.kind;
  memo.cluster_id.assign(scope_.cluster_id);
  memo.ns.assign(app_ns);
  memo.name.assign(app_name);
  memo.out.assign(out);
  return out;
}

std::string Translator::CollectionPath() const {
  const auto& r = *scope_.resource;
  std::string p = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  p += "/namespaces/" + kube::http::PercentEncode(scope_.claim_namespace) + "/" + r.resource;
  return p;
}

std::string Translator::ObjectPath(std::string_view cp_name, std::string_view subresource) const {
  std::string p = CollectionPath() + "/" + std::string(cp_name);
  if (!subresource.empty()) p += "/" + std::string(subresource);
  return p;
}

std::string Translator::AppObjectPath(const AppRef& ref) const {
  const auto& r = *scope_.resource;
  std::string p = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  return p + "/namespaces/" + ref.namespace_ + "/" + r.resource + "/" + ref.name;
}

std::string Translator::KindGroup() const {
  std::string kg = scope_.resource->kind;
  if (!scope_.resource->group.empty()) kg += "." + scope_.resource->group;
  return kg;
}

kube::Status Translator::Invalid(std::string_view name, std::string_view field,
                                 std::string_view type, std::string_view message) const {
  return kube::NewInvalid(
      KindGroup(), name,
      {kube::StatusCause{std::string(type), std::string(message), std::string(field)}});
}

// ---------------------------------------------------------------------------------------------
// Queries

kube::Result<kube::http::Query> Translator::TranslateQuery(const kube::http::Query& in,
                                                           std::string_view verb,
                                                           std::string_view app_ns) const {
  static constexpr std::string_view kPassThrough[] = {"resourceVersion",
                                                      "resourceVersionMatch",
                                                      "limit",
                                                      "continue",
                                                      "timeoutSeconds",
                                                      "allowWatchBookmarks",
                                                      "dryRun",
                                                      "fieldManager",
                                                      "force",
                                                      "fieldValidation",
                                                      "propagationPolicy",
                                                      "gracePeriodSeconds",
                                                      "orphanDependents",
                                                      "includeObject",
                                                      "sendInitialEvents",
                                                      "pretty"};
  kube::http::Query out;
  for (const auto& [k, v] : in.items()) {
    for (std::string_view p : kPassThrough) {
      if (k == p) {
        out.Set(k, v);  // last value wins, one value forwarded
        break;
      }
    }
  }
  const bool collection = verb == "list" || verb == "watch" || verb == "deletecollection";
  if (verb == "watch") out.Set("watch", "true");
  if (!collection) return out;

  // Parsed with apimachinery's grammar (kube/selectors.h), so malformed selectors get kube's
  // own 400 messages; rewritten so that the result can only ever narrow to this cluster.
  kube::LabelSelector labels;
  if (auto ls = in.Get("labelSelector")) {
    auto parsed = kube::LabelSelector::Parse(*ls);
    if (auto* err = std::get_if<std::string>(&parsed)) return kube::NewBadRequest(*err);
    for (const auto& r : std::get<kube::LabelSelector>(parsed).requirements()) {
      if (IsReservedKey(r.key)) {
        return kube::NewBadRequest("unable to parse requirement: label key " + Quote(r.key) +
                                   " is reserved for the control plane connector");
      }
    }
    labels = std::move(std::get<kube::LabelSelector>(parsed));
  }
  auto label_eq = [](std::string_view key, bool not_equals, std::string value) {
    auto op = not_equals ? kube::LabelOperator::kNotEquals : kube::LabelOperator::kEquals;
    // A field value no label can hold (control characters, ',', ' ', ...) names no object:
    // "" says exactly that ("=" selects none of ours, "!=" all) and keeps the upstream selector
    // well-formed (a raw value broke it; found by fuzzing).
    auto r = kube::LabelSelector::NewRequirement(std::string(key), op, {value});
    if (auto* req = std::get_if<kube::LabelRequirement>(&r)) return std::move(*req);
    return kube::LabelRequirement{std::string(key), op, {""}};
  };
  kube::FieldSelector fields_out;
  if (auto fs = in.Get("fieldSelector")) {
    auto parsed = kube::FieldSelector::Parse(*fs);
    if (auto* err = std::get_if<std::string>(&parsed)) return kube::NewBadRequest(*err);
    const auto& fields = std::get<kube::FieldSelector>(parsed);
    // A namespace given by the field selector (all-namespaces requests) lets a name be hashed.
    std::string field_ns(app_ns);
    if (field_ns.empty()) {
      for (const auto& r : fields.requirements()) {
        if (r.field == "metadata.namespace" && !r.not_equals) field_ns = r.value;
      }
    }
    for (auto r : fields.requirements()) {
      if (r.field == "metadata.namespace") {
        labels.Add(label_eq(kLabelNamespace, r.not_equals, r.value));
      } else if (r.field == "metadata.name") {
        if (!field_ns.empty()) {
          r.value = ControlPlaneName(field_ns, r.value);
          fields_out.Add(std::move(r));
        } else {
          // Across namespaces: select by the name label (what naming writes for this name).
          labels.Add(label_eq(kLabelName, r.not_equals, naming::LabelValueForName(r.value)));
        }
      } else {
        fields_out.Add(std::move(r));
      }
    }
  }
  labels.Add(label_eq(kLabelCluster, false, scope_.cluster_id));
  if (!app_ns.empty()) labels.Add(label_eq(kLabelNamespace, false, std::string(app_ns)));
  out.Set("labelSelector", labels.String());
  if (!fields_out.Empty()) out.Set("fieldSelector", fields_out.String());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Request bodies

kube::Result<json::Document> Translator::DecodeBody(std::string_view body, BodyType type) {
  json::Document doc;
  if (type == BodyType::kYaml || type == BodyType::kApplyPatch) {
    // kube's applyPatcher: yaml.Unmarshal, its error wrapped in "error decoding YAML: ".
    auto converted = kube::yaml::ToJson(body);
    if (!converted.ok()) {
      return kube::NewBadRequest("error decoding YAML: " + converted.error().message);
    }
    doc = std::move(*converted);
  } else {
    // json::Parse: also refuses nesting deeper than the stack can take (found by fuzzing).
    auto parsed = json::Parse(body);
    if (!parsed) {
      return kube::NewBadRequest(
          "couldn't get version/kind; json parse error: invalid JSON in the request body");
    }
    doc = std::move(*parsed);
  }
  DedupeMembers(doc, doc.GetAllocator());
  return doc;
}

kube::Outcome Translator::CheckTypeMeta(Value& obj, json::Allocator& a, std::string_view name,
                                        bool fill_defaults) const {
  const auto& r = *scope_.resource;
  const std::string gv = r.GroupVersion();
  if (const Value* av = json::Find(obj, "apiVersion");
      av && !(av->IsString() && av->GetStringLength() == 0)) {
    if (!av->IsString() || json::View(*av) != gv) {
      return kube::NewBadRequest("the API version in the data (" +
                                 std::string(av->IsString() ? json::View(*av) : "") +
                                 ") does not match the expected API version (" + gv + ")");
    }
  } else if (fill_defaults) {
    json::SetString(obj, "apiVersion", gv, a);
  }
  if (const Value* k = json::Find(obj, "kind");
      k && !(k->IsString() && k->GetStringLength() == 0)) {
    if (!k->IsString() || json::View(*k) != r.kind) {
      std::string got(k->IsString() ? json::View(*k) : "");
      std::string kg = got + (r.group.empty() ? "" : "." + r.group);
      return kube::NewInvalid(
          kg, name,
          {kube::StatusCause{"FieldValueInvalid",
                             "Invalid value: " + Quote(got) + ": must be " + r.kind, "kind"}});
    }
  } else if (fill_defaults) {
    json::SetString(obj, "kind", r.kind, a);
  }
  return kube::Ok{};
}

kube::Outcome Translator::CheckLabelsAndAnnotations(const Value& meta, std::string_view name,
                                                    bool allow_null_values) const {
  for (std::string_view map : {std::string_view("labels"), std::string_view("annotations")}) {
    const Value* m = json::Find(meta, map);
    if (!m || m->IsNull()) continue;
    if (!m->IsObject()) {
      return Invalid(name, "metadata." + std::string(map), "FieldValueInvalid",
                     "Invalid value: must be a map of strings");
    }
    for (const auto& kv : m->GetObject()) {
      std::string_view key = json::View(kv.name);
      if (IsReservedKey(key)) {
        return Invalid(name, "metadata." + std::string(map), "FieldValueInvalid",
                       "Invalid value: " + Quote(key) + ": the prefix \"" +
                           std::string(kReservedPrefix) +
                           "\" is reserved for the control plane connector");
      }
      if (!kv.value.IsString() && !(allow_null_values && kv.value.IsNull())) {
        return Invalid(name, "metadata." + std::string(map) + "." + std::string(key),
                       "FieldValueInvalid", "Invalid value: must be a string");
      }
    }
  }
  return kube::Ok{};
}

void Translator::AddOriginMetadata(Value& meta, json::Allocator& a, const AppRef& ref) const {
  Value* labels = EnsureObjectMember(meta, "labels", a);
  for (const auto& [k, v] : names::OriginLabels(ref.name, ref.namespace_, scope_.cluster_id))
    json::SetString(*labels, k, v, a);
  auto ann = names::OriginAnnotations(ref.name, ref.namespace_, scope_.cluster_id);
  if (!ann.empty()) {
    Value* annotations = EnsureObjectMember(meta, "annotations", a);
    for (const auto& [k, v] : ann) json::SetString(*annotations, k, v, a);
  }
}

bool Translator::ResolveGenerateName(json::Document& obj) {
  Value* meta = json::Find(obj, "metadata");
  if (!meta || !meta->IsObject()) return false;
  std::string_view name = json::GetString(*meta, "name");
  std::string_view gen = json::GetString(*meta, "generateName");
  if (!name.empty() || gen.empty()) return false;
  json::SetString(*meta, "name", names::GenerateName(gen), obj.GetAllocator());
  return true;
}

std::string Translator::BodyName(const Value& obj) {
  const Value* meta = json::Find(obj, "metadata");
  return meta ? std::string(json::GetString(*meta, "name")) : std::string();
}

kube::Outcome Translator::PrepareObject(json::Document& obj, const WriteTarget& t) const {
  auto& a = obj.GetAllocator();
  if (!obj.IsObject()) {
    return kube::NewBadRequest("the body of the request must be a JSON object");
  }
  const bool apply = t.verb == "patch";
  {
    const Value* m = json::Find(obj, "metadata");
    if (m && !m->IsObject() && !m->IsNull()) {
      return kube::NewBadRequest("metadata must be an object");
    }
    if (!m || m->IsNull()) json::EnsureObject(obj, "metadata", a);
  }
  // Name: from the body for create, must equal the URL's otherwise.
  std::string name;
  {
    const Value* nv = json::Find(*json::Find(obj, "metadata"), "name");
    if (nv && !nv->IsString() && !nv->IsNull())
      return kube::NewBadRequest("metadata.name must be a string");
    name = nv && nv->IsString() ? std::string(json::View(*nv)) : std::string();
  }
  if (t.verb == "create") {
    if (name.empty()) {
      return Invalid("", "metadata.name", "FieldValueRequired",
                     "Required value: name or generateName is required");
    }
  } else if (name != t.name && !(apply && name.empty())) {
    return kube::NewBadRequest("the name of the object (" + name +
                               ") does not match the name on the URL (" + t.name + ")");
  } else {
    name = t.name;
  }
  // May add apiVersion/kind members to `obj`: take pointers into it only afterwards.
  if (auto r = CheckTypeMeta(obj, a, name, !apply); !r.ok()) return r;
  Value* meta = json::Find(obj, "metadata");

  const Value* nsv = json::Find(*meta, "namespace");
  if (nsv && !nsv->IsString() && !nsv->IsNull())
    return kube::NewBadRequest("metadata.namespace must be a string");
  std::string_view body_ns = nsv && nsv->IsString() ? json::View(*nsv) : std::string_view();
  if (!body_ns.empty() && body_ns != t.app_namespace) {
    return kube::NewBadRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  {
    std::string_view gen = json::GetString(*meta, "generateName");
    std::vector<kube::StatusCause> causes = naming::ValidateObjectName(name, gen);
    for (auto& c : naming::ValidateObjectNamespace(t.app_namespace)) causes.push_back(std::move(c));
    if (!causes.empty()) return kube::NewInvalid(KindGroup(), name, std::move(causes));
  }
  if (auto r = CheckLabelsAndAnnotations(*meta, name, false); !r.ok()) return r;

  const AppRef ref{t.app_namespace, name};
  json::SetString(*meta, "name", ControlPlaneName(ref.namespace_, ref.name), a);
  json::SetString(*meta, "namespace", scope_.claim_namespace, a);
  AddOriginMetadata(*meta, a, ref);
  json::RemoveMember(*meta, "selfLink");

  // ownerReferences point at app-cluster objects: keep them in an annotation instead.
  if (Value* owners = json::Find(*meta, "ownerReferences")) {
    if (owners->IsArray() && owners->Size() > 0) {
      std::string text = json::Serialize(*owners);
      json::SetString(json::EnsureObject(*meta, "annotations", a), kOwnerReferencesAnnotation, text,
                      a);
    }
    json::RemoveMember(*meta, "ownerReferences");
  }

  // The connection secret the user named lives under a per-namespace name in the claim namespace.
  if (Value* spec = json::Find(obj, "spec"); spec && spec->IsObject()) {
    if (Value* ref_v = json::Find(*spec, "writeConnectionSecretToRef");
        ref_v && ref_v->IsObject()) {
      std::string_view secret = json::GetString(*ref_v, "name");
      if (!secret.empty()) {
        json::SetString(json::EnsureObject(*meta, "annotations", a), kConnectionSecretAnnotation,
                        secret, a);
        std::string translated = ConnectionSecretName(secret, ref.namespace_, scope_.cluster_id);
        json::SetString(*ref_v, "name", translated, a);
      }
      if (json::Find(*ref_v, "namespace")) {
        json::SetString(*ref_v, "namespace", scope_.claim_namespace, a);
      }
    }
  }
  return kube::Ok{};
}

kube::Outcome Translator::PrepareMergePatch(json::Document& patch, const WriteTarget& t,
                                            const Value* current) const {
  auto& a = patch.GetAllocator();
  if (!patch.IsObject()) return kube::NewBadRequest("a merge patch must be a JSON object");
  const std::string& name = t.name;
  if (auto r = CheckTypeMeta(patch, a, name, false); !r.ok()) return r;
  const AppRef ref{t.app_namespace, name};
  Value* meta = json::Find(patch, "metadata");
  if (meta && !meta->IsObject()) {
    return Invalid(name, "metadata", "FieldValueInvalid",
                   "Invalid value: metadata cannot be removed");
  }
  if (!meta) meta = &json::EnsureObject(patch, "metadata", a);
  if (const Value* nv = json::Find(*meta, "name")) {
    std::string got(nv->IsString() ? json::View(*nv) : "");
    if (got != name) {
      return kube::NewBadRequest("the name of the object (" + got +
                                 ") does not match the name on the URL (" + name + ")");
    }
    json::SetString(*meta, "name", ControlPlaneName(ref.namespace_, ref.name), a);
  }
  if (const Value* nsv = json::Find(*meta, "namespace")) {
    if (!nsv->IsString() || json::View(*nsv) != t.app_namespace) {
      return kube::NewBadRequest(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    json::SetString(*meta, "namespace", scope_.claim_namespace, a);
  }
  if (auto r = CheckLabelsAndAnnotations(*meta, name, true); !r.ok()) return r;
  // `labels: null` / `annotations: null` remove every key: only the user's keys may go.
  const Value* cur_meta = current ? json::Find(*current, "metadata") : nullptr;
  for (std::string_view map : {std::string_view("labels"), std::string_view("annotations")}) {
    Value* m = json::Find(*meta, map);
    if (!m || !m->IsNull()) continue;
    m->SetObject();
    if (const Value* cm = cur_meta ? json::Find(*cur_meta, map) : nullptr; cm && cm->IsObject()) {
      for (const auto& kv : cm->GetObject()) {
        if (!IsReservedKey(json::View(kv.name))) m->AddMember(Value(kv.name, a), Value(), a);
      }
    }
  }
  AddOriginMetadata(*meta, a, ref);
  json::RemoveMember(*meta, "selfLink");
  if (const Value* owners = json::Find(*meta, "ownerReferences")) {
    std::optional<std::string> text;
    if (owners->IsArray() && owners->Size() > 0) text = json::Serialize(*owners);
    // EnsureObject may grow `meta`: `owners` is not used after it.
    Value& ann = json::EnsureObject(*meta, "annotations", a);
    if (text) {
      json::SetString(ann, kOwnerReferencesAnnotation, *text, a);
    } else {
      json::SetMember(ann, kOwnerReferencesAnnotation, Value(), a);
    }
    json::RemoveMember(*meta, "ownerReferences");
  }
  if (Value* spec = json::Find(patch, "spec"); spec && spec->IsObject()) {
    if (Value* ref_v = json::Find(*spec, "writeConnectionSecretToRef")) {
      Value& ann = json::EnsureObject(*meta, "annotations", a);
      if (ref_v->IsNull()) {
        json::SetMember(ann, kConnectionSecretAnnotation, Value(), a);
      } else if (ref_v->IsObject()) {
        if (Value* n = json::Find(*ref_v, "name")) {
          if (n->IsString() && n->GetStringLength() > 0) {
            std::string secret(json::View(*n));
            json::SetString(ann, kConnectionSecretAnnotation, secret, a);
            json::SetString(*ref_v, "name",
                            ConnectionSecretName(secret, ref.namespace_, scope_.cluster_id), a);
          } else {
            json::SetMember(ann, kConnectionSecretAnnotation, Value(), a);
          }
        }
        if (Value* n = json::Find(*ref_v, "namespace"); n && n->IsString()) {
          json::SetString(*ref_v, "namespace", scope_.claim_namespace, a);
        }
      }
    }
  }
  return kube::Ok{};
}

kube::Outcome Translator::PrepareJsonPatch(json::Document& ops, const WriteTarget& t,
                                           const Value* current) const {
  auto& a = ops.GetAllocator();
  if (!ops.IsArray()) return kube::NewBadRequest("a JSON patch must be a JSON array");
  const std::string& name = t.name;
  const AppRef ref{t.app_namespace, name};
  const Value* cur_meta = current ? json::Find(*current, "metadata") : nullptr;
  const bool has_annotations = cur_meta && json::Find(*cur_meta, "annotations") &&
                               json::Find(*cur_meta, "annotations")->IsObject();
  auto reject = [&](std::string_view path, std::string_view why) {
    return Invalid(name, "", "FieldValueForbidden",
                   "Forbidden: JSON patch operation on " + Quote(path) + ": " + std::string(why));
  };
  // Extra operations appended after the user's (annotation bookkeeping).
  std::vector<Value> extra;
  bool annotations_created = has_annotations;
  auto set_annotation = [&](std::string_view key, const Value* value) {
    if (!annotations_created) {
      Value op(rapidjson::kObjectType);
      op.AddMember("op", "add", a);
      op.AddMember("path", "/metadata/annotations", a);
      op.AddMember("value", Value(rapidjson::kObjectType), a);
      extra.push_back(std::move(op));
      annotations_created = true;
    }
    Value op(rapidjson::kObjectType);
    std::string path = "/metadata/annotations/" + PointerEscape(key);
    if (value) {
      op.AddMember("op", "add", a);
      op.AddMember("path", json::Str(path, a), a);
      op.AddMember("value", Value(*value, a), a);
    } else {
      const Value* cur_ann = cur_meta ? json::Find(*cur_meta, "annotations") : nullptr;
      if (!cur_ann || !json::Find(*cur_ann, key)) return;  // nothing to remove
      op.AddMember("op", "remove", a);
      op.AddMember("path", json::Str(path, a), a);
    }
    extra.push_back(std::move(op));
  };

  for (auto& op : ops.GetArray()) {
    if (!op.IsObject()) return kube::NewBadRequest("a JSON patch operation must be an object");
    std::string_view kind = json::GetString(op, "op");
    for (std::string_view field : {std::string_view("path"), std::string_view("from")}) {
      const Value* pv = json::Find(op, field);
      if (!pv) continue;
      if (!pv->IsString()) return kube::NewBadRequest("JSON patch: path must be a string");
      bool ok = true;
      std::vector<std::string> tok = PointerTokens(json::View(*pv), &ok);
      if (!ok) return kube::NewBadRequest("JSON patch: invalid path " + Quote(json::View(*pv)));
      std::string_view path = json::View(*pv);
      if (tok.empty()) return reject(path, "the whole object cannot be replaced");
      if (tok[0] == "metadata") {
        if (tok.size() == 1) return reject(path, "metadata cannot be replaced as a whole");
        const std::string& f = tok[1];
        if (f == "name" || f == "namespace" || f == "generateName" || f == "selfLink") {
          return reject(path, "the name and namespace cannot be changed");
        }
        if (f == "ownerReferences") {
          return reject(path,
                        "ownerReferences cannot be changed with a JSON patch through the "
                        "connector; use a merge patch or an update");
        }
        if (f == "labels" || f == "annotations") {
          if (tok.size() >= 3 && IsReservedKey(tok[2])) {
            return reject(path, "the prefix \"" + std::string(kReservedPrefix) +
                                    "\" is reserved for the control plane connector");
          }
          if (tok.size() == 2) {
            // Replacing the whole map: allowed with an object value; ours are re-added.
            Value* value = json::Find(op, "value");
            if (field != "path" || (kind != "add" && kind != "replace") || !value ||
                !value->IsObject()) {
              return reject(path, "the connector's " + f + " cannot be removed");
            }
            for (const auto& kv : value->GetObject()) {
              if (IsReservedKey(json::View(kv.name)))
                return reject(path, "the prefix \"" + std::string(kReservedPrefix) +
                                        "\" is reserved for the control plane connector");
            }
            if (f == "labels") {
              for (const auto& [k, v] :
                   names::OriginLabels(ref.name, ref.namespace_, scope_.cluster_id))
                json::SetString(*value, k, v, a);
            } else {
              // Carry over the connector's annotations from the stored object.
              const Value* cur_ann = cur_meta ? json::Find(*cur_meta, "annotations") : nullptr;
              if (cur_ann && cur_ann->IsObject()) {
                for (const auto& kv : cur_ann->GetObject()) {
                  if (IsReservedKey(json::View(kv.name)))
                    json::SetMember(*value, json::View(kv.name), Value(kv.value, a), a);
                }
              }
              for (const auto& [k, v] :
                   names::OriginAnnotations(ref.name, ref.namespace_, scope_.cluster_id))
                json::SetString(*value, k, v, a);
              annotations_created = true;
            }
          }
        }
      }
      if (tok[0] == "spec" && tok.size() >= 2 && tok[1] == "writeConnectionSecretToRef" &&
          field == "path") {
        Value* value = json::Find(op, "value");
        if (tok.size() == 2) {
          if ((kind == "add" || kind == "replace") && value && value->IsObject()) {
            if (Value* n = json::Find(*value, "name"); n && n->IsString()) {
              Value original(*n, a);
              json::SetString(
                  *value, "name",
                  ConnectionSecretName(json::View(*n), ref.namespace_, scope_.cluster_id), a);
              set_annotation(kConnectionSecretAnnotation, &original);
            }
          } else if (kind == "remove") {
            set_annotation(kConnectionSecretAnnotation, nullptr);
          } else if (kind != "test") {
            return reject(path, "unsupported operation on the connection secret reference");
          }
        } else if (tok.size() == 3 && tok[2] == "name") {
          if ((kind == "add" || kind == "replace") && value && value->IsString()) {
            Value original(*value, a);
            *value = json::Str(
                ConnectionSecretName(json::View(original), ref.namespace_, scope_.cluster_id), a);
            set_annotation(kConnectionSecretAnnotation, &original);
          } else if (kind == "remove") {
            set_annotation(kConnectionSecretAnnotation, nullptr);
          } else if (kind != "test") {
            return reject(path, "unsupported operation on the connection secret name");
          }
        }
      }
      if (tok[0] == "spec" && tok.size() >= 2 && tok[1] == "writeConnectionSecretToRef" &&
          field == "from") {
        return reject(path, "the connection secret reference cannot be moved or copied");
      }
    }
  }
  for (Value& e : extra) ops.PushBack(std::move(e), a);
  return kube::Ok{};
}

// ---------------------------------------------------------------------------------------------
// Responses

std::optional<AppRef> Translator::Owner(const Value& obj) const {
  const Value* meta = json::Find(obj, "metadata");
  if (!meta || !meta->IsObject()) return std::nullopt;
  auto lookup = [](const Value* m) {
    return [m](std::string_view key) -> std::optional<std::string_view> {
      if (!m || !m->IsObject()) return std::nullopt;
      const Value* v = json::Find(*m, key);
      if (!v || !v->IsString()) return std::nullopt;
      return json::View(*v);
    };
  };
  return OwnerOf(json::GetString(*meta, "namespace"), json::GetString(*meta, "name"),
                 lookup(json::Find(*meta, "labels")), lookup(json::Find(*meta, "annotations")));
}

std::optional<AppRef> Translator::OwnerOf(std::string_view ns, std::string_view name,
                                          const naming::Lookup& labels,
                                          const naming::Lookup& annotations) const {
  if (ns != scope_.claim_namespace) return std::nullopt;
  auto rev = naming::AppRefFromMetadata(labels, annotations);
  if (!rev || rev->cluster_id != scope_.cluster_id) return std::nullopt;
  AppRef ref{std::move(rev->namespace_), std::move(rev->name)};
  // The stored name must be the one this cluster would give that app object: labels copied or
  // forged onto some other object do not make it ours.
  if (name != ControlPlaneName(ref.namespace_, ref.name)) return std::nullopt;
  return ref;
}

bool Translator::TranslateObject(Value& obj, json::Allocator& a) const {
  auto owner = Owner(obj);
  if (!owner) return false;
  Value& meta = *json::Find(obj, "metadata");
  json::SetString(meta, "name", owner->name, a);
  json::SetString(meta, "namespace", owner->namespace_, a);
  if (json::Find(meta, "selfLink")) json::SetString(meta, "selfLink", AppObjectPath(*owner), a);

  std::string owners;
  std::optional<std::string> secret;
  if (const Value* ann = json::Find(meta, "annotations"); ann && ann->IsObject()) {
    owners = json::GetString(*ann, kOwnerReferencesAnnotation);
    if (const Value* s = json::Find(*ann, kConnectionSecretAnnotation); s && s->IsString())
      secret = std::string(json::View(*s));
  }
  json::RemoveMember(meta, "ownerReferences");
  if (!owners.empty()) {
    auto parsed = json::Parse(owners);
    if (parsed && parsed->IsArray()) {
      json::SetMember(meta, "ownerReferences", Value(*parsed, a), a);
    }
  }
  RemoveReservedKeys(meta, "labels");
  RemoveReservedKeys(meta, "annotations");
  StripManagedFields(meta);
  if (secret) {
    if (Value* spec = json::Find(obj, "spec"); spec && spec->IsObject()) {
      if (Value* ref = json::Find(*spec, "writeConnectionSecretToRef"); ref && ref->IsObject()) {
        if (json::Find(*ref, "name")) json::SetString(*ref, "name", *secret, a);
      }
    }
  }
  if (Value* spec = json::Find(obj, "spec"); spec && spec->IsObject()) {
    if (Value* ref = json::Find(*spec, "writeConnectionSecretToRef"); ref && ref->IsObject()) {
      if (json::Find(*ref, "namespace")) json::SetString(*ref, "namespace", owner->namespace_, a);
    }
  }
  return true;
}

TableColumns Translator::ColumnsOf(const Value* defs) const {
  TableColumns cols;
  if (!defs || !defs->IsArray() || defs->Empty()) {
    // kube-apiserver's CRD tables: Name, then every additionalPrinterColumn in order (watch
    // events after the first carry no column definitions).
    const auto& pcs = scope_.resource->printer_columns;
    for (size_t j = 0; j < pcs.size(); ++j) {
      if (pcs[j].json_path == ".spec.writeConnectionSecretToRef.name")
        cols.connection_secret.push_back(static_cast<int>(j + 1));
    }
    return cols;
  }
  cols.name = -1;
  for (rapidjson::SizeType i = 0; i < defs->Size(); ++i) {
    std::string_view col_name = json::GetString((*defs)[i], "name");
    if (cols.name < 0 && (col_name == "Name" || json::GetString((*defs)[i], "format") == "name")) {
      cols.name = static_cast<int>(i);
      continue;
    }
    for (const auto& pc : scope_.resource->printer_columns) {
      if (pc.name == col_name && pc.json_path == ".spec.writeConnectionSecretToRef.name")
        cols.connection_secret.push_back(static_cast<int>(i));
    }
  }
  return cols;
}

bool Translator::TranslateTableRow(Value& row, json::Allocator& a, const TableColumns& cols,
                                   bool keep_object) const {
  if (!row.IsObject()) return false;
  Value* obj = json::Find(row, "object");
  if (!obj || !obj->IsObject()) return false;  // we always ask for the object: no proof, no row
  auto owner = Owner(*obj);
  if (!owner) return false;
  std::optional<std::string> secret;
  if (const Value* ann = json::FindPath(*obj, "metadata.annotations"); ann && ann->IsObject()) {
    if (const Value* s = json::Find(*ann, kConnectionSecretAnnotation); s && s->IsString())
      secret = std::string(json::View(*s));
  }
  if (Value* cells = json::Find(row, "cells"); cells && cells->IsArray()) {
    auto set_cell = [&](int i, std::string_view v) {
      if (i >= 0 && static_cast<size_t>(i) < cells->Size()) (*cells)[i] = json::Str(v, a);
    };
    set_cell(cols.name, owner->name);
    if (secret) {
      for (int i : cols.connection_secret) {
        if (i >= 0 && static_cast<size_t>(i) < cells->Size() && (*cells)[i].IsString())
          set_cell(i, *secret);
      }
    }
  }
  if (!keep_object) {
    json::RemoveMember(row, "object");
    return true;
  }
  TranslateObject(*obj, a);
  return true;
}

kube::Result<std::optional<std::string>> Translator::TranslateItemText(
    std::string_view text) const {
  std::string out;
  auto kept = AppendItemText(text, out);
  if (!kept.ok()) return std::move(kept).error();
  if (!*kept) return std::optional<std::string>();
  return std::optional<std::string>(std::move(out));
}

namespace {

// Appends the DOM path's answer: an error, a drop (false) or the text.
kube::Result<bool> AppendDomResult(kube::Result<std::optional<std::string>> r, std::string& out) {
  if (!r.ok()) return std::move(r).error();
  if (!r->has_value()) return false;
  out += **r;
  return true;
}

}  // namespace

kube::Result<bool> Translator::AppendItemText(std::string_view text, std::string& out) const {
  switch (fast::AppendItem(*this, text, out)) {
    case fast::Outcome::kTranslated:
      return true;
    case fast::Outcome::kDropped:
      return false;
    case fast::Outcome::kFallback:
      break;
  }
  return AppendDomResult(TranslateItemTextDom(text), out);
}

kube::Result<std::optional<std::string>> Translator::TranslateItemTextDom(
    std::string_view text) const {
  auto parsed = json::Parse(text);  // depth-limited
  if (!parsed) return kube::NewInternalError("invalid object in the control plane's response");
  json::Document& doc = *parsed;
  if (!TranslateObject(doc, doc.GetAllocator())) return std::optional<std::string>();
  return std::optional<std::string>(json::Serialize(doc));
}

kube::Result<std::optional<std::string>> Translator::TranslateRowText(std::string_view text,
                                                                      const TableColumns& cols,
                                                                      bool keep_object) const {
  std::string out;
  auto kept = AppendRowText(text, cols, keep_object, out);
  if (!kept.ok()) return std::move(kept).error();
  if (!*kept) return std::optional<std::string>();
  return std::optional<std::string>(std::move(out));
}

size_t Translator::TryAppendListElement(std::string_view key, std::string_view rest,
                                        const TableColumns& cols, bool keep_object,
                                        std::string& out, bool& kept) const {
  size_t length = 0;
  const fast::Outcome o = key == "rows"
                              ? fast::AppendRow(*this, rest, cols, keep_object, out, &length)
                              : fast::AppendItem(*this, rest, out, &length);
  if (o == fast::Outcome::kFallback) return 0;
  kept = o == fast::Outcome::kTranslated;
  return length;
}

kube::Result<bool> Translator::AppendRowText(std::string_view text, const TableColumns& cols,
                                             bool keep_object, std::string& out) const {
  switch (fast::AppendRow(*this, text, cols, keep_object, out)) {
    case fast::Outcome::kTranslated:
      return true;
    case fast::Outcome::kDropped:
      return false;
    case fast::Outcome::kFallback:
      break;
  }
  return AppendDomResult(TranslateRowTextDom(text, cols, keep_object), out);
}

kube::Result<std::optional<std::string>> Translator::TranslateRowTextDom(std::string_view text,
                                                                         const TableColumns& cols,
                                                                         bool keep_object) const {
  auto parsed = json::Parse(text);  // depth-limited
  if (!parsed) return kube::NewInternalError("invalid table row in the control plane's response");
  json::Document& doc = *parsed;
  if (!TranslateTableRow(doc, doc.GetAllocator(), cols, keep_object))
    return std::optional<std::string>();
  return std::optional<std::string>(json::Serialize(doc));
}

bool Translator::TranslateDocument(json::Document& doc, bool keep_table_objects) const {
  auto& a = doc.GetAllocator();
  std::string_view kind = json::GetString(doc, "kind");
  if (kind == "Table") {
    TableColumns cols = ColumnsOf(json::Find(doc, "columnDefinitions"));
    if (Value* rows = json::Find(doc, "rows"); rows && rows->IsArray()) {
      Value kept(rapidjson::kArrayType);
      for (auto& row : rows->GetArray()) {
        if (TranslateTableRow(row, a, cols, keep_table_objects)) kept.PushBack(std::move(row), a);
      }
      *rows = std::move(kept);
    }
    return true;
  }
  if (Value* items = json::Find(doc, "items");
      items && items->IsArray() && (kind.size() > 4 && kind.substr(kind.size() - 4) == "List")) {
    Value kept(rapidjson::kArrayType);
    for (auto& item : items->GetArray()) {
      if (TranslateObject(item, a)) kept.PushBack(std::move(item), a);
    }
    *items = std::move(kept);
    return true;
  }
  if (kind == "Status") return true;
  return TranslateObject(doc, a);
}

kube::Result<std::optional<std::string>> Translator::TranslateWatchEvent(
    std::string_view text, bool keep_table_objects) const {
  std::string out;
  switch (fast::TranslateWatchEvent(*this, text, out)) {
    case fast::Outcome::kTranslated:
      return std::optional<std::string>(std::move(out));
    case fast::Outcome::kDropped:
      return std::optional<std::string>();
    case fast::Outcome::kFallback:
      break;
  }
  return TranslateWatchEventDom(text, keep_table_objects);
}

kube::Result<std::optional<std::string>> Translator::TranslateWatchEventDom(
    std::string_view text, bool keep_table_objects) const {
  auto parsed = json::Parse(text);  // depth-limited
  if (!parsed || !parsed->IsObject())
    return kube::NewInternalError("invalid watch event from the control plane");
  json::Document& doc = *parsed;
  std::string_view type = json::GetString(doc, "type");
  Value* obj = json::Find(doc, "object");
  if (!obj || !obj->IsObject())
    return kube::NewInternalError("invalid watch event from the control plane");
  auto& a = doc.GetAllocator();
  if (type == "BOOKMARK") return std::optional<std::string>(std::string(text));
  if (type == "ERROR") {
    if (auto st = kube::Status::FromJson(json::Serialize(*obj))) {
      return std::optional<std::string>(
          "{\"type\":\"ERROR\",\"object\":" + TranslateStatus(*st, nullptr).ToJson() + "}");
    }
    return std::optional<std::string>(std::string(text));
  }
  if (json::GetString(*obj, "kind") == "Table") {
    TableColumns cols = ColumnsOf(json::Find(*obj, "columnDefinitions"));
    Value* rows = json::Find(*obj, "rows");
    if (!rows || !rows->IsArray()) return std::optional<std::string>();
    Value kept(rapidjson::kArrayType);
    for (auto& row : rows->GetArray()) {
      if (TranslateTableRow(row, a, cols, keep_table_objects)) kept.PushBack(std::move(row), a);
    }
    if (kept.Size() == 0) return std::optional<std::string>();
    *rows = std::move(kept);
    return std::optional<std::string>(json::Serialize(doc));
  }
  if (!TranslateObject(*obj, a)) return std::optional<std::string>();
  return std::optional<std::string>(json::Serialize(doc));
}

kube::Status Translator::TranslateStatus(kube::Status s, const AppRef* target) const {
  auto replace_all = [](std::string& text, std::string_view from, std::string_view to) {
    if (from.empty()) return;
    for (size_t pos = text.find(from); pos != std::string::npos;
         pos = text.find(from, pos + to.size())) {
      text.replace(pos, from.size(), to);
    }
  };
  if (target) {
    std::string cp = ControlPlaneName(target->namespace_, target->name);
    // Quoted occurrences first (kube prints names with %q), then bare ones.
    for (std::string* text : {&s.message}) {
      replace_all(*text, Quote(cp), Quote(target->name));
      replace_all(*text, cp, target->name);
      replace_all(*text, "namespace " + Quote(scope_.claim_namespace),
                  "namespace " + Quote(target->namespace_));
    }
    for (auto& c : s.causes) {
      replace_all(c.message, cp, target->name);
      replace_all(c.field, cp, target->name);
    }
    if (s.name == cp) s.name = target->name;
  }
  return s;
}

std::string Translator::TranslateStatusBody(int http_status, std::string_view body,
                                            const AppRef* target) const {
  std::optional<kube::Status> st = kube::Status::FromJson(body);
  if (!st) {
    kube::Status generic = kube::NewInternalError(
        "the control plane answered " + std::to_string(http_status) + " without a Status");
    generic.code = http_status;
    st = generic;
  }
  return TranslateStatus(std::move(*st), target).ToJson();
}

}  // namespace proxy
