#include "tests/fakekube/resource_handler.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <glog/logging.h>

#include <algorithm>
#include <atomic>
#include <set>

#include "kube/selectors.h"
#include "naming/naming.h"
#include "tests/fakekube/patch.h"
#include "tests/fakekube/protobuf.h"
#include "tests/fakekube/registry.h"
#include "tests/fakekube/store.h"
#include "tests/fakekube/table.h"

namespace fakekube {

namespace asio = boost::asio;
namespace json = kube::json;
using kube::GroupResource;
using kube::Result;
using kube::Status;
using kube::http::Headers;
using kube::http::Request;
using kube::http::ResponseWriter;

namespace {

constexpr std::string_view kNotFoundMessage = "the server could not find the requested resource";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct MediaRange {
  std::string type;  // lower-case "application/json"
  std::map<std::string, std::string> params;
};

std::vector<MediaRange> ParseAccept(std::string_view header) {
  std::vector<MediaRange> out;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = Trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (item.empty()) continue;
    MediaRange r;
    size_t semi = item.find(';');
    r.type = Lower(Trim(item.substr(0, semi)));
    while (semi != std::string_view::npos) {
      item.remove_prefix(semi + 1);
      semi = item.find(';');
      std::string_view p = Trim(item.substr(0, semi));
      size_t eq = p.find('=');
      if (eq == std::string_view::npos) continue;
      r.params[Lower(Trim(p.substr(0, eq)))] = std::string(Trim(p.substr(eq + 1)));
    }
    auto q = r.params.find("q");
    if (q != r.params.end() && std::atof(q->second.c_str()) <= 0) continue;
    out.push_back(std::move(r));
  }
  return out;
}

std::string MediaType(std::string_view content_type) {
  return Lower(Trim(content_type.substr(0, content_type.find(';'))));
}

enum class OutputKind { kObject, kTable, kPartial, kPartialList };

struct Output {
  OutputKind kind = OutputKind::kObject;
  std::string meta_version = "v1";  // for Table / PartialObjectMetadata
  std::string content_type = "application/json";
};

// Content negotiation (k8s.io/apiserver pkg/endpoints/handlers/negotiation + response.go).
Result<Output> Negotiate(const Request& req, bool list_like) {
  std::string accept(req.headers.Get("Accept").value_or(""));
  if (Trim(accept).empty()) return Output{};
  for (const MediaRange& r : ParseAccept(accept)) {
    bool json_like = r.type == "application/json" || r.type == "*/*" || r.type == "application/*" ||
                     r.type == "application/yaml";
    if (!json_like) continue;  // protobuf and others are not served
    auto as = r.params.find("as");
    if (as == r.params.end()) {
      if (r.params.count("g") || r.params.count("v")) continue;
      return Output{};
    }
    auto g = r.params.find("g");
    auto v = r.params.find("v");
    if (g == r.params.end() || g->second != "meta.k8s.io" || v == r.params.end() ||
        (v->second != "v1" && v->second != "v1beta1")) {
      continue;
    }
    Output o;
    o.meta_version = v->second;
    if (as->second == "Table") {
      o.kind = OutputKind::kTable;
    } else if (as->second == "PartialObjectMetadata" && !list_like) {
      o.kind = OutputKind::kPartial;
    } else if (as->second == "PartialObjectMetadataList" && list_like) {
      o.kind = OutputKind::kPartialList;
    } else if (as->second == "PartialObjectMetadata" && req.query.Get("watch")) {
      o.kind = OutputKind::kPartialList;
    } else {
      continue;
    }
    o.content_type = "application/json;as=" + as->second + ";g=meta.k8s.io;v=" + v->second;
    return o;
  }
  return kube::NewNotAcceptable(
      "only the following media types are accepted: application/json, application/yaml, "
      "application/vnd.kubernetes.protobuf");
}

bool TruthyParam(const kube::http::Query& q, std::string_view key) {
  auto v = q.Get(key);
  return v && (*v == "true" || *v == "1" || *v == "True");
}

kube::LabelMap LabelsOf(const json::Value& obj) {
  kube::LabelMap out;
  const json::Value* m = json::Find(obj, "metadata");
  const json::Value* l = m ? json::Find(*m, "labels") : nullptr;
  if (l && l->IsObject()) {
    for (auto& kv : l->GetObject()) {
      out.emplace(std::string(json::View(kv.name)), std::string(json::View(kv.value)));
    }
  }
  return out;
}

std::string GoQuote(std::string_view s) { return "\"" + std::string(s) + "\""; }

struct DeleteSpec {
  DeleteOptions store;
  bool dry_run = false;
};

std::string FieldManagerFromUserAgent(const Request& req) {
  std::string ua(req.headers.Get("User-Agent").value_or(""));
  auto slash = ua.find('/');
  if (slash != std::string::npos) ua = ua.substr(0, slash);
  if (ua.size() > 128) ua = ua.substr(0, 128);
  return ua.empty() ? "unknown" : ua;
}

}  // namespace

struct ResourceHandler::Impl {
  Store* store;
  Registry* registry;
  Options options;
  std::atomic<int> open_watches{0};

  // ---- responses ----
  static asio::awaitable<void> SendStatus(ResponseWriter& w, const Status& s) {
    Headers h;
    h.Set("Content-Type", "application/json");
    if (s.retry_after_seconds) h.Set("Retry-After", std::to_string(*s.retry_after_seconds));
    co_await w.Send(s.code, std::move(h), s.ToJson());
  }
  static asio::awaitable<void> SendJson(ResponseWriter& w, int code, const json::Value& v,
                                        std::string content_type = "application/json") {
    Headers h;
    h.Set("Content-Type", std::move(content_type));
    co_await w.Send(code, std::move(h), json::Serialize(v));
  }

  // ---- object presentation ----
  static json::Document Present(const ServedResource& r, const json::Value& obj) {
    json::Document d = CopyObject(obj);
    auto& a = d.GetAllocator();
    if (!d.IsObject()) return d;
    // apiVersion and kind first, as kube encodes them.
    json::RemoveMember(d, "apiVersion");
    json::RemoveMember(d, "kind");
    json::Document out(rapidjson::kObjectType);
    auto& oa = out.GetAllocator();
    out.AddMember("apiVersion", json::Str(r.api.GroupVersion(), oa), oa);
    out.AddMember("kind", json::Str(r.api.kind, oa), oa);
    for (auto& m : d.GetObject()) {
      json::Value k, v;
      k.CopyFrom(m.name, oa);
      v.CopyFrom(m.value, oa);
      out.AddMember(std::move(k), std::move(v), oa);
    }
    (void)a;
    return out;
  }

