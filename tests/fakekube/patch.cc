#include "tests/fakekube/patch.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "kube/yaml.h"

namespace fakekube {

namespace json = kube::json;
using kube::Result;
using kube::Status;

namespace {

// patch.go answers failed JSON patch operations with NewGenericServerResponse(422, ...).
Status PatchInvalid(std::string_view why) {
  Status s;
  s.code = 422;
  s.reason = "Invalid";
  s.message = "the server rejected our request due to an error in our request";
  s.details_token = "json_patch_failed: " + std::string(why);
  return s;
}

std::optional<std::vector<std::string>> ParsePointer(std::string_view p) {
  std::vector<std::string> out;
  if (p.empty()) return out;
  if (p[0] != '/') return std::nullopt;
  p.remove_prefix(1);
  while (true) {
    size_t slash = p.find('/');
    std::string_view tok = p.substr(0, slash);
    std::string t;
    for (size_t i = 0; i < tok.size(); ++i) {
      if (tok[i] == '~' && i + 1 < tok.size() && tok[i + 1] == '1') {
        t += '/';
        ++i;
      } else if (tok[i] == '~' && i + 1 < tok.size() && tok[i + 1] == '0') {
        t += '~';
        ++i;
      } else {
        t += tok[i];
      }
    }
    out.push_back(std::move(t));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return out;
}

std::optional<size_t> ParseIndex(const std::string& t, size_t size, bool allow_end) {
  if (t == "-" && allow_end) return size;
  if (t.empty() || t.size() > 9) return std::nullopt;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (t.size() > 1 && t[0] == '0') return std::nullopt;
  size_t i = std::stoul(t);
  if (i > size || (!allow_end && i == size)) return std::nullopt;
  return i;
}

json::Value* Resolve(json::Value& root, const std::vector<std::string>& toks, size_t n) {
  json::Value* cur = &root;
  for (size_t i = 0; i < n; ++i) {
    if (cur->IsObject()) {
      cur = json::Find(*cur, toks[i]);
      if (!cur) return nullptr;
    } else if (cur->IsArray()) {
      auto idx = ParseIndex(toks[i], cur->Size(), false);
      if (!idx) return nullptr;
      cur = &(*cur)[rapidjson::SizeType(*idx)];
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::string PathString(std::string_view p) { return "\"" + std::string(p) + "\""; }

Result<kube::Ok> Add(json::Document& doc, const std::vector<std::string>& toks, json::Value v,
                     std::string_view path) {
  auto& a = doc.GetAllocator();
  if (toks.empty()) {
    doc.CopyFrom(v, a);
    return kube::Ok{};
  }
  json::Value* parent = Resolve(doc, toks, toks.size() - 1);
  if (!parent) return PatchInvalid("doc is missing path: " + PathString(path) + ": missing value");
  const std::string& last = toks.back();
  if (parent->IsObject()) {
    json::SetMember(*parent, last, std::move(v), a);
  } else if (parent->IsArray()) {
    auto idx = ParseIndex(last, parent->Size(), true);
    if (!idx) return PatchInvalid("add operation does not apply: index out of range");
    parent->PushBack(json::Value(), a);
    for (size_t i = parent->Size() - 1; i > *idx; --i) {
      (*parent)[rapidjson::SizeType(i)] = std::move((*parent)[rapidjson::SizeType(i - 1)]);
    }
    (*parent)[rapidjson::SizeType(*idx)] = std::move(v);
  } else {
    return PatchInvalid("doc is missing path: " + PathString(path) + ": missing value");
  }
  return kube::Ok{};
}

Result<json::Value> Remove(json::Document& doc, const std::vector<std::string>& toks,
                           std::string_view path) {
  if (toks.empty()) return PatchInvalid("unable to remove the whole document");
  json::Value* parent = Resolve(doc, toks, toks.size() - 1);
  const std::string& last = toks.back();
  if (parent && parent->IsObject()) {
    auto it = parent->FindMember(json::Value(rapidjson::StringRef(last.data(), last.size())));
    if (it == parent->MemberEnd()) {
      return PatchInvalid("Unable to remove nonexistent key: " + last + ": missing value");
    }
    json::Value out = std::move(it->value);
    parent->EraseMember(it);
    return out;
  }
  if (parent && parent->IsArray()) {
    auto idx = ParseIndex(last, parent->Size(), false);
    if (!idx) return PatchInvalid("Unable to remove nonexistent key: " + last + ": missing value");
    json::Value out = std::move((*parent)[rapidjson::SizeType(*idx)]);
    parent->Erase(parent->Begin() + *idx);
    return out;
  }
  return PatchInvalid("doc is missing path: " + PathString(path) + ": missing value");
}

// ---- field sets (FieldsV1 trees: {"f:key": {...}}; {} is a leaf) ----

bool IgnoredField(const std::vector<std::string_view>& path) {
  if (path.size() == 1) {
    return path[0] == "apiVersion" || path[0] == "kind";
  }
  if (path.size() == 2 && path[0] == "metadata") {
    static const std::set<std::string_view> kIgnored = {"name",
                                                        "namespace",
                                                        "uid",
                                                        "resourceVersion",
                                                        "generation",
                                                        "creationTimestamp",
                                                        "selfLink",
                                                        "managedFields",
                                                        "deletionTimestamp",
                                                        "deletionGracePeriodSeconds",
                                                        "generateName"};
    return kIgnored.count(path[1]) > 0;
  }
  return false;
}

// Builds the field set of `v` at `path`.
void FieldsOf(const json::Value& v, std::vector<std::string_view>& path, json::Value& out,
              json::Allocator& a) {
  for (auto& m : v.GetObject()) {
    std::string_view key = json::View(m.name);
    path.push_back(key);
    if (!IgnoredField(path)) {
      json::Value child(rapidjson::kObjectType);
      if (m.value.IsObject() && !m.value.ObjectEmpty()) FieldsOf(m.value, path, child, a);
      if (!(m.value.IsObject() && !m.value.ObjectEmpty() && child.ObjectEmpty())) {
        out.AddMember(json::Str("f:" + std::string(key), a), std::move(child), a);
      }
    }
    path.pop_back();
  }
}

// Fields whose value differs between old and new (added or changed leaves, and leaves removed).
void DiffFields(const json::Value* old_v, const json::Value& new_v,
                std::vector<std::string_view>& path, json::Value& changed, json::Value& removed,
                json::Allocator& a) {
  for (auto& m : new_v.GetObject()) {
    std::string_view key = json::View(m.name);
    path.push_back(key);
    if (!IgnoredField(path)) {
      const json::Value* o = old_v ? json::Find(*old_v, key) : nullptr;
      bool both_objects = m.value.IsObject() && !m.value.ObjectEmpty() && o && o->IsObject();
      if (both_objects) {
        json::Value c(rapidjson::kObjectType), r(rapidjson::kObjectType);
        DiffFields(o, m.value, path, c, r, a);
        if (!c.ObjectEmpty()) changed.AddMember(json::Str("f:" + std::string(key), a), c, a);
        if (!r.ObjectEmpty()) removed.AddMember(json::Str("f:" + std::string(key), a), r, a);
      } else if (!o || *o != m.value) {
        json::Value c(rapidjson::kObjectType);
        if (m.value.IsObject() && !m.value.ObjectEmpty()) FieldsOf(m.value, path, c, a);
        changed.AddMember(json::Str("f:" + std::string(key), a), c, a);
      }
    }
    path.pop_back();
  }
  if (!old_v || !old_v->IsObject()) return;
  for (auto& m : old_v->GetObject()) {
    std::string_view key = json::View(m.name);
    path.push_back(key);
    if (!IgnoredField(path) && !json::Find(new_v, key)) {
      removed.AddMember(json::Str("f:" + std::string(key), a), json::Value(rapidjson::kObjectType),
                        a);
    }
    path.pop_back();
  }
}

// a -= b. A leaf in b removes a's whole subtree. Returns true when a became empty.
bool Subtract(json::Value& a_set, const json::Value& b_set) {
  for (auto it = a_set.MemberBegin(); it != a_set.MemberEnd();) {
    const json::Value* b = json::Find(b_set, json::View(it->name));
    bool erase = false;
    if (b) {
      if (b->ObjectEmpty()) {
        erase = true;
      } else if (!it->value.ObjectEmpty()) {
        erase = Subtract(it->value, *b);
      }
    }
    if (erase) {
      it = a_set.EraseMember(it);
    } else {
      ++it;
    }
  }
  return a_set.ObjectEmpty();
}

void Union(json::Value& a_set, const json::Value& b_set, json::Allocator& a) {
  for (auto& m : b_set.GetObject()) {
    json::Value* existing = json::Find(a_set, json::View(m.name));
    if (!existing) {
      json::Value copy;
      copy.CopyFrom(m.value, a);
      a_set.AddMember(json::Str(json::View(m.name), a), std::move(copy), a);
    } else if (!existing->ObjectEmpty() && !m.value.ObjectEmpty()) {
      Union(*existing, m.value, a);
    } else if (!existing->ObjectEmpty() && m.value.ObjectEmpty()) {
      existing->SetObject();  // the leaf (whole value) wins
    }
  }
}

// Leaves of `set` as paths ("spec", "replicas").
void Leaves(const json::Value& set, std::vector<std::string>& path,
            std::vector<std::vector<std::string>>& out) {
  for (auto& m : set.GetObject()) {
    std::string_view k = json::View(m.name);
    path.emplace_back(k.substr(2));
    if (m.value.ObjectEmpty()) {
      out.push_back(path);
    } else {
      Leaves(m.value, path, out);
    }
    path.pop_back();
  }
}

// Whether any leaf of `owned` covers or lies under `path`.
bool Owns(const json::Value& owned, const std::vector<std::string>& path) {
  const json::Value* cur = &owned;
  for (auto& p : path) {
    const json::Value* next = json::Find(*cur, "f:" + p);
    if (!next) return false;
    if (next->ObjectEmpty()) return true;
    cur = next;
  }
  return true;
}

const json::Value* At(const json::Value& obj, const std::vector<std::string>& path) {
  const json::Value* cur = &obj;
  for (auto& p : path) {
    cur = json::Find(*cur, p);
    if (!cur) return nullptr;
  }
  return cur;
}

// Removes the field at `path`, then parents the removal left empty (nobody owns an empty map
// that only held removed fields).
void RemoveAt(json::Value& obj, const std::vector<std::string>& path) {
  std::vector<json::Value*> chain = {&obj};
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    json::Value* next = json::Find(*chain.back(), path[i]);
    if (!next || !next->IsObject()) return;
    chain.push_back(next);
  }
  if (!json::RemoveMember(*chain.back(), path.back())) return;
  for (size_t i = chain.size() - 1; i > 0; --i) {
    if (!chain[i]->ObjectEmpty()) break;
    json::RemoveMember(*chain[i - 1], path[i - 1]);
  }
}

std::string DotPath(const std::vector<std::string>& path) {
  std::string s;
  for (auto& p : path) s += "." + p;
  return s;
}

struct Entry {
  std::string manager, operation, api_version, time, subresource;
  json::Document fields;
};

std::vector<Entry> ReadManagedFields(const json::Value* obj) {
  std::vector<Entry> out;
  if (!obj) return out;
  const json::Value* meta = json::Find(*obj, "metadata");
  const json::Value* mf = meta ? json::Find(*meta, "managedFields") : nullptr;
  if (!mf || !mf->IsArray()) return out;
  for (auto& e : mf->GetArray()) {
    Entry en;
    en.manager = json::GetString(e, "manager");
    en.operation = json::GetString(e, "operation");
    en.api_version = json::GetString(e, "apiVersion");
    en.time = json::GetString(e, "time");
    en.subresource = json::GetString(e, "subresource");
    en.fields.SetObject();
    if (const json::Value* f = json::Find(e, "fieldsV1"); f && f->IsObject()) {
      en.fields.CopyFrom(*f, en.fields.GetAllocator());
    }
    out.push_back(std::move(en));
  }
  return out;
}

void WriteManagedFields(json::Document& obj, std::vector<Entry>& entries) {
  auto& a = obj.GetAllocator();
  json::Value& meta = json::EnsureObject(obj, "metadata", a);
  json::Value arr(rapidjson::kArrayType);
  for (auto& e : entries) {
    if (e.fields.ObjectEmpty()) continue;  // kube drops managers that own nothing
    json::Value v(rapidjson::kObjectType);
    v.AddMember("manager", json::Str(e.manager, a), a);
    v.AddMember("operation", json::Str(e.operation, a), a);
    v.AddMember("apiVersion", json::Str(e.api_version, a), a);
    v.AddMember("time", json::Str(e.time, a), a);
    v.AddMember("fieldsType", "FieldsV1", a);
    json::Value f;
    f.CopyFrom(e.fields, a);
    v.AddMember("fieldsV1", std::move(f), a);
    if (!e.subresource.empty()) v.AddMember("subresource", json::Str(e.subresource, a), a);
    arr.PushBack(std::move(v), a);
  }
  if (arr.Empty()) {
    json::RemoveMember(meta, "managedFields");
  } else {
    json::SetMember(meta, "managedFields", std::move(arr), a);
  }
}

Entry& FindOrAdd(std::vector<Entry>& entries, const ManagerInfo& info, std::string_view operation) {
  for (auto& e : entries) {
    if (e.manager == info.manager && e.operation == operation &&
        e.subresource == info.subresource) {
      e.api_version = info.api_version;
      e.time = info.time;
      return e;
    }
  }
  Entry e;
  e.manager = info.manager;
  e.operation = operation;
  e.api_version = info.api_version;
  e.time = info.time;
  e.subresource = info.subresource;
  e.fields.SetObject();
  entries.push_back(std::move(e));
  return entries.back();
}

// Sets every field of `src` into `dst` (objects merged, everything else replaced).
void ApplyInto(json::Value& dst, const json::Value& src, json::Allocator& a) {
  for (auto& m : src.GetObject()) {
    std::string_view key = json::View(m.name);
    json::Value* d = json::Find(dst, key);
    if (d && d->IsObject() && m.value.IsObject()) {
      ApplyInto(*d, m.value, a);
    } else {
      json::Value copy;
      copy.CopyFrom(m.value, a);
      json::SetMember(dst, key, std::move(copy), a);
    }
  }
}

}  // namespace

Result<json::Document> ApplyJsonPatch(const json::Value& target, std::string_view patch) {
  auto ops = json::Parse(patch);
  if (!ops || !ops->IsArray()) {
    return kube::NewBadRequest(
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  }
  json::Document doc;
  doc.CopyFrom(target, doc.GetAllocator());
  auto& a = doc.GetAllocator();
  for (auto& op : ops->GetArray()) {
    if (!op.IsObject()) return kube::NewBadRequest("invalid JSON patch operation");
    std::string_view kind = json::GetString(op, "op");
    std::string_view path = json::GetString(op, "path");
    auto toks = ParsePointer(path);
    if (!toks) return PatchInvalid("invalid path " + PathString(path));
    const json::Value* value = json::Find(op, "value");
    if (kind == "add" || kind == "replace") {
      if (!value) return PatchInvalid("missing value");
      if (kind == "replace") {
        if (!toks->empty() && !Resolve(doc, *toks, toks->size())) {
          return PatchInvalid("replace operation does not apply: doc is missing key: " +
                              std::string(path) + ": missing value");
        }
        if (!toks->empty()) {
          auto removed = Remove(doc, *toks, path);
          if (!removed.ok()) return std::move(removed).error();
        }
      }
      json::Value v;
      v.CopyFrom(*value, a);
      auto r = Add(doc, *toks, std::move(v), path);
      if (!r.ok()) return std::move(r).error();
    } else if (kind == "remove") {
      auto r = Remove(doc, *toks, path);
      if (!r.ok()) return std::move(r).error();
    } else if (kind == "move" || kind == "copy") {
      std::string_view from = json::GetString(op, "from");
      auto ftoks = ParsePointer(from);
      if (!ftoks) return PatchInvalid("invalid from path");
      json::Value v;
      if (kind == "move") {
        auto r = Remove(doc, *ftoks, from);
        if (!r.ok()) return std::move(r).error();
        v = std::move(*r);
      } else {
        json::Value* src = Resolve(doc, *ftoks, ftoks->size());
        if (!src) return PatchInvalid("copy from does not exist: " + std::string(from));
        v.CopyFrom(*src, a);
      }
      auto r = Add(doc, *toks, std::move(v), path);
      if (!r.ok()) return std::move(r).error();
    } else if (kind == "test") {
      json::Value* cur = Resolve(doc, *toks, toks->size());
      bool equal = value ? (cur ? *cur == *value : value->IsNull()) : false;
      if (!equal)
        return PatchInvalid("testing value " + std::string(path) + " failed: test failed");
    } else {
      return kube::NewBadRequest("Unexpected kind: " + std::string(kind));
    }
  }
  return doc;
}

void MergePatchInPlace(json::Value& target, const json::Value& patch, json::Allocator& a) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, a);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  for (auto& m : patch.GetObject()) {
    std::string_view key = json::View(m.name);
    if (m.value.IsNull()) {
      json::RemoveMember(target, key);
      continue;
    }
    json::Value* existing = json::Find(target, key);
    if (!existing) {
      json::Value v(rapidjson::kObjectType);
      if (m.value.IsObject()) {
        MergePatchInPlace(v, m.value, a);
      } else {
        v.CopyFrom(m.value, a);
      }
      target.AddMember(json::Str(key, a), std::move(v), a);
    } else {
      MergePatchInPlace(*existing, m.value, a);
    }
  }
}

Result<json::Document> ApplyMergePatch(const json::Value& target, std::string_view patch) {
  auto p = json::Parse(patch);
  if (!p) return kube::NewBadRequest("error decoding patch: invalid JSON document");
  json::Document doc;
  doc.CopyFrom(target, doc.GetAllocator());
  MergePatchInPlace(doc, *p, doc.GetAllocator());
  return doc;
}

Result<json::Document> YamlToJson(std::string_view yaml) {
  // kube's decoders: sigs.k8s.io/yaml over go-yaml v2 (JSON parsed exactly first).
  return kube::yaml::ToJson(yaml);
}

void RecordUpdate(const json::Value* old_obj, json::Document& new_obj, const ManagerInfo& info) {
  auto& a = new_obj.GetAllocator();
  std::vector<Entry> entries = ReadManagedFields(old_obj);
  // A client may set managedFields itself (e.g. to clear them with []); kube honours that.
  if (const json::Value* meta = json::Find(new_obj, "metadata")) {
    const json::Value* mf = json::Find(*meta, "managedFields");
    const json::Value* old_mf = old_obj && json::Find(*old_obj, "metadata")
                                    ? json::Find(*json::Find(*old_obj, "metadata"), "managedFields")
                                    : nullptr;
    if (mf && (!old_mf || *mf != *old_mf)) entries = ReadManagedFields(&new_obj);
  }
  json::Document changed(rapidjson::kObjectType), removed(rapidjson::kObjectType);
  std::vector<std::string_view> path;
  DiffFields(old_obj, new_obj, path, changed, removed, changed.GetAllocator());
  for (auto& e : entries) {
    Subtract(e.fields, changed);
    Subtract(e.fields, removed);
  }
  if (!changed.ObjectEmpty()) {
    Entry& mine = FindOrAdd(entries, info, "Update");
    Union(mine.fields, changed, mine.fields.GetAllocator());
  }
  (void)a;
  WriteManagedFields(new_obj, entries);
}

Result<json::Document> ServerSideApply(const json::Value* current, const json::Value& applied,
                                       const ApplyOptions& opts) {
  if (!applied.IsObject()) return kube::NewBadRequest("the applied object is not an object");
  json::Document applied_set(rapidjson::kObjectType);
  std::vector<std::string_view> path;
  FieldsOf(applied, path, applied_set, applied_set.GetAllocator());

  std::vector<Entry> entries = ReadManagedFields(current);
  json::Document result;
  if (current) {
    result.CopyFrom(*current, result.GetAllocator());
  } else {
    result.SetObject();
  }
  auto& a = result.GetAllocator();

  // Conflicts: fields another manager owns whose value the apply would change.
  std::vector<std::vector<std::string>> leaves;
  std::vector<std::string> lp;
  Leaves(applied_set, lp, leaves);
  struct Conflict {
    std::string manager, api_version, path;
  };
  std::vector<Conflict> conflicts;
  std::vector<std::vector<std::string>> taken;
  for (auto& e : entries) {
    if (e.manager == opts.info.manager && e.subresource == opts.info.subresource) continue;
    if (!e.subresource.empty() && e.subresource != opts.info.subresource) continue;
    for (auto& leaf : leaves) {
      if (!Owns(e.fields, leaf)) continue;
      const json::Value* cur = current ? At(*current, leaf) : nullptr;
      const json::Value* want = At(applied, leaf);
      if (cur && want && *cur == *want) continue;  // same value: shared ownership
      conflicts.push_back({e.manager, e.api_version, DotPath(leaf)});
      taken.push_back(leaf);
    }
  }
  if (!conflicts.empty() && !opts.force) {
    Status s;
    s.code = 409;
    s.reason = "Conflict";
    if (conflicts.size() == 1) {
      s.message = "Apply failed with 1 conflict: conflict with \"" + conflicts[0].manager + "\"" +
                  (conflicts[0].api_version.empty() ? "" : " using " + conflicts[0].api_version) +
                  ": " + conflicts[0].path;
    } else {
      s.message = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
      std::map<std::string, std::vector<std::string>> by_mgr;
      std::map<std::string, std::string> versions;
      for (auto& c : conflicts) {
        by_mgr[c.manager].push_back(c.path);
        versions[c.manager] = c.api_version;
      }
      bool first = true;
      for (auto& [m, paths] : by_mgr) {
        if (!first) s.message += "\n";
        first = false;
        s.message += "conflicts with \"" + m + "\"" +
                     (versions[m].empty() ? "" : " using " + versions[m]) + ":";
        for (auto& p : paths) s.message += "\n- " + p;
      }
    }
    for (auto& c : conflicts) {
      s.causes.push_back({"FieldManagerConflict",
                          "conflict with \"" + c.manager + "\"" +
                              (c.api_version.empty() ? "" : " using " + c.api_version),
                          c.path});
    }
    return s;
  }

  // Fields this manager applied before but no longer does, owned by nobody else: removed.
  json::Document others(rapidjson::kObjectType);
  json::Document previous(rapidjson::kObjectType);
  for (auto& e : entries) {
    if (e.manager == opts.info.manager && e.operation == "Apply" &&
        e.subresource == opts.info.subresource) {
      previous.CopyFrom(e.fields, previous.GetAllocator());
    } else if (e.subresource == opts.info.subresource) {
      Union(others, e.fields, others.GetAllocator());
    }
  }
  if (!previous.ObjectEmpty()) {
    Subtract(previous, applied_set);
    std::vector<std::vector<std::string>> stale;
    std::vector<std::string> sp;
    Leaves(previous, sp, stale);
    for (auto& leaf : stale) {
      if (Owns(others, leaf)) continue;
      RemoveAt(result, leaf);
    }
  }

  // Merge the applied configuration.
  ApplyInto(result, applied, a);

  // Ownership: forced fields move to this manager; it owns exactly what it applied.
  if (!taken.empty()) {
    json::Document taken_set(rapidjson::kObjectType);
    auto& ta = taken_set.GetAllocator();
    for (auto& leaf : taken) {
      json::Value* cur = &taken_set;
      for (size_t i = 0; i < leaf.size(); ++i) {
        std::string k = "f:" + leaf[i];
        json::Value* next = json::Find(*cur, k);
        if (!next) {
          cur->AddMember(json::Str(k, ta), json::Value(rapidjson::kObjectType), ta);
          next = &(cur->MemberEnd() - 1)->value;
        }
        cur = next;
      }
    }
    for (auto& e : entries) {
      if (e.manager == opts.info.manager) continue;
      Subtract(e.fields, taken_set);
    }
  }
  Entry& mine = FindOrAdd(entries, opts.info, "Apply");
  mine.fields.CopyFrom(applied_set, mine.fields.GetAllocator());
  WriteManagedFields(result, entries);
  return result;
}

}  // namespace fakekube
