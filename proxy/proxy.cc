#include "proxy/proxy.h"

#include <glog/logging.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <variant>

#include "kube/rest_client.h"
#include "kube/watch_decoder.h"
#include "proxy/content.h"
#include "proxy/fast_translate.h"
#include "proxy/json_splitter.h"
#include "proxy/translator.h"

namespace proxy {

namespace json = kube::json;
using kube::http::Headers;
using kube::http::Request;
using kube::http::ResponseWriter;

namespace {

constexpr size_t kMaxErrorBody = 1 << 20;
constexpr size_t kWriteThreshold = 32 * 1024;

Headers JsonHeaders(std::string_view content_type = "application/json") {
  Headers h;
  h.Set("Content-Type", std::string(content_type));
  return h;
}

asio::awaitable<void> SendStatus(ResponseWriter& w, const kube::Status& st) {
  Headers h = JsonHeaders();
  if (st.retry_after_seconds) h.Set("Retry-After", std::to_string(*st.retry_after_seconds));
  co_await w.Send(st.code, std::move(h), st.ToJson());
}

// Headers relayed back to the client from an upstream answer.
Headers ResponseHeaders(const Headers& upstream) {
  Headers h;
  auto ct = upstream.Get("Content-Type");
  h.Set("Content-Type", ct ? std::string(*ct) : std::string("application/json"));
  for (std::string_view warning : upstream.GetAll("Warning"))
    h.Add("Warning", std::string(warning));
  return h;
}

bool Ok2xx(int status) { return status >= 200 && status < 300; }

// One request, once the resource and the translation scope are known.
class Exchange {
 public:
  Exchange(const Config& config, Request& req, ResponseWriter& w, const kube::RequestInfo& info,
           const kube::APIResource& resource, Kind kind)
      : config_(config),
        req_(req),
        w_(w),
        info_(info),
        tr_(Scope{config.cluster_id, config.claim_namespace, kind, &resource}) {}

  asio::awaitable<void> Run();

 private:
  kube::RestRequest Upstream(std::string method, std::string path, const kube::http::Query& q) {
    kube::RestRequest rr;
    rr.method = std::move(method);
    rr.path = std::move(path);
    std::string qs = q.Encode();
    if (!qs.empty()) rr.path += "?" + qs;
    rr.headers.Set("Accept", negotiated_.upstream_accept);
    // Audit-ID lets one request be followed across both API servers. The user's identity and
    // credentials are never forwarded: the control-plane client uses its own.
    if (auto audit = req_.headers.Get("Audit-ID")) rr.headers.Set("Audit-ID", std::string(*audit));
    rr.timeout = config_.request_timeout;
    return rr;
  }

  // Sends a buffered upstream answer: translated object/list/Table, or a translated Status.
  asio::awaitable<void> Reply(const kube::RestResponse& resp, const AppRef* target,
                              bool single_object) {
    if (!Ok2xx(resp.status)) {
      co_await w_.Send(resp.status, JsonHeaders(),
                       tr_.TranslateStatusBody(resp.status, resp.body, target));
      co_return;
    }
    if (single_object) {
      // An ordinary object: translated in one scan, without a DOM (proxy/fast_translate.h).
      std::string out;
      const fast::Outcome o = fast::TranslateObject(tr_, resp.body, out);
      if (o == fast::Outcome::kDropped) {
        co_await SendStatus(w_, NotFound(target));
        co_return;
      }
      if (o == fast::Outcome::kTranslated) {
        co_await w_.Send(resp.status, ResponseHeaders(resp.headers), out);
        co_return;
      }
    }
    // Status, Table or unusual text: the DOM path, which defines the behaviour.
    auto doc = json::Parse(resp.body);
    if (!doc) {
      co_await SendStatus(w_, kube::NewInternalError("invalid response from the control plane"));
      co_return;
    }
    if (json::GetString(*doc, "kind") == "Status") {
      auto st = kube::Status::FromJson(resp.body);
      if (st) {
        kube::Status t = tr_.TranslateStatus(*st, target);
        // A success Status (immediate delete) keeps its code and status.
        json::Document out;
        out.Parse(resp.body.data(), resp.body.size());
        if (auto* details = json::Find(out, "details"); details && details->IsObject() && target) {
          if (json::GetString(*details, "name") ==
              tr_.ControlPlaneName(target->namespace_, target->name))
            json::SetString(*details, "name", target->name, out.GetAllocator());
        }
        if (auto* msg = json::Find(out, "message"); msg && msg->IsString())
          json::SetString(out, "message", t.message, out.GetAllocator());
        co_await w_.Send(resp.status, ResponseHeaders(resp.headers), json::Serialize(out));
        co_return;
      }
    }
    bool ours = tr_.TranslateDocument(*doc, keep_table_objects_);
    if (ours && single_object && json::GetString(*doc, "kind") == "Table") {
      const auto* rows = json::Find(*doc, "rows");
      ours = rows && rows->IsArray() && rows->Size() > 0;
    }
    if (!ours) {
      co_await SendStatus(w_, NotFound(target));
      co_return;
    }
    co_await w_.Send(resp.status, ResponseHeaders(resp.headers), json::Serialize(*doc));
  }