  // Appends `obj` as served: apiVersion/kind of the request (or none, for typed list items)
  // first, then the stored members; no intermediate copy (lists of 10,000 items).
  static void AppendPresented(const ServedResource& r, const json::Value& obj, bool with_type,
                              std::string& out) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> wr(sb);
    wr.StartObject();
    if (with_type) {
      std::string gv = r.api.GroupVersion();
      wr.Key("apiVersion");
      wr.String(gv.data(), rapidjson::SizeType(gv.size()));
      wr.Key("kind");
      wr.String(r.api.kind.data(), rapidjson::SizeType(r.api.kind.size()));
    }
    if (obj.IsObject()) {
      for (auto& m : obj.GetObject()) {
        std::string_view k = json::View(m.name);
        if (k == "apiVersion" || k == "kind") continue;
        wr.Key(k.data(), rapidjson::SizeType(k.size()));
        m.value.Accept(wr);
      }
    }
    wr.EndObject();
    out.append(sb.GetString(), sb.GetSize());
  }

  static json::Document Render(const ServedResource& r, const json::Value& obj, const Output& o,
                               const Request& req) {
    json::Document p = Present(r, obj);
    if (o.kind == OutputKind::kObject) return p;
    json::Document d;
    if (o.kind == OutputKind::kTable) {
      TableOptions to;
      to.include = IncludeFrom(req);
      to.api_version = "meta.k8s.io/" + o.meta_version;
      std::vector<const json::Value*> objs = {&p};
      json::Document t = RenderTable(r.api, objs, to, ResourceVersionOf(obj));
      return t;
    }
    json::Value v = PartialObjectMetadata(p, d.GetAllocator(), "meta.k8s.io/" + o.meta_version);
    static_cast<json::Value&>(d) = std::move(v);
    return d;
  }

  static IncludeObject IncludeFrom(const Request& req) {
    auto v = req.query.Get("includeObject");
    if (v && *v == "None") return IncludeObject::kNone;
    if (v && *v == "Object") return IncludeObject::kObject;
    return IncludeObject::kMetadata;
  }

  static std::string ResourceVersionOf(const json::Value& obj) {
    const json::Value* m = json::Find(obj, "metadata");
    return m ? std::string(json::GetString(*m, "resourceVersion")) : std::string();
  }

  static std::string KindGroup(const ServedResource& r) {
    return r.api.group.empty() ? r.api.kind : r.api.kind + "." + r.api.group;
  }

  // ---- request parsing ----
  Result<json::Document> DecodeBody(const Request& req, const ServedResource& r) {
    if (req.body.size() > options.max_body_bytes) {
      return kube::NewRequestEntityTooLarge("limit is " + std::to_string(options.max_body_bytes));
    }
    std::string ct = MediaType(req.headers.Get("Content-Type").value_or("application/json"));
    Result<json::Document> doc = kube::NewBadRequest("");
    if (ct.empty() || ct == "application/json" || ct == "*/*") {
      auto parsed = json::Parse(req.body);
      if (!parsed) {
        return kube::NewBadRequest("the object provided is unrecognized (must be of type " +
                                   r.api.kind +
                                   "): couldn't get version/kind; json parse error: "
                                   "invalid character");
      }
      doc = std::move(*parsed);
    } else if (ct == "application/yaml") {
      doc = YamlToJson(req.body);
      if (!doc.ok()) return std::move(doc).error();
    } else if (ct == "application/vnd.kubernetes.protobuf" && r.builtin) {
      doc = DecodeProtobuf(req.body);
      if (!doc.ok()) return std::move(doc).error();
    } else {
      return kube::NewUnsupportedMediaType(r.builtin ? "application/json, application/yaml, "
                                                       "application/vnd.kubernetes.protobuf"
                                                     : "application/json, application/yaml");
    }
    if (!doc->IsObject()) {
      return kube::NewBadRequest("the object provided is unrecognized (must be of type " +
                                 r.api.kind +
                                 "): couldn't get version/kind; json parse error: "
                                 "json: cannot unmarshal into Go value of type struct");
    }
    auto checked = CheckTypeMeta(*doc, r);
    if (!checked.ok()) return std::move(checked).error();
    return doc;
  }

  // apiVersion/kind of a body must name this resource (built-ins default them when missing).
  static kube::Outcome CheckTypeMeta(json::Document& doc, const ServedResource& r) {
    auto& a = doc.GetAllocator();
    std::string_view api = json::GetString(doc, "apiVersion");
    std::string_view kind = json::GetString(doc, "kind");
    if (kind.empty()) {
      if (!r.builtin) {
        return kube::NewBadRequest("Object 'Kind' is missing in '" + json::Serialize(doc) + "'");
      }
      json::SetString(doc, "kind", r.api.kind, a);
      kind = r.api.kind;
    }
    if (api.empty()) {
      if (!r.builtin) {
        return kube::NewBadRequest("Object 'apiVersion' is missing in '" + json::Serialize(doc) +
                                   "'");
      }
      json::SetString(doc, "apiVersion", r.api.GroupVersion(), a);
      api = json::GetString(doc, "apiVersion");
    }
    std::string_view group =
        api.find('/') == std::string_view::npos ? std::string_view() : api.substr(0, api.find('/'));
    std::string_view version =
        api.substr(api.find('/') == std::string_view::npos ? 0 : api.find('/') + 1);
    bool version_ok = group == r.api.group &&
                      std::find(r.versions.begin(), r.versions.end(), version) != r.versions.end();
    if (!version_ok) {
      return kube::NewBadRequest("the API version in the data (" + std::string(api) +
                                 ") does not match the expected API version (" +
                                 r.api.GroupVersion() + ")");
    }
    if (kind != r.api.kind) {
      return kube::NewBadRequest("the kind in the data (" + std::string(kind) +
                                 ") does not match the expected kind (" + r.api.kind + ")");
    }
    return kube::Ok{};
  }

  static Result<bool> DryRun(const Request& req, std::string_view options_kind) {
    auto all = req.query.GetAll("dryRun");
    for (auto v : all) {
      if (v != "All") {
        return kube::NewInvalid(
            std::string(options_kind) + ".meta.k8s.io", "",
            {{"FieldValueNotSupported",
              "Unsupported value: " + GoQuote(v) + ": supported values: \"All\"", "dryRun"}});
      }
    }
    return !all.empty();
  }

  // Name/namespace validation for a create (ValidateObjectMeta with the resource's name rules).
  static kube::Outcome ValidateCreate(const ServedResource& r, const json::Value& obj) {
    const json::Value* m = json::Find(obj, "metadata");
    std::string_view name = m ? json::GetString(*m, "name") : std::string_view();
    std::string_view generate = m ? json::GetString(*m, "generateName") : std::string_view();
    std::vector<kube::StatusCause> causes;
    // kube generates the name (BeforeCreate) before validating; the store generates the real
    // one (retrying on a clash), validation sees an equivalent candidate.
    std::string candidate;
    if (name.empty() && !generate.empty()) {
      candidate = naming::GenerateName(generate);
      name = candidate;
    }
    if (r.api.resource == "namespaces" && r.api.group.empty() && !name.empty()) {
      for (auto& msg : naming::IsDNS1123Label(name)) {
        causes.push_back(
            {"FieldValueInvalid", "Invalid value: " + GoQuote(name) + ": " + msg, "metadata.name"});
      }
    } else {
      causes = naming::ValidateObjectName(name, generate);
    }
    if (r.crd_name.empty() && r.api.resource == "customresourcedefinitions" && !name.empty()) {
      const json::Value* spec = json::Find(obj, "spec");
      const json::Value* names = spec ? json::Find(*spec, "names") : nullptr;
      std::string want = std::string(names ? json::GetString(*names, "plural") : "") + "." +
                         std::string(spec ? json::GetString(*spec, "group") : "");
      if (want != name) {
        causes.push_back(
            {"FieldValueInvalid",
             "Invalid value: " + GoQuote(name) + ": must be spec.names.plural+\".\"+spec.group",
             "metadata.name"});
      }
    }
    if (!causes.empty()) {
      return kube::NewInvalid(KindGroup(r), candidate.empty() ? name : generate, std::move(causes));
    }
    return kube::Ok{};
  }

  // The request's label + field selectors as a store predicate.
  Result<std::function<bool(const json::Value&)>> Selector(const Request& req,
                                                           const ServedResource& r) {
    kube::LabelSelector ls;
    kube::FieldSelector fs;
    if (auto l = req.query.Get("labelSelector"); l && !l->empty()) {
      auto parsed = kube::LabelSelector::Parse(*l);
      if (auto* err = std::get_if<std::string>(&parsed)) return kube::NewBadRequest(*err);
      ls = std::get<kube::LabelSelector>(std::move(parsed));
    }
    if (auto f = req.query.Get("fieldSelector"); f && !f->empty()) {
      auto parsed = kube::FieldSelector::Parse(*f);
      if (auto* err = std::get_if<std::string>(&parsed)) return kube::NewBadRequest(*err);
      fs = std::get<kube::FieldSelector>(std::move(parsed));
      std::set<std::string, std::less<>> allowed = {"metadata.name", "metadata.namespace"};
      if (r.builtin) {
        if (r.api.resource == "secrets") allowed.insert("type");
        if (r.api.resource == "namespaces") allowed.insert("status.phase");
        if (r.api.resource == "events") {
          for (auto f2 :
               {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}) {
            allowed.insert(f2);
          }
        }
      }
      for (auto field : fs.Fields()) {
        if (allowed.count(field)) continue;
        if (r.builtin)
          return kube::NewBadRequest("field label not supported: " + std::string(field));
        return kube::NewBadRequest(GoQuote(field) +
                                   " is not a known field selector: only \"metadata.name\", "
                                   "\"metadata.namespace\"");
      }
    }
    if (ls.Empty() && fs.Empty()) return std::function<bool(const json::Value&)>();
    return std::function<bool(const json::Value&)>(
        [ls = std::move(ls), fs = std::move(fs)](const json::Value& obj) {
          if (!ls.Empty() && !ls.Matches(LabelsOf(obj))) return false;
          if (!fs.Empty()) {
            auto getter = [&obj](std::string_view field) -> std::optional<std::string> {
              const json::Value* v = json::FindPath(obj, field);
              if (!v) return std::nullopt;
              if (v->IsString()) return std::string(json::View(*v));
              return json::Serialize(*v);
            };
            if (!fs.Matches(getter)) return false;
          }
          return true;
        });
  }

  // ---- strategies ----
  // Applies the resource's update strategy for a main-resource or status write: keeps status
  // (main) or everything but status (status), and bumps generation on spec changes.
  static bool IsNamespaces(const ServedResource& r) {
    return r.builtin && r.api.group.empty() && r.api.resource == "namespaces";
  }

  // namespaceFinalizeStrategy: PUT /api/v1/namespaces/{name}/finalize changes spec.finalizers
  // (and nothing else we model); status stays.
  static json::Document FinalizeStrategy(const Object& current, const json::Document& desired) {
    json::Document out = CopyObject(*current);
    auto& a = out.GetAllocator();
    json::Value& spec = json::EnsureObject(out, "spec", a);
    json::RemoveMember(spec, "finalizers");
    json::Value fins(rapidjson::kArrayType);
    if (const json::Value* f = json::FindPath(desired, "spec.finalizers"); f && f->IsArray()) {
      fins.CopyFrom(*f, a);
    }
    spec.AddMember("finalizers", std::move(fins), a);
    json::Value& om = json::EnsureObject(out, "metadata", a);
    if (const json::Value* dm = json::Find(desired, "metadata")) {
      json::SetString(om, "resourceVersion", std::string(json::GetString(*dm, "resourceVersion")),
                      a);
    }
    return out;
  }

  // NamespaceLifecycle admission: no new content in a namespace being terminated.
  Result<bool> CheckNamespaceAcceptsContent(const ServedResource& r, const std::string& ns,
                                            std::string_view name) const {
    if (!r.api.namespaced) return true;
    auto obj = store->Get({"", "namespaces"}, "", ns);
    if (!obj.ok()) return std::move(obj).error();
    const json::Value* st = json::Find(**obj, "status");
    if (st && json::GetString(*st, "phase") == "Terminating") {
      return kube::NewForbidden(
          r.StorageKey(), name,
          "unable to create new content in namespace " + ns + " because it is being terminated");
    }
    return true;
  }

  static json::Document Strategy(const ServedResource& r, const Object& current,
                                 json::Document desired, bool status_write) {
    auto& a = desired.GetAllocator();
    if (!current) return desired;
    if (status_write) {
      json::Document out = CopyObject(*current);
      auto& oa = out.GetAllocator();
      json::RemoveMember(out, "status");
      if (const json::Value* st = json::Find(desired, "status")) {
        json::Value copy;
        copy.CopyFrom(*st, oa);
        out.AddMember("status", std::move(copy), oa);
      }
      // Keep the request's resourceVersion precondition and managedFields.
      json::Value& om = json::EnsureObject(out, "metadata", oa);
      if (const json::Value* dm = json::Find(desired, "metadata")) {
        json::SetString(om, "resourceVersion", std::string(json::GetString(*dm, "resourceVersion")),
                        oa);
      }
      return out;
    }
    if (r.api.has_status) {
      json::RemoveMember(desired, "status");
      if (const json::Value* st = json::Find(*current, "status")) {
        json::Value copy;
        copy.CopyFrom(*st, a);
        desired.AddMember("status", std::move(copy), a);
      }
    }
    if (IsNamespaces(r)) {
      // namespaceStrategy.PrepareForUpdate: spec.finalizers change through /finalize only.
      json::Value& spec = json::EnsureObject(desired, "spec", a);
      json::RemoveMember(spec, "finalizers");
      if (const json::Value* f = json::FindPath(*current, "spec.finalizers")) {
        json::Value copy;
        copy.CopyFrom(*f, a);
        spec.AddMember("finalizers", std::move(copy), a);
      }
    }
    if (r.has_generation) {
      int64_t gen = 0;
      if (const json::Value* cm = json::Find(*current, "metadata")) {
        gen = json::GetInt(*cm, "generation").value_or(0);
      }
      auto strip = [&](const json::Value& v) {
        json::Document d = CopyObject(v);
        json::RemoveMember(d, "metadata");
        json::RemoveMember(d, "apiVersion");
        json::RemoveMember(d, "kind");
        if (r.api.has_status) json::RemoveMember(d, "status");
        return d;
      };
      if (strip(*current) != strip(desired)) ++gen;
      json::Value& m = json::EnsureObject(desired, "metadata", a);
      json::SetMember(m, "generation", json::Value(gen), a);
    }
    return desired;
  }

  static void PrepareForCreate(const ServedResource& r, json::Document& obj) {
    auto& a = obj.GetAllocator();
    json::Value& m = json::EnsureObject(obj, "metadata", a);
    json::RemoveMember(m, "managedFields");
    if (r.has_generation) json::SetMember(m, "generation", json::Value(1), a);
    if (r.api.has_status && r.api.resource != "namespaces") json::RemoveMember(obj, "status");
    if (r.builtin && r.api.group.empty() && r.api.resource == "secrets" &&
        json::GetString(obj, "type").empty()) {
      json::SetString(obj, "type", "Opaque", a);  // SetDefaults_Secret
    }
    if (r.builtin && r.api.group.empty() && r.api.resource == "namespaces") {
      std::string name(json::GetString(m, "name"));
      json::Value& labels = json::EnsureObject(m, "labels", a);
      json::SetString(labels, "kubernetes.io/metadata.name", name, a);
      json::Value& spec = json::EnsureObject(obj, "spec", a);
      json::Value fins(rapidjson::kArrayType);
      fins.PushBack("kubernetes", a);
      json::SetMember(spec, "finalizers", std::move(fins), a);
      json::Value& status = json::EnsureObject(obj, "status", a);
      json::SetString(status, "phase", "Active", a);
    }
  }

  ManagerInfo Manager(const Request& req, const ServedResource& r, bool status_write) {
    ManagerInfo info;
    auto fm = req.query.Get("fieldManager");
    info.manager = fm && !fm->empty() ? std::string(*fm) : FieldManagerFromUserAgent(req);
    info.api_version = r.api.GroupVersion();
    info.time = FormatTime(std::chrono::system_clock::now());
    if (status_write) info.subresource = "status";
    return info;
  }

  // ---- verbs ----
  asio::awaitable<void> Get(Request& req, ResponseWriter& w, const ServedResource& r,
                            const kube::RequestInfo& info) {
    auto out = Negotiate(req, false);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto obj = store->Get(r.StorageKey(), info.namespace_, info.name);
    if (!obj.ok()) co_return co_await SendStatus(w, obj.error());
    if (out->kind == OutputKind::kObject) {
      std::string body;
      AppendPresented(r, **obj, true, body);
      Headers h;
      h.Set("Content-Type", out->content_type);
      co_await w.Send(200, std::move(h), body);
      co_return;
    }
    json::Document d = Render(r, **obj, *out, req);
    co_await SendJson(w, 200, d, out->content_type);
  }

  asio::awaitable<void> List(Request& req, ResponseWriter& w, const ServedResource& r,
                             const kube::RequestInfo& info) {
    auto out = Negotiate(req, true);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto pred = Selector(req, r);
    if (!pred.ok()) co_return co_await SendStatus(w, pred.error());
    ListOptions lo;
    lo.ns = info.namespace_;
    lo.resource_version = std::string(req.query.Get("resourceVersion").value_or(""));
    lo.resource_version_match = std::string(req.query.Get("resourceVersionMatch").value_or(""));
    lo.continue_token = std::string(req.query.Get("continue").value_or(""));
    lo.predicate = *pred;
    if (auto l = req.query.Get("limit"); l && !l->empty()) {
      lo.limit = std::atoll(std::string(*l).c_str());
      if (lo.limit < 0) lo.limit = 0;
    }
    std::vector<kube::StatusCause> causes;
    if (!lo.resource_version_match.empty()) {
      if (!lo.continue_token.empty()) {
        causes.push_back({"FieldValueForbidden",
                          "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                          "resourceVersionMatch"});
      } else if (lo.resource_version.empty()) {
        causes.push_back({"FieldValueForbidden",
                          "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                          "provided",
                          "resourceVersionMatch"});
      } else if (lo.resource_version_match != "Exact" &&
                 lo.resource_version_match != "NotOlderThan") {
        causes.push_back({"FieldValueNotSupported",
                          "Unsupported value: " + GoQuote(lo.resource_version_match) +
                              ": supported values: \"Exact\", \"NotOlderThan\", \"\"",
                          "resourceVersionMatch"});
      } else if (lo.resource_version_match == "Exact" && lo.resource_version == "0") {
        causes.push_back({"FieldValueForbidden",
                          "Forbidden: resourceVersionMatch \"exact\" is forbidden for "
                          "resourceVersion \"0\"",
                          "resourceVersionMatch"});
      }
    }
    if (!causes.empty()) {
      co_return co_await SendStatus(w, kube::NewInvalid("ListOptions.meta.k8s.io", "", causes));
    }
    auto res = store->List(r.StorageKey(), lo);
    if (!res.ok()) co_return co_await SendStatus(w, res.error());
    std::string rv = std::to_string(res->resource_version);
    if (out->kind == OutputKind::kTable) {
      std::vector<json::Document> presented;
      presented.reserve(res->items.size());
      for (auto& o : res->items) presented.push_back(Present(r, *o));
      std::vector<const json::Value*> ptrs;
      for (auto& p : presented) ptrs.push_back(&p);
      TableOptions to;
      to.include = IncludeFrom(req);
      to.api_version = "meta.k8s.io/" + out->meta_version;
      json::Document t =
          RenderTable(r.api, ptrs, to, rv, res->continue_token, res->remaining_item_count);
      co_return co_await SendJson(w, 200, t, out->content_type);
    }
    // Streamed list: {"kind":..,"apiVersion":..,"metadata":{..},"items":[...]}.
    std::string head;
    json::Document meta(rapidjson::kObjectType);
    auto& ma = meta.GetAllocator();
    meta.AddMember("resourceVersion", json::Str(rv, ma), ma);
    if (!res->continue_token.empty()) {
      meta.AddMember("continue", json::Str(res->continue_token, ma), ma);
    }
    if (res->remaining_item_count) {
      meta.AddMember("remainingItemCount", *res->remaining_item_count, ma);
    }
    if (out->kind == OutputKind::kPartialList) {
      head = "{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/" +
             out->meta_version + "\",\"metadata\":";
    } else {
      head = "{\"kind\":\"" + r.api.list_kind + "\",\"apiVersion\":\"" + r.api.GroupVersion() +
             "\",\"metadata\":";
    }
    json::AppendTo(meta, head);
    head += ",\"items\":[";
    Headers h;
    h.Set("Content-Type", out->content_type);
    if (!co_await w.WriteHeader(200, std::move(h), std::nullopt)) co_return;
    std::string buf = std::move(head);
    bool first = true;
    for (auto& o : res->items) {
      if (!first) buf += ',';
      first = false;
      if (out->kind == OutputKind::kPartialList) {
        json::Document d;
        json::Value v =
            PartialObjectMetadata(*o, d.GetAllocator(), "meta.k8s.io/" + out->meta_version);
        json::AppendTo(v, buf);
      } else {
        // Typed (built-in) lists encode their items without apiVersion/kind.
        AppendPresented(r, *o, !r.builtin, buf);
      }
      if (buf.size() > 64 * 1024) {
        if (!co_await w.Write(buf)) co_return;
        buf.clear();
      }
    }
    buf += "]}";
    if (co_await w.Write(buf)) co_await w.Finish();
  }

  asio::awaitable<void> Create(Request& req, ResponseWriter& w, const ServedResource& r,
                               const kube::RequestInfo& info) {
    auto out = Negotiate(req, false);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto dry = DryRun(req, "CreateOptions");
    if (!dry.ok()) co_return co_await SendStatus(w, dry.error());
    auto body = DecodeBody(req, r);
    if (!body.ok()) co_return co_await SendStatus(w, body.error());
    json::Document obj = std::move(*body);
    auto& a = obj.GetAllocator();
    json::Value& m = json::EnsureObject(obj, "metadata", a);
    std::string_view body_ns = json::GetString(m, "namespace");
    if (r.api.namespaced) {
      if (!body_ns.empty() && body_ns != info.namespace_) {
        co_return co_await SendStatus(
            w, kube::NewBadRequest("the namespace of the provided object does not match the "
                                   "namespace sent on the request"));
      }
    }
    auto valid = ValidateCreate(r, obj);
    if (!valid.ok()) co_return co_await SendStatus(w, valid.error());
    if (auto accepts = CheckNamespaceAcceptsContent(r, info.namespace_, json::GetString(m, "name"));
        !accepts.ok()) {
      co_return co_await SendStatus(w, accepts.error());
    }
    PrepareForCreate(r, obj);
    ManagerInfo mi = Manager(req, r, false);
    RecordUpdate(nullptr, obj, mi);
    WriteOptions wo;
    wo.dry_run = *dry;
    auto created =
        store->Create(r.StorageKey(), r.api.namespaced ? info.namespace_ : "", std::move(obj), wo);
    if (!created.ok()) co_return co_await SendStatus(w, created.error());
    co_await SendJson(w, 201, Render(r, **created, *out, req), out->content_type);
  }

  asio::awaitable<void> Update(Request& req, ResponseWriter& w, const ServedResource& r,
                               const kube::RequestInfo& info) {
    auto out = Negotiate(req, false);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto dry = DryRun(req, "UpdateOptions");
    if (!dry.ok()) co_return co_await SendStatus(w, dry.error());
    auto body = DecodeBody(req, r);
    if (!body.ok()) co_return co_await SendStatus(w, body.error());
    auto shared = std::make_shared<json::Document>(std::move(*body));
    const json::Value* m = json::Find(*shared, "metadata");
    std::string_view body_name = m ? json::GetString(*m, "name") : std::string_view();
    std::string_view body_ns = m ? json::GetString(*m, "namespace") : std::string_view();
    if (r.api.namespaced && !body_ns.empty() && body_ns != info.namespace_) {
      co_return co_await SendStatus(
          w, kube::NewBadRequest("the namespace of the provided object does not match the "
                                 "namespace sent on the request"));
    }
    if (body_name != info.name) {
      co_return co_await SendStatus(
          w, kube::NewBadRequest("the name of the object (" + std::string(body_name) +
                                 ") does not match the name on the URL (" + info.name + ")"));
    }
    bool status_write = info.subresource == "status";
    ManagerInfo mi = Manager(req, r, status_write);
    WriteOptions wo;
    wo.dry_run = *dry;
    auto res = store->Update(
        r.StorageKey(), r.api.namespaced ? info.namespace_ : "", info.name,
        [&](const Object& cur) -> Result<json::Document> {
          if (!cur) return kube::NewNotFound(r.StorageKey(), info.name);
          if (info.subresource == "finalize") return FinalizeStrategy(cur, *shared);
          json::Document d = Strategy(r, cur, CopyObject(*shared), status_write);
          RecordUpdate(cur.get(), d, mi);
          return d;
        },
        false, wo);
    if (!res.ok()) co_return co_await SendStatus(w, res.error());
    co_await SendJson(w, 200, Render(r, *res->object, *out, req), out->content_type);
  }

  asio::awaitable<void> Patch(Request& req, ResponseWriter& w, const ServedResource& r,
                              const kube::RequestInfo& info) {
    auto out = Negotiate(req, false);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto dry = DryRun(req, "PatchOptions");
    if (!dry.ok()) co_return co_await SendStatus(w, dry.error());
    if (req.body.size() > options.max_body_bytes) {
      co_return co_await SendStatus(
          w, kube::NewRequestEntityTooLarge("limit is " + std::to_string(options.max_body_bytes)));
    }
    std::string ct = MediaType(req.headers.Get("Content-Type").value_or(""));
    enum { kJson, kMerge, kApply } type;
    if (ct == "application/json-patch+json") {
      type = kJson;
    } else if (ct == "application/merge-patch+json") {
      type = kMerge;
    } else if (ct == "application/strategic-merge-patch+json" && r.builtin) {
      type = kMerge;  // known difference: strategic merge treated as merge patch
    } else if (ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor") {
      type = kApply;
      if (ct != "application/apply-patch+yaml") {
        co_return co_await SendStatus(
            w, kube::NewUnsupportedMediaType("application/json-patch+json, "
                                             "application/merge-patch+json, "
                                             "application/apply-patch+yaml"));
      }
    } else {
      std::string accepted = r.builtin
                                 ? "application/json-patch+json, application/merge-patch+json, "
                                   "application/strategic-merge-patch+json, "
                                   "application/apply-patch+yaml"
                                 : "application/json-patch+json, "
                                   "application/merge-patch+json, "
                                   "application/apply-patch+yaml";
      co_return co_await SendStatus(w, kube::NewUnsupportedMediaType(accepted));
    }
    bool status_write = info.subresource == "status";
    ManagerInfo mi = Manager(req, r, status_write);
    bool force = TruthyParam(req.query, "force");
    if (type != kApply && req.query.Get("force")) {
      co_return co_await SendStatus(
          w, kube::NewBadRequest("force is only allowed for apply patches"));  // kube: Invalid
    }
    std::shared_ptr<json::Document> applied;
    if (type == kApply) {
      auto fm = req.query.Get("fieldManager");
      if (!fm || fm->empty()) {
        co_return co_await SendStatus(
            w, kube::NewBadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                   "Required value: is required for apply patch"));
      }
      auto doc = YamlToJson(req.body);
      if (!doc.ok()) co_return co_await SendStatus(w, doc.error());
      if (!doc->IsObject()) {
        co_return co_await SendStatus(w, kube::NewBadRequest("error decoding YAML: the object "
                                                             "is not a map"));
      }
      auto tm = CheckTypeMeta(*doc, r);
      if (!tm.ok()) co_return co_await SendStatus(w, tm.error());
      const json::Value* m = json::Find(*doc, "metadata");
      std::string_view body_name = m ? json::GetString(*m, "name") : std::string_view();
      if (body_name != info.name) {
        co_return co_await SendStatus(
            w, kube::NewBadRequest("the name of the object (" + std::string(body_name) +
                                   ") does not match the name on the URL (" + info.name + ")"));
      }
      std::string_view body_ns = m ? json::GetString(*m, "namespace") : std::string_view();
      if (r.api.namespaced && !body_ns.empty() && body_ns != info.namespace_) {
        co_return co_await SendStatus(
            w, kube::NewBadRequest("the namespace of the provided object does not match the "
                                   "namespace sent on the request"));
      }
      applied = std::make_shared<json::Document>(std::move(*doc));
    }
    if (type == kApply && r.api.namespaced) {
      auto ns = store->Get({"", "namespaces"}, "", info.namespace_);
      if (!ns.ok()) co_return co_await SendStatus(w, ns.error());
    }
    WriteOptions wo;
    wo.dry_run = *dry;
    std::string ns = r.api.namespaced ? info.namespace_ : "";
    const std::string& body = req.body;
    auto res = store->Update(
        r.StorageKey(), ns, info.name,
        [&](const Object& cur) -> Result<json::Document> {
          if (type == kApply) {
            ApplyOptions ao;
            ao.info = mi;
            ao.force = force;
            if (!cur) {
              auto accepts = CheckNamespaceAcceptsContent(r, info.namespace_, info.name);
              if (!accepts.ok()) return std::move(accepts).error();
              json::Document fresh = CopyObject(*applied);
              auto valid = ValidateCreate(r, fresh);
              if (!valid.ok()) return std::move(valid).error();
              PrepareForCreate(r, fresh);
              auto merged = ServerSideApply(nullptr, fresh, ao);
              if (!merged.ok()) return merged;
              return merged;
            }
            auto merged = ServerSideApply(cur.get(), *applied, ao);
            if (!merged.ok()) return merged;
            // An apply never carries a precondition unless the config sets resourceVersion.
            json::Document d = std::move(*merged);
            json::Value& dm = json::EnsureObject(d, "metadata", d.GetAllocator());
            const json::Value* am = json::Find(*applied, "metadata");
            std::string want(am ? json::GetString(*am, "resourceVersion") : std::string_view());
            if (want.empty()) {
              json::RemoveMember(dm, "resourceVersion");
            } else {
              json::SetString(dm, "resourceVersion", want, d.GetAllocator());
            }
            // Keep the new managedFields through the strategy.
            json::Value mf;
            if (const json::Value* f = json::Find(dm, "managedFields"))
              mf.CopyFrom(*f, d.GetAllocator());
            json::Document s = Strategy(r, cur, std::move(d), status_write);
            if (!mf.IsNull()) {
              json::Value copy;
              copy.CopyFrom(mf, s.GetAllocator());
              json::SetMember(json::EnsureObject(s, "metadata", s.GetAllocator()), "managedFields",
                              std::move(copy), s.GetAllocator());
            }
            return s;
          }
          if (!cur) return kube::NewNotFound(r.StorageKey(), info.name);
          Result<json::Document> patched =
              type == kJson ? ApplyJsonPatch(*cur, body) : ApplyMergePatch(*cur, body);
          if (!patched.ok()) return patched;
          // The patched object keeps the current resourceVersion unless the patch set one
          // (then it is a precondition).
          const json::Value* pm = json::Find(*patched, "metadata");
          if (!pm || !pm->IsObject()) return kube::NewBadRequest("metadata must be an object");
          std::string_view pn = json::GetString(*pm, "name");
          if (pn != info.name) {
            return kube::NewBadRequest("the name of the object (" + std::string(pn) +
                                       ") does not match the name on the URL (" + info.name + ")");
          }
          json::Document d = Strategy(r, cur, std::move(*patched), status_write);
          RecordUpdate(cur.get(), d, mi);
          return d;
        },
        type == kApply, wo);
    if (!res.ok()) co_return co_await SendStatus(w, res.error());
    co_await SendJson(w, res->created ? 201 : 200, Render(r, *res->object, *out, req),
                      out->content_type);
  }

  Result<DeleteSpec> ParseDeleteOptions(const Request& req) {
    DeleteSpec spec;
    auto dry = DryRun(req, "DeleteOptions");
    if (!dry.ok()) return std::move(dry).error();
    spec.dry_run = *dry;
    if (auto p = req.query.Get("propagationPolicy"))
      spec.store.propagation_policy = std::string(*p);
    if (auto g = req.query.Get("gracePeriodSeconds")) {
      spec.store.grace_period_seconds = std::atoll(std::string(*g).c_str());
    }
    if (!Trim(req.body).empty()) {
      std::optional<json::Document> doc;
      std::string ct = MediaType(req.headers.Get("Content-Type").value_or("application/json"));
      if (ct == "application/vnd.kubernetes.protobuf") {
        auto pb = DecodeProtobuf(req.body);
        if (!pb.ok()) return std::move(pb).error();
        doc = std::move(*pb);
      } else if (ct == "application/yaml") {
        auto y = YamlToJson(req.body);
        if (!y.ok()) return std::move(y).error();
        doc = std::move(*y);
      } else {
        doc = json::Parse(req.body);
      }
      if (!doc || !doc->IsObject()) {
        return kube::NewBadRequest("the body of the request was in an unknown format");
      }
      std::string_view pp = json::GetString(*doc, "propagationPolicy");
      if (!pp.empty()) spec.store.propagation_policy = std::string(pp);
      if (auto g = json::GetInt(*doc, "gracePeriodSeconds")) spec.store.grace_period_seconds = *g;
      if (const json::Value* pre = json::Find(*doc, "preconditions"); pre && pre->IsObject()) {
        if (const json::Value* u = json::Find(*pre, "uid"); u && u->IsString()) {
          spec.store.precondition_uid = std::string(json::View(*u));
        }
        if (const json::Value* v = json::Find(*pre, "resourceVersion"); v && v->IsString()) {
          spec.store.precondition_resource_version = std::string(json::View(*v));
        }
      }
      if (const json::Value* d = json::Find(*doc, "dryRun"); d && d->IsArray()) {
        for (auto& x : d->GetArray()) {
          if (json::View(x) == "All") spec.dry_run = true;
        }
      }
    }
    if (spec.store.propagation_policy) {
      const std::string& p = *spec.store.propagation_policy;
      if (p != "Orphan" && p != "Background" && p != "Foreground") {
        return kube::NewInvalid(
            "DeleteOptions.meta.k8s.io", "",
            {{"FieldValueNotSupported",
              "Unsupported value: " + GoQuote(p) +
                  ": supported values: \"Foreground\", \"Background\", \"Orphan\"",
              "propagationPolicy"}});
      }
    }
    spec.store.dry_run = spec.dry_run;
    return spec;
  }

  // Deletes one object. Namespaces follow kube's namespace registry (REST.Delete): the first
  // DELETE marks the namespace (deletionTimestamp, status.phase Terminating) and answers it; the
  // namespace controller removes the content and the `kubernetes` finalizer; a DELETE while
  // spec.finalizers remain answers the namespace as it is; without them it is deleted.
  Result<DeleteResult> DeleteOne(const ServedResource& r, const std::string& ns,
                                 const std::string& name, const DeleteSpec& spec) {
    if (IsNamespaces(r)) {
      auto cur = store->Get(r.StorageKey(), "", name);
      if (!cur.ok()) return std::move(cur).error();
      const json::Value* m = json::Find(**cur, "metadata");
      std::string uid(m ? json::GetString(*m, "uid") : std::string_view());
      std::string rv(m ? json::GetString(*m, "resourceVersion") : std::string_view());
      if (spec.store.precondition_uid && *spec.store.precondition_uid != uid) {
        return kube::NewConflict(r.StorageKey(), name,
                                 "Precondition failed: UID in precondition: " +
                                     *spec.store.precondition_uid + ", UID in object meta: " + uid);
      }
      if (spec.store.precondition_resource_version &&
          *spec.store.precondition_resource_version != rv) {
        return kube::NewConflict(r.StorageKey(), name,
                                 "Precondition failed: ResourceVersion in precondition: " +
                                     *spec.store.precondition_resource_version +
                                     ", ResourceVersion in object meta: " + rv);
      }
      if (m == nullptr || json::Find(*m, "deletionTimestamp") == nullptr) {
        WriteOptions wo;
        wo.dry_run = spec.dry_run;
        wo.mark_deletion = true;
        auto upd = store->Update(
            r.StorageKey(), "", name,
            [&](const Object& c) -> Result<json::Document> {
              if (!c) return kube::NewNotFound(r.StorageKey(), name);
              json::Document d = CopyObject(*c);
              auto& a = d.GetAllocator();
              json::Value& dm = json::EnsureObject(d, "metadata", a);
              if (json::GetString(dm, "uid") != uid) {
                return kube::NewConflict(
                    r.StorageKey(), name,
                    "Precondition failed: UID in precondition: " + uid +
                        ", UID in object meta: " + std::string(json::GetString(dm, "uid")));
              }
              json::SetString(json::EnsureObject(d, "status", a), "phase", "Terminating", a);
              return d;
            },
            false, wo);
        if (!upd.ok()) return std::move(upd).error();
        return DeleteResult{upd->object, false};
      }
      const json::Value* sf = json::FindPath(**cur, "spec.finalizers");
      if (sf && sf->IsArray() && !sf->Empty()) return DeleteResult{*cur, false};
      return store->Delete(r.StorageKey(), "", name, spec.store);
    }
    return store->Delete(r.StorageKey(), ns, name, spec.store);
  }

  asio::awaitable<void> Delete(Request& req, ResponseWriter& w, const ServedResource& r,
                               const kube::RequestInfo& info) {
    auto out = Negotiate(req, false);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto spec = ParseDeleteOptions(req);
    if (!spec.ok()) co_return co_await SendStatus(w, spec.error());
    std::string ns = r.api.namespaced ? info.namespace_ : "";
    auto res = DeleteOne(r, ns, info.name, *spec);
    if (!res.ok()) co_return co_await SendStatus(w, res.error());
    bool return_object = !r.builtin || !res->deleted || r.api.resource == "namespaces" ||
                         r.api.resource == "customresourcedefinitions" ||
                         r.api.resource == "services";
    if (return_object) {
      co_return co_await SendJson(w, 200, Render(r, *res->object, *out, req), out->content_type);
    }
    // finalizeDelete without ReturnDeletedObject: a Success Status.
    json::Document s(rapidjson::kObjectType);
    auto& a = s.GetAllocator();
    s.AddMember("kind", "Status", a);
    s.AddMember("apiVersion", "v1", a);
    s.AddMember("metadata", json::Value(rapidjson::kObjectType), a);
    s.AddMember("status", "Success", a);
    json::Value details(rapidjson::kObjectType);
    details.AddMember("name", json::Str(info.name, a), a);
    if (!r.api.group.empty()) details.AddMember("group", json::Str(r.api.group, a), a);
    details.AddMember("kind", json::Str(r.api.resource, a), a);
    const json::Value* m = json::Find(*res->object, "metadata");
    details.AddMember(
        "uid", json::Str(std::string(m ? json::GetString(*m, "uid") : std::string_view()), a), a);
    s.AddMember("details", std::move(details), a);
    co_await SendJson(w, 200, s);
  }

  asio::awaitable<void> DeleteCollection(Request& req, ResponseWriter& w, const ServedResource& r,
                                         const kube::RequestInfo& info) {
    auto out = Negotiate(req, true);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto spec = ParseDeleteOptions(req);
    if (!spec.ok()) co_return co_await SendStatus(w, spec.error());
    auto pred = Selector(req, r);
    if (!pred.ok()) co_return co_await SendStatus(w, pred.error());
    ListOptions lo;
    lo.ns = info.namespace_;
    lo.predicate = *pred;
    auto list = store->List(r.StorageKey(), lo);
    if (!list.ok()) co_return co_await SendStatus(w, list.error());
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("kind", json::Str(r.api.list_kind, a), a);
    d.AddMember("apiVersion", json::Str(r.api.GroupVersion(), a), a);
    json::Value meta(rapidjson::kObjectType);
    json::Value items(rapidjson::kArrayType);
    for (auto& o : list->items) {
      const json::Value* m = json::Find(*o, "metadata");
      if (!m) continue;
      auto res = DeleteOne(r, std::string(json::GetString(*m, "namespace")),
                           std::string(json::GetString(*m, "name")), *spec);
      if (!res.ok()) {
        if (res.error().code == 404) continue;
        co_return co_await SendStatus(w, res.error());
      }
      json::Value v;
      v.CopyFrom(Present(r, *res->object), a);
      items.PushBack(std::move(v), a);
    }
    meta.AddMember("resourceVersion", json::Str(std::to_string(store->CurrentResourceVersion()), a),
                   a);
    d.AddMember("metadata", std::move(meta), a);
    d.AddMember("items", std::move(items), a);
    co_await SendJson(w, 200, d);
  }

  // ---- watch ----
  struct WatchState {
    explicit WatchState(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    std::atomic<bool> pending{false};
  };

  asio::awaitable<void> Watch(Request& req, ResponseWriter& w, const ServedResource& r,
                              const kube::RequestInfo& info) {
    auto out = Negotiate(req, true);
    if (!out.ok()) co_return co_await SendStatus(w, out.error());
    auto pred_r = Selector(req, r);
    if (!pred_r.ok()) co_return co_await SendStatus(w, pred_r.error());
    auto pred = *pred_r;
    std::string rv_param(req.query.Get("resourceVersion").value_or(""));
    bool bookmarks = TruthyParam(req.query, "allowWatchBookmarks");
    bool send_initial = TruthyParam(req.query, "sendInitialEvents");
    std::chrono::steady_clock::duration timeout = options.default_watch_timeout;
    if (auto t = req.query.Get("timeoutSeconds"); t && !t->empty()) {
      timeout = std::chrono::seconds(std::atoll(std::string(*t).c_str()));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string ns = r.api.namespaced ? info.namespace_ : "";

    uint64_t from = 0;
    std::vector<Object> initial;
    std::optional<Status> start_error;
    bool initial_events = rv_param.empty() || rv_param == "0" || send_initial;
    if (!rv_param.empty() && rv_param != "0") {
      bool digits = std::all_of(rv_param.begin(), rv_param.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || rv_param.size() > 19) {
        co_return co_await SendStatus(
            w, kube::NewBadRequest("invalid resource version: strconv.ParseUint: parsing \"" +
                                   rv_param + "\": invalid syntax"));
      }
      from = std::stoull(rv_param);
    }
    if (initial_events && from == 0) {
      ListOptions lo;
      lo.ns = ns;
      lo.predicate = pred;
      auto list = store->List(r.StorageKey(), lo);
      if (!list.ok()) co_return co_await SendStatus(w, list.error());
      initial = std::move(list->items);
      from = list->resource_version;
    } else if (initial_events) {
      ListOptions lo;
      lo.ns = ns;
      lo.predicate = pred;
      lo.resource_version = rv_param;
      auto list = store->List(r.StorageKey(), lo);
      if (!list.ok()) co_return co_await SendStatus(w, list.error());
      initial = std::move(list->items);
      from = list->resource_version;
    }
    std::shared_ptr<Watcher> watcher;
    auto wr = store->Watch(r.StorageKey(), ns, from);
    if (wr.ok()) {
      watcher = *wr;
    } else {
      start_error = wr.error();
    }

    Headers h;
    h.Set("Content-Type", out->content_type);
    if (!co_await w.WriteHeader(200, std::move(h), std::nullopt)) co_return;
    ++open_watches;
    struct Guard {
      std::atomic<int>& n;
      std::shared_ptr<Watcher> w;
      ~Guard() {
        --n;
        if (w) w->Stop();
      }
    } guard{open_watches, watcher};

    bool table_headers_sent = false;
    auto encode = [&](std::string_view type, const json::Value& obj) {
      std::string line = "{\"type\":\"" + std::string(type) + "\",\"object\":";
      if (out->kind == OutputKind::kTable) {
        json::Document p = Present(r, obj);
        std::vector<const json::Value*> objs = {&p};
        TableOptions to;
        to.include = IncludeFrom(req);
        to.api_version = "meta.k8s.io/" + out->meta_version;
        to.no_headers = table_headers_sent;
        table_headers_sent = true;
        json::AppendTo(RenderTable(r.api, objs, to, ResourceVersionOf(obj)), line);
      } else if (out->kind == OutputKind::kPartialList || out->kind == OutputKind::kPartial) {
        json::Document d;
        json::AppendTo(
            PartialObjectMetadata(obj, d.GetAllocator(), "meta.k8s.io/" + out->meta_version), line);
      } else {
        json::AppendTo(Present(r, obj), line);
      }
      line += "}\n";
      return line;
    };
    auto bookmark_line = [&](uint64_t rv, bool initial_end) {
      std::string kind = r.api.kind;
      std::string api = r.api.GroupVersion();
      std::string line = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"" + kind +
                         "\",\"apiVersion\":\"" + api + "\",\"metadata\":{\"resourceVersion\":\"" +
                         std::to_string(rv) + "\"";
      // Typed (built-in) objects encode an empty creationTimestamp as null; unstructured not.
      if (r.builtin) line += ",\"creationTimestamp\":null";
      if (initial_end) line += ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}";
      line += "}}}\n";
      return line;
    };
    auto error_line = [](const Status& s) {
      return "{\"type\":\"ERROR\",\"object\":" + s.ToJson() + "}\n";
    };

    if (start_error) {
      co_await w.Write(error_line(*start_error));
      co_await w.Finish();
      co_return;
    }
    for (auto& o : initial) {
      if (!co_await w.Write(encode("ADDED", *o))) co_return;
    }
    if (send_initial && bookmarks) {
      if (!co_await w.Write(bookmark_line(from, true))) co_return;
    }

    auto ex = co_await asio::this_coro::executor;
    auto state = std::make_shared<WatchState>(ex);
    std::weak_ptr<WatchState> weak = state;
    watcher->SetWakeup([weak] {
      auto s = weak.lock();
      if (!s) return;
      s->pending = true;
      asio::post(s->timer.get_executor(), [weak] {
        if (auto s2 = weak.lock()) s2->timer.cancel();
      });
    });
    auto next_bookmark = std::chrono::steady_clock::now() + options.bookmark_interval;
    std::vector<Event> events;
    using namespace asio::experimental::awaitable_operators;
    while (true) {
      state->pending = false;
      events.clear();
      auto n = watcher->Next(events, 512);
      if (!n.ok()) {
        co_await w.Write(error_line(n.error()));
        break;
      }
      std::string batch;
      for (const Event& e : events) {
        bool now_ok = !pred || (e.type != EventType::kDeleted && pred(*e.object));
        bool old_ok = !pred || (e.old_object && pred(*e.old_object));
        if (e.type == EventType::kDeleted) old_ok = !pred || pred(*e.object);
        switch (e.type) {
          case EventType::kAdded:
            if (now_ok) batch += encode("ADDED", *e.object);
            break;
          case EventType::kModified:
            if (now_ok && old_ok) {
              batch += encode("MODIFIED", *e.object);
            } else if (now_ok) {
              batch += encode("ADDED", *e.object);
            } else if (old_ok) {
              json::Document prev = CopyObject(*e.old_object);
              json::SetString(json::EnsureObject(prev, "metadata", prev.GetAllocator()),
                              "resourceVersion", std::to_string(e.resource_version),
                              prev.GetAllocator());
              batch += encode("DELETED", prev);
            }
            break;
          case EventType::kDeleted:
            if (old_ok) batch += encode("DELETED", *e.object);
            break;
        }
      }
      if (!batch.empty() && !co_await w.Write(batch)) break;
      if (*n == 512) continue;  // more pending
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      if (bookmarks && now >= next_bookmark) {
        if (!co_await w.Write(bookmark_line(watcher->cursor(), false))) break;
        next_bookmark = now + options.bookmark_interval;
      }
      if (state->pending) continue;
      auto wake_at = deadline;
      if (bookmarks) wake_at = std::min(wake_at, next_bookmark);
      state->timer.expires_at(wake_at);
      auto which =
          co_await (state->timer.async_wait(asio::as_tuple(asio::use_awaitable)) || w.WaitClosed());
      if (which.index() == 1) break;  // client gone or server stopping
    }
    co_await w.Finish();
  }
};

ResourceHandler::ResourceHandler(Store& store, Registry& registry)
    : ResourceHandler(store, registry, Options{}) {}

ResourceHandler::ResourceHandler(Store& store, Registry& registry, Options options)
    : impl_(std::make_shared<Impl>()) {
  impl_->store = &store;
  impl_->registry = &registry;
  impl_->options = options;
}

ResourceHandler::~ResourceHandler() = default;

int ResourceHandler::open_watches() const { return impl_->open_watches.load(); }

asio::awaitable<void> ResourceHandler::ServeResource(Request& req, ResponseWriter& w,
                                                     const kube::RequestInfo& info) {
  auto r = impl_->registry->Lookup(info.api_group, info.api_version, info.resource);
  Status not_found = kube::NewNotFound({}, "");
  not_found.message = std::string(kNotFoundMessage);
  not_found.name.clear();
  not_found.kind.clear();
  not_found.group.clear();
  if (!r) co_return co_await Impl::SendStatus(w, not_found);
  const std::string& verb = info.verb;
  if (r->virtual_create_only) {
    co_return co_await Impl::SendStatus(w, kube::NewMethodNotSupported(r->StorageKey(), verb));
  }
  // Routes kube-apiserver does not install: wrong scope, unknown subresources.
  // RequestInfo puts a namespace's own name in namespace_ (/api/v1/namespaces/{name}).
  bool has_ns = !info.namespace_.empty() &&
                !(r->builtin && r->api.group.empty() && r->api.resource == "namespaces");
  if (!r->api.namespaced && has_ns) co_return co_await Impl::SendStatus(w, not_found);
  bool collection =
      verb == "list" || verb == "watch" || verb == "deletecollection" || verb == "create";
  if (r->api.namespaced && !has_ns && !(verb == "list" || verb == "watch")) {
    co_return co_await Impl::SendStatus(w, not_found);
  }
  if (!info.subresource.empty()) {
    bool ok = (info.subresource == "status" && r->api.has_status &&
               (verb == "get" || verb == "update" || verb == "patch")) ||
              (info.subresource == "finalize" && Impl::IsNamespaces(*r) && verb == "update");
    if (!ok) co_return co_await Impl::SendStatus(w, not_found);
  }
  if (!collection && info.name.empty()) co_return co_await Impl::SendStatus(w, not_found);
  if (!r->api.namespaced && !info.namespace_.empty()) {
    kube::RequestInfo cluster_scoped = info;
    cluster_scoped.namespace_.clear();
    co_return co_await Dispatch(req, w, *r, cluster_scoped);
  }
  co_await Dispatch(req, w, *r, info);
}

boost::asio::awaitable<void> ResourceHandler::Dispatch(Request& req, ResponseWriter& w,
                                                       const ServedResource& sr,
                                                       const kube::RequestInfo& info) {
  const ServedResource* r = &sr;
  const std::string& verb = info.verb;
  if (verb == "get") co_return co_await impl_->Get(req, w, *r, info);
  if (verb == "list") co_return co_await impl_->List(req, w, *r, info);
  if (verb == "watch") co_return co_await impl_->Watch(req, w, *r, info);
  if (verb == "create") co_return co_await impl_->Create(req, w, *r, info);
  if (verb == "update") co_return co_await impl_->Update(req, w, *r, info);
  if (verb == "patch") co_return co_await impl_->Patch(req, w, *r, info);
  if (verb == "delete") co_return co_await impl_->Delete(req, w, *r, info);
  if (verb == "deletecollection") {
    co_return co_await impl_->DeleteCollection(req, w, *r, info);
  }
  Status s = kube::NewMethodNotSupported(r->StorageKey(), verb);
  co_await Impl::SendStatus(w, s);
}

}  // namespace fakekube