  kube::Status NotFound(const AppRef* target) const {
    return kube::NewNotFound(tr_.Gr(), target ? target->name : std::string());
  }

  // Fetches the stored object for a write and checks it is this cluster's. Returns the parsed
  // object, nullopt when it does not exist (or is not ours: `foreign` set), or a transport error.
  struct Current {
    bool exists = false;
    bool foreign = false;
    json::Document doc;
    std::string uid;
  };
  asio::awaitable<kube::Result<Current>> FetchCurrent(const AppRef& target) {
    Current cur;
    kube::RestRequest rr =
        Upstream("GET", tr_.ObjectPath(tr_.ControlPlaneName(target.namespace_, target.name)), {});
    rr.headers.Set("Accept", "application/json");
    auto resp = co_await config_.control_plane->Do(std::move(rr));
    if (!resp.ok()) co_return std::move(resp).error();
    if (resp->status == 404) co_return cur;
    if (!Ok2xx(resp->status)) {
      co_return tr_.TranslateStatus(kube::RestClient::ErrorFromResponse(resp->status, resp->body),
                                    &target);
    }
    auto parsed = json::Parse(resp->body);  // depth-limited, exact numbers
    if (!parsed || !parsed->IsObject()) {
      co_return kube::NewInternalError("invalid response from the control plane");
    }
    cur.doc.Swap(*parsed);
    cur.exists = true;
    cur.foreign = !tr_.Owner(cur.doc).has_value();
    if (const auto* uid = json::FindPath(cur.doc, "metadata.uid")) cur.uid = json::View(*uid);
    co_return cur;
  }

  asio::awaitable<void> Get();
  asio::awaitable<void> Collection(std::string method);  // list / deletecollection
  asio::awaitable<void> Watch();
  asio::awaitable<void> Create();
  asio::awaitable<void> Update();
  asio::awaitable<void> Patch();
  asio::awaitable<void> Delete();

  const Config& config_;
  Request& req_;
  ResponseWriter& w_;
  const kube::RequestInfo& info_;
  Translator tr_;
  Negotiated negotiated_;
  bool keep_table_objects_ = true;
};

asio::awaitable<void> Exchange::Run() {
  if (!config_.control_plane) {
    co_await SendStatus(w_, kube::NewServiceUnavailable("the control plane is not configured"));
    co_return;
  }
  auto neg = NegotiateAccept(req_.headers.Get("Accept").value_or(""));
  if (!neg.ok()) {
    co_await SendStatus(w_, neg.error());
    co_return;
  }
  negotiated_ = std::move(*neg);
  if (negotiated_.representation == Representation::kTable) {
    keep_table_objects_ = req_.query.Get("includeObject").value_or("") != "None";
  }
  const std::string& sub = info_.subresource;
  if (!sub.empty() && sub != "status") {
    co_await SendStatus(w_, kube::NewNotFound(tr_.Gr(), info_.name));
    co_return;
  }
  const std::string& verb = info_.verb;
  const bool named = verb == "get" || verb == "update" || verb == "patch" || verb == "delete";
  if ((named || verb == "create") && info_.namespace_.empty()) {
    co_await SendStatus(w_, kube::NewNotFound(tr_.Gr(), info_.name));
    co_return;
  }
  if (named && info_.name.empty()) {
    co_await SendStatus(w_, kube::NewMethodNotSupported(tr_.Gr(), verb));
    co_return;
  }
  if (verb == "get") co_return co_await Get();
  if (verb == "list") co_return co_await Collection("GET");
  if (verb == "watch") co_return co_await Watch();
  if (verb == "create") co_return co_await Create();
  if (verb == "update") co_return co_await Update();
  if (verb == "patch") co_return co_await Patch();
  if (verb == "delete") co_return co_await Delete();
  if (verb == "deletecollection") co_return co_await Collection("DELETE");
  co_await SendStatus(w_, kube::NewMethodNotSupported(tr_.Gr(), verb));
}

asio::awaitable<void> Exchange::Get() {
  const AppRef target{info_.namespace_, info_.name};
  auto q = tr_.TranslateQuery(req_.query, "get", info_.namespace_);
  if (!q.ok()) co_return co_await SendStatus(w_, q.error());
  if (negotiated_.representation == Representation::kTable && !keep_table_objects_)
    q->Set("includeObject", "Metadata");  // the row's object proves whose it is
  auto resp = co_await config_.control_plane->Do(Upstream(
      "GET",
      tr_.ObjectPath(tr_.ControlPlaneName(target.namespace_, target.name), info_.subresource), *q));
  if (!resp.ok()) co_return co_await SendStatus(w_, resp.error());
  co_await Reply(*resp, &target, true);
}

asio::awaitable<void> Exchange::Collection(std::string method) {
  const std::string verb = method == "GET" ? "list" : "deletecollection";
  auto q = tr_.TranslateQuery(req_.query, verb, info_.namespace_);
  if (!q.ok()) co_return co_await SendStatus(w_, q.error());
  if (negotiated_.representation == Representation::kTable && !keep_table_objects_)
    q->Set("includeObject", "Metadata");
  kube::RestRequest rr = Upstream(method, tr_.CollectionPath(), *q);
  if (method == "DELETE" && !req_.body.empty()) {
    auto opts = Translator::DecodeBody(req_.body, BodyType::kJson);
    if (!opts.ok()) co_return co_await SendStatus(w_, opts.error());
    if (!opts->IsObject())
      co_return co_await SendStatus(w_, kube::NewBadRequest("DeleteOptions must be an object"));
    rr.body = json::Serialize(*opts);
    rr.headers.Set("Content-Type", "application/json");
  }
  auto stream = co_await config_.control_plane->Stream(std::move(rr));
  if (!stream.ok()) co_return co_await SendStatus(w_, stream.error());
  kube::ResponseStream& s = **stream;
  if (!Ok2xx(s.status())) {
    auto body = co_await s.ReadAll(kMaxErrorBody);
    // Named locals: g++ 12 double-destroys a conditional's temporary inside co_await.
    const std::string upstream_body = body.ok() ? *body : std::string();
    const std::string translated = tr_.TranslateStatusBody(s.status(), upstream_body, nullptr);
    co_await w_.Send(s.status(), JsonHeaders(), translated);
    co_return;
  }
  const bool written =
      co_await w_.WriteHeader(s.status(), ResponseHeaders(s.headers()), std::nullopt);
  if (!written) co_return;

  TableColumns cols;
  const bool keep = keep_table_objects_;
  ListSplitter splitter(
      {"items", "rows"},
      [&](std::string_view key,
          std::string_view value) -> kube::Result<std::optional<std::string>> {
        if (key == "columnDefinitions") {
          auto defs = json::Parse(value);
          if (defs) cols = tr_.ColumnsOf(&*defs);
        } else if ((key == "items" || key == "rows") && value != "null") {
          return kube::NewInternalError("invalid list from the control plane");
        }
        return std::optional<std::string>(std::string(value));
      },
      [&](std::string_view key, std::string_view element, std::string& out) -> kube::Result<bool> {
        if (key == "rows") return tr_.AppendRowText(element, cols, keep, out);
        return tr_.AppendItemText(element, out);
      },
      ListSplitter::kDefaultMaxValueBytes,
      // One pass per element: the DOM-free translator delimits the elements it can translate.
      [&](std::string_view key, std::string_view rest, std::string& out, bool& kept) {
        return tr_.TryAppendListElement(key, rest, cols, keep, out, kept);
      });
  // A list cut short must not reach the client as a complete one: when the control plane's
  // stream breaks or its list is malformed, the response is aborted (the connection closes
  // without the final chunk), as kube-apiserver does, so the client sees an error and retries.
  // Written with WriteFramed: the writer frames each write in place (kube/http.h).
  constexpr size_t kHeadroom = kube::http::ResponseWriter::kFrameHeadroom;
  std::string out(kHeadroom, '\0');
  while (true) {
    auto chunk = co_await s.Read();
    if (!chunk.ok()) {
      LOG(WARNING) << "list relay: the control plane stream broke: " << chunk.error().message;
      throw kube::http::AbortResponse();
    }
    if (chunk->empty()) break;
    auto fed = splitter.Feed(*chunk, out);
    if (!fed.ok()) {
      LOG(WARNING) << "list relay: " << fed.error().message;
      throw kube::http::AbortResponse();
    }
    if (out.size() >= kHeadroom + kWriteThreshold) {
      const bool written = co_await w_.WriteFramed(out);
      if (!written) co_return;
      out.resize(kHeadroom);
    }
  }
  if (out.size() > kHeadroom) {
    const bool written = co_await w_.WriteFramed(out);
    if (!written) co_return;
  }
  if (!splitter.done()) {
    LOG(WARNING) << "list relay: incomplete list from the control plane";
    throw kube::http::AbortResponse();
  }
  co_await w_.Finish();
}

asio::awaitable<void> Exchange::Watch() {
  using namespace asio::experimental::awaitable_operators;
  kube::http::Query in = req_.query;
  if (!info_.name.empty() && info_.parts.size() >= 2 && !info_.namespace_.empty()) {
    // /watch/namespaces/<ns>/<resource>/<name>: a watch of one object.
    std::string fs(in.Get("fieldSelector").value_or(""));
    in.Set("fieldSelector", (fs.empty() ? "" : fs + ",") + "metadata.name=" + info_.name);
  }
  auto q = tr_.TranslateQuery(in, "watch", info_.namespace_);
  if (!q.ok()) co_return co_await SendStatus(w_, q.error());
  if (negotiated_.representation == Representation::kTable && !keep_table_objects_)
    q->Set("includeObject", "Metadata");
  kube::RestRequest watch = Upstream("GET", tr_.CollectionPath(), *q);
  watch.long_running = true;  // behind ordinary requests when dials queue (kube/dial_gate.h)
  watch.timeout = std::max(config_.request_timeout, config_.watch_start_timeout);
  auto stream = co_await config_.control_plane->Stream(std::move(watch));
  if (!stream.ok()) co_return co_await SendStatus(w_, stream.error());
  std::unique_ptr<kube::ResponseStream> s = std::move(*stream);
  if (!Ok2xx(s->status())) {
    auto body = co_await s->ReadAll(kMaxErrorBody);
    // Named locals: g++ 12 double-destroys a conditional's temporary inside co_await.
    const std::string upstream_body = body.ok() ? *body : std::string();
    const std::string translated = tr_.TranslateStatusBody(s->status(), upstream_body, nullptr);
    co_await w_.Send(s->status(), JsonHeaders(), translated);
    co_return;
  }
  const bool written =
      co_await w_.WriteHeader(s->status(), ResponseHeaders(s->headers()), std::nullopt);
  if (!written) co_return;
  kube::WatchDecoder decoder;
  // Written with WriteFramed: one buffer per write, no gathering copy (kube/http.h).
  constexpr size_t kHeadroom = kube::http::ResponseWriter::kFrameHeadroom;
  std::string out;
  // Either side ending ends the relay: the client going away (or the server stopping) cancels
  // the upstream read (the connection is then dropped, not pooled); the upstream ending
  // finishes the response. The front end cancels the read itself when it can (armed for the
  // read only: the writes see a gone client in their result); otherwise every read races
  // WaitClosed() (two more coroutines and a cancellation per event).
  while (true) {
    kube::Result<std::string_view> chunk = std::string_view();
    if (w_.ArmCancelOnClose()) {
      try {
        chunk = co_await s->Read();
      } catch (const boost::system::system_error&) {
        if (!w_.Disarm()) throw;
      }
      if (w_.Disarm()) {
        VLOG(2) << "watch relay: the client went away or the server is stopping";
        co_await asio::this_coro::reset_cancellation_state();  // our callers may await again
        co_return;
      }
    } else {
      auto r = co_await (s->Read() || w_.WaitClosed());
      if (r.index() == 1) {
        VLOG(2) << "watch relay: the client went away";
        co_return;
      }
      chunk = std::move(std::get<0>(r));
    }
    if (!chunk.ok()) {
      LOG(WARNING) << "watch relay: the control plane stream broke: " << chunk.error().message;
      break;
    }
    if (chunk->empty()) break;  // clean end (timeoutSeconds, control plane closing)
    decoder.Feed(*chunk);
    out.assign(kHeadroom, '\0');
    while (auto event = decoder.Next()) {
      auto translated = tr_.TranslateWatchEvent(*event, keep_table_objects_);
      if (!translated.ok()) {
        LOG(WARNING) << "watch relay: " << translated.error().message;
        continue;
      }
      if (translated->has_value()) {
        out += **translated;
        out.push_back('\n');
      }
    }
    if (decoder.failed()) {
      LOG(WARNING) << "watch relay: undecodable stream from the control plane";
      break;
    }
    if (out.size() > kHeadroom) {
      const bool written = co_await w_.WriteFramed(out);
      if (!written) co_return;
    }
  }
  s.reset();
  co_await w_.Finish();
}

asio::awaitable<void> Exchange::Create() {
  auto type = CheckContentType("create", req_.headers.Get("Content-Type").value_or(""));
  if (!type.ok()) co_return co_await SendStatus(w_, type.error());
  auto post = [this](const kube::http::Query& q, std::string body) {
    kube::RestRequest rr = Upstream("POST", tr_.CollectionPath(), q);
    rr.headers.Set("Content-Type", "application/json");
    rr.body = std::move(body);
    return config_.control_plane->Do(std::move(rr));
  };
  if (*type == BodyType::kJson) {
    // The usual named JSON create, in one pass without a DOM (proxy/fast_translate.h); the DOM
    // path below takes the rest and writes every refusal.
    std::string prepared;
    AppRef target{info_.namespace_, ""};
    if (fast::PrepareCreate(tr_, req_.body, info_.namespace_, prepared, target.name) ==
        fast::Outcome::kTranslated) {
      auto q = tr_.TranslateQuery(req_.query, "create", info_.namespace_);
      if (!q.ok()) co_return co_await SendStatus(w_, q.error());
      auto resp = co_await post(*q, std::move(prepared));
      if (!resp.ok()) co_return co_await SendStatus(w_, resp.error());
      co_return co_await Reply(*resp, &target, true);
    }
  }
  auto body = Translator::DecodeBody(req_.body, *type);
  if (!body.ok()) co_return co_await SendStatus(w_, body.error());
  auto q = tr_.TranslateQuery(req_.query, "create", info_.namespace_);
  if (!q.ok()) co_return co_await SendStatus(w_, q.error());
  const WriteTarget t{"create", info_.namespace_, "", info_.subresource};
  const bool generate = Translator::BodyName(*body).empty();
  const int attempts = generate ? std::max(1, config_.generate_name_attempts) : 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    // Each generateName attempt starts from the body as sent; a named create uses it as is.
    json::Document copy;
    if (generate) {
      copy.CopyFrom(*body, copy.GetAllocator());
      Translator::ResolveGenerateName(copy);
    }
    json::Document& obj = generate ? copy : *body;
    const AppRef target{info_.namespace_, Translator::BodyName(obj)};
    if (auto r = tr_.PrepareObject(obj, t); !r.ok()) co_return co_await SendStatus(w_, r.error());
    auto resp = co_await post(*q, json::Serialize(obj));
    if (!resp.ok()) co_return co_await SendStatus(w_, resp.error());
    if (generate && resp->status == 409 && attempt + 1 < attempts) {
      auto st = kube::Status::FromJson(resp->body);
      if (st && st->reason == "AlreadyExists") continue;  // another random suffix
    }
    co_return co_await Reply(*resp, &target, true);
  }
}

asio::awaitable<void> Exchange::Update() {
  const AppRef target{info_.namespace_, info_.name};
  auto type = CheckContentType("update", req_.headers.Get("Content-Type").value_or(""));
  if (!type.ok()) co_return co_await SendStatus(w_, type.error());
  auto body = Translator::DecodeBody(req_.body, *type);
  if (!body.ok()) co_return co_await SendStatus(w_, body.error());
  auto q = tr_.TranslateQuery(req_.query, "update", info_.namespace_);
  if (!q.ok()) co_return co_await SendStatus(w_, q.error());
  if (auto r =
          tr_.PrepareObject(*body, {"update", info_.namespace_, info_.name, info_.subresource});
      !r.ok())
    co_return co_await SendStatus(w_, r.error());
  auto cur = co_await FetchCurrent(target);
  if (!cur.ok()) co_return co_await SendStatus(w_, cur.error());
  if (!cur->exists || cur->foreign) co_return co_await SendStatus(w_, NotFound(&target));
  // Only the object just checked may be written (a uid precondition, as kube's update honours).
  json::Value& meta = json::EnsureObject(*body, "metadata", body->GetAllocator());
  if (json::GetString(meta, "uid").empty() && !cur->uid.empty())
    json::SetString(meta, "uid", cur->uid, body->GetAllocator());
  kube::RestRequest rr = Upstream(
      "PUT",
      tr_.ObjectPath(tr_.ControlPlaneName(target.namespace_, target.name), info_.subresource), *q);
  rr.headers.Set("Content-Type", "application/json");
  rr.body = json::Serialize(*body);
  auto resp = co_await config_.control_plane->Do(std::move(rr));
  if (!resp.ok()) co_return co_await SendStatus(w_, resp.error());
  co_await Reply(*resp, &target, true);
}

asio::awaitable<void> Exchange::Patch() {
  const AppRef target{info_.namespace_, info_.name};
  std::string_view content_type = req_.headers.Get("Content-Type").value_or("");
  auto type = CheckContentType("patch", content_type);
  if (!type.ok()) co_return co_await SendStatus(w_, type.error());
  auto body = Translator::DecodeBody(req_.body, *type);
  if (!body.ok()) co_return co_await SendStatus(w_, body.error());
  auto q = tr_.TranslateQuery(req_.query, "patch", info_.namespace_);
  if (!q.ok()) co_return co_await SendStatus(w_, q.error());
  auto cur = co_await FetchCurrent(target);
  if (!cur.ok()) co_return co_await SendStatus(w_, cur.error());
  if (cur->foreign || (!cur->exists && *type != BodyType::kApplyPatch))
    co_return co_await SendStatus(w_, NotFound(&target));
  const WriteTarget t{"patch", info_.namespace_, info_.name, info_.subresource};
  const json::Value* current = cur->exists ? &cur->doc : nullptr;
  kube::Outcome prepared = kube::Ok{};
  std::string upstream_type;
  switch (*type) {
    case BodyType::kMergePatch:
      prepared = tr_.PrepareMergePatch(*body, t, current);
      if (prepared.ok() && !cur->uid.empty()) {
        json::Value& meta = json::EnsureObject(*body, "metadata", body->GetAllocator());
        if (!json::Find(meta, "uid")) json::SetString(meta, "uid", cur->uid, body->GetAllocator());
      }
      upstream_type = "application/merge-patch+json";
      break;
    case BodyType::kJsonPatch:
      prepared = tr_.PrepareJsonPatch(*body, t, current);
      if (prepared.ok() && !cur->uid.empty()) {
        // A leading test of the uid: the patch applies only to the object just checked.
        json::Value test(rapidjson::kObjectType);
        auto& a = body->GetAllocator();
        test.AddMember("op", "test", a);
        test.AddMember("path", "/metadata/uid", a);
        test.AddMember("value", json::Str(cur->uid, a), a);
        json::Value ops(rapidjson::kArrayType);
        ops.PushBack(std::move(test), a);
        for (auto& op : body->GetArray()) ops.PushBack(std::move(op), a);
        static_cast<json::Value&>(*body) = std::move(ops);
      }
      upstream_type = "application/json-patch+json";
      break;
    case BodyType::kApplyPatch:
      prepared = tr_.PrepareObject(*body, t);
      // JSON is valid YAML: the control plane reads the translated document as an apply patch.
      upstream_type = "application/apply-patch+yaml";
      break;
    default:
      prepared = kube::NewUnsupportedMediaType(
          "application/json-patch+json, application/merge-patch+json, "
          "application/apply-patch+yaml");
  }
  if (!prepared.ok()) co_return co_await SendStatus(w_, prepared.error());
  kube::RestRequest rr = Upstream(
      "PATCH",
      tr_.ObjectPath(tr_.ControlPlaneName(target.namespace_, target.name), info_.subresource), *q);
  rr.headers.Set("Content-Type", upstream_type);
  rr.body = json::Serialize(*body);
  auto resp = co_await config_.control_plane->Do(std::move(rr));
  if (!resp.ok()) co_return co_await SendStatus(w_, resp.error());
  co_await Reply(*resp, &target, true);
}

asio::awaitable<void> Exchange::Delete() {
  const AppRef target{info_.namespace_, info_.name};
  auto q = tr_.TranslateQuery(req_.query, "delete", info_.namespace_);
  if (!q.ok()) co_return co_await SendStatus(w_, q.error());
  json::Document opts;
  if (!req_.body.empty()) {
    auto decoded = Translator::DecodeBody(req_.body, BodyType::kJson);
    if (!decoded.ok()) co_return co_await SendStatus(w_, decoded.error());
    if (!decoded->IsObject())
      co_return co_await SendStatus(w_, kube::NewBadRequest("DeleteOptions must be an object"));
    opts.Swap(*decoded);
  } else {
    opts.SetObject();
  }
  auto cur = co_await FetchCurrent(target);
  if (!cur.ok()) co_return co_await SendStatus(w_, cur.error());
  if (!cur->exists || cur->foreign) co_return co_await SendStatus(w_, NotFound(&target));
  // Preconditions the user gave pass through; without a uid, the one just checked is added.
  auto& a = opts.GetAllocator();
  json::Value& pre = json::EnsureObject(opts, "preconditions", a);
  if (!json::Find(pre, "uid") && !cur->uid.empty()) json::SetString(pre, "uid", cur->uid, a);
  kube::RestRequest rr =
      Upstream("DELETE", tr_.ObjectPath(tr_.ControlPlaneName(target.namespace_, target.name)), *q);
  rr.headers.Set("Content-Type", "application/json");
  rr.body = json::Serialize(opts);
  auto resp = co_await config_.control_plane->Do(std::move(rr));
  if (!resp.ok()) co_return co_await SendStatus(w_, resp.error());
  co_await Reply(*resp, &target, true);
}

}  // namespace

Proxy::Proxy(Config config) : config_(std::move(config)) {}
Proxy::~Proxy() = default;

asio::awaitable<void> Proxy::Serve(Request& req, ResponseWriter& w, const kube::RequestInfo& info,
                                   const kube::APIResource& resource, Kind kind) {
  Exchange exchange(config_, req, w, info, resource, kind);
  co_await exchange.Run();
}

}  // namespace proxy
