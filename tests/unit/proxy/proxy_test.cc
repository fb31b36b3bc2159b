// Proxy::Serve end to end against a fake control-plane client and a recording ResponseWriter:
// every verb's upstream request (path, query, headers, body) and the response the user sees.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <functional>

#include "kube/request_info.h"
#include "kube/rest_client.h"
#include "proxy/proxy.h"
#include "test_util.h"

namespace proxy {
namespace {

using namespace proxy::testing;  // NOLINT
using ::testing::HasSubstr;
using ::testing::Not;
namespace json = kube::json;
namespace asio = boost::asio;

// ---- fakes

struct Upstream {
  int status = 200;
  std::string body;
  std::vector<std::string> chunks;     // for Stream(); body used when empty
  bool hang = false;                   // Stream(): after the chunks, never end (until cancelled)
  std::optional<kube::Status> broken;  // Stream(): after the chunks, the stream breaks
  std::optional<kube::Status> transport_error;
  std::string content_type = "application/json";
};

class FakeStream : public kube::ResponseStream {
 public:
  FakeStream(asio::any_io_executor ex, Upstream u) : timer_(ex), u_(std::move(u)) {
    if (u_.chunks.empty() && !u_.body.empty()) u_.chunks.push_back(u_.body);
    headers_.Set("Content-Type", u_.content_type);
  }
  int status() const override { return u_.status; }
  const kube::http::Headers& headers() const override { return headers_; }
  asio::awaitable<kube::Result<std::string_view>> Read() override {
    if (next_ < u_.chunks.size()) co_return std::string_view(u_.chunks[next_++]);
    if (u_.broken) co_return *u_.broken;
    if (u_.hang) {
      timer_.expires_after(std::chrono::hours(1));
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return kube::NewServiceUnavailable("cancelled");
    }
    co_return std::string_view();
  }

 private:
  asio::steady_timer timer_;
  Upstream u_;
  size_t next_ = 0;
  kube::http::Headers headers_;
};

class FakeClient : public kube::RestClient {
 public:
  explicit FakeClient(asio::any_io_executor ex) : ex_(ex) {}
  std::vector<kube::RestRequest> requests;
  std::function<Upstream(const kube::RestRequest&)> respond;

  asio::awaitable<kube::Result<kube::RestResponse>> Do(kube::RestRequest r) override {
    requests.push_back(r);
    Upstream u = respond(r);
    if (u.transport_error) co_return *u.transport_error;
    kube::RestResponse resp;
    resp.status = u.status;
    resp.body = u.body;
    resp.headers.Set("Content-Type", u.content_type);
    co_return resp;
  }
  asio::awaitable<kube::Result<std::unique_ptr<kube::ResponseStream>>> Stream(
      kube::RestRequest r) override {
    requests.push_back(r);
    Upstream u = respond(r);
    if (u.transport_error) co_return *u.transport_error;
    std::unique_ptr<kube::ResponseStream> s = std::make_unique<FakeStream>(ex_, std::move(u));
    co_return s;
  }
  kube::RestClientStats stats() const override { return {}; }
  const kube::ClusterConfig& config() const override { return config_; }
  void CloseIdle() override {}

 private:
  asio::any_io_executor ex_;
  kube::ClusterConfig config_;
};

class RecordingWriter : public kube::http::ResponseWriter {
 public:
  explicit RecordingWriter(asio::any_io_executor ex) : closed_(ex) {
    closed_.expires_at(std::chrono::steady_clock::time_point::max());
  }
  int status = 0;
  kube::http::Headers headers;
  std::optional<uint64_t> content_length;
  std::string body;
  std::vector<std::string> writes;
  bool finished = false;
  bool aborted = false;  // the handler threw kube::http::AbortResponse
  asio::cancellation_signal* handler_cancellation = nullptr;
  bool handler_cancelled = false;
  int cancel_on_close_arms = 0;
  std::function<void(RecordingWriter&)> on_write;

  asio::awaitable<bool> WriteHeader(int s, kube::http::Headers h,
                                    std::optional<uint64_t> len) override {
    status = s;
    headers = std::move(h);
    content_length = len;
    sent_ = true;
    co_return true;
  }
  asio::awaitable<bool> Write(std::string_view data) override {
    body.append(data);
    writes.emplace_back(data);
    if (on_write) on_write(*this);
    co_return true;
  }
  asio::awaitable<bool> Finish() override {
    finished = true;
    co_return true;
  }
  asio::awaitable<void> WaitClosed() override {
    if (!is_closed_) co_await closed_.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return;
  }
  bool header_sent() const override { return sent_; }
  // As the HTTP/1.1 front end does when `handler_cancellation` is set: the client leaving
  // cancels the handler's coroutine (terminal) while ArmCancelOnClose() is armed.
  bool ArmCancelOnClose() override {
    if (handler_cancellation == nullptr) return false;
    ++cancel_on_close_arms;
    cancel_on_close_ = true;
    if (is_closed_) CancelHandler();
    return true;
  }
  bool Disarm() override {
    cancel_on_close_ = false;
    return handler_cancelled;
  }
  void Close() {
    is_closed_ = true;
    closed_.cancel();
    if (cancel_on_close_) CancelHandler();
  }

 private:
  void CancelHandler() {
    cancel_on_close_ = false;
    handler_cancelled = true;
    handler_cancellation->emit(asio::cancellation_type::terminal);
  }

  asio::steady_timer closed_;
  bool is_closed_ = false;
  bool sent_ = false;
  bool cancel_on_close_ = false;
};

// ---- harness

class ProxyTest : public ::testing::Test {
 protected:
  ProxyTest() : client_(std::make_shared<FakeClient>(ctx_.get_executor())) {
    Config c;
    c.cluster_id = kCluster;
    c.claim_namespace = kClaimNs;
    c.control_plane = client_;
    c.generate_name_attempts = 3;
    proxy_ = std::make_unique<Proxy>(c);
  }

  // Serves one request; returns what the user got.
  std::unique_ptr<RecordingWriter> Serve(
      std::string method, std::string target, std::string body = {},
      std::vector<std::pair<std::string, std::string>> headers = {},
      std::function<void(RecordingWriter&)> on_write = {}) {
    auto req = std::make_unique<kube::http::Request>();
    req->method = method;
    req->target = target;
    kube::http::ParseTarget(*req);
    req->body = std::move(body);
    for (auto& [k, v] : headers) req->headers.Add(k, v);
    auto info = kube::RequestInfoFactory().NewRequestInfo(*req);
    EXPECT_TRUE(info.ok());
    auto w = std::make_unique<RecordingWriter>(ctx_.get_executor());
    w->on_write = std::move(on_write);
    asio::cancellation_signal handler_cancellation;
    if (front_end_cancels_) w->handler_cancellation = &handler_cancellation;
    bool done = false;
    asio::co_spawn(
        ctx_,
        [&]() -> asio::awaitable<void> {
          try {
            co_await proxy_->Serve(*req, *w, *info, Claims(), Kind::kClaim);
          } catch (const kube::http::AbortResponse&) {
            w->aborted = true;
          }
          done = true;
        },
        asio::bind_cancellation_slot(handler_cancellation.slot(), asio::detached));
    ctx_.run_for(std::chrono::seconds(5));
    ctx_.restart();
    EXPECT_TRUE(done) << "Serve did not return";
    return w;
  }

  json::Document BodyOf(const RecordingWriter& w) { return Parse(w.body); }

  asio::io_context ctx_;
  std::shared_ptr<FakeClient> client_;
  std::unique_ptr<Proxy> proxy_;
  bool front_end_cancels_ = false;  // the writer supports ArmCancelOnClose()
};

const std::string kBase = "/apis/k8s.starter.org/v1alpha1";
const std::string kCpBase = "/apis/k8s.starter.org/v1alpha1/namespaces/claims/kubernetesclusters";

Upstream Ok(std::string body, int status = 200) {
  Upstream u;
  u.status = status;
  u.body = std::move(body);
  return u;
}
Upstream Err(const kube::Status& st) { return Ok(st.ToJson(), st.code); }

TEST_F(ProxyTest, GetTranslatesPathAndAnswerAndNeverForwardsIdentity) {
  client_->respond = [](const kube::RestRequest&) { return Ok(StoredClaim("my-bucket", "test")); };
  auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters/my-bucket", "",
                 {{"Authorization", "Bearer user-token"},
                  {"X-Remote-User", "alice"},
                  {"Impersonate-User", "root"},
                  {"Audit-ID", "audit-123"}});
  ASSERT_EQ(client_->requests.size(), 1u);
  const auto& up = client_->requests[0];
  EXPECT_EQ(up.method, "GET");
  EXPECT_EQ(up.path, kCpBase + "/claim-c603e518969b413e");
  EXPECT_FALSE(up.headers.Has("Authorization"));
  EXPECT_FALSE(up.headers.Has("X-Remote-User"));
  EXPECT_FALSE(up.headers.Has("Impersonate-User"));
  EXPECT_EQ(up.headers.Get("Audit-ID").value_or(""), "audit-123");
  EXPECT_EQ(w->status, 200);
  json::Document d = BodyOf(*w);
  EXPECT_EQ(json::GetString(d["metadata"], "name"), "my-bucket");
  EXPECT_EQ(json::GetString(d["metadata"], "namespace"), "test");
  EXPECT_THAT(w->body, Not(HasSubstr("mcp-connector")));
}

TEST_F(ProxyTest, GetOfAnotherClustersObjectIs404ForTheUsersName) {
  client_->respond = [](const kube::RestRequest&) {
    return Ok(StoredClaim("my-bucket", "test", kOtherCluster));
  };
  auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters/my-bucket");
  EXPECT_EQ(w->status, 404);
  json::Document d = BodyOf(*w);
  EXPECT_EQ(json::GetString(d, "message"),
            "kubernetesclusters.k8s.starter.org \"my-bucket\" not found");
  EXPECT_THAT(w->body, Not(HasSubstr("claim-")));
}

TEST_F(ProxyTest, GetAnswersAreTheSameWithAndWithoutTheFastPath) {
  // An ordinary object takes the DOM-free path, one with an exponent in a number the DOM path:
  // the user sees the same translation either way.
  for (std::string_view count : {"3", "3e0"}) {
    const std::string spec =
        R"({"parameters":{"nodeCount":)" + std::string(count) +
        R"(},"writeConnectionSecretToRef":{"name":"conn-1","namespace":"claims"}})";
    const std::string stored = StoredClaim(
        "my-bucket", "test", kCluster,
        R"("annotations":{"mcp-connector.upbound.io/connection-secret-name":"kc","team":"a"})",
        spec);
    client_->respond = [&](const kube::RestRequest&) { return Ok(stored); };
    auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters/my-bucket");
    EXPECT_EQ(w->status, 200) << count;
    json::Document d = BodyOf(*w);
    EXPECT_EQ(json::GetString(d["metadata"], "name"), "my-bucket") << count;
    EXPECT_EQ(json::GetString(d["metadata"], "namespace"), "test") << count;
    EXPECT_EQ(json::GetString(d["metadata"]["annotations"], "team"), "a") << count;
    EXPECT_EQ(json::GetString(d["spec"]["writeConnectionSecretToRef"], "name"), "kc") << count;
    EXPECT_EQ(json::GetString(d["spec"]["writeConnectionSecretToRef"], "namespace"), "test");
    EXPECT_EQ(d["spec"]["parameters"]["nodeCount"].GetDouble(), 3.0) << count;
    EXPECT_THAT(w->body, Not(HasSubstr("mcp-connector"))) << count;
    EXPECT_THAT(w->body, Not(HasSubstr("claim-"))) << count;
  }
}

TEST_F(ProxyTest, UpstreamNotFoundNamesTheUsersObject) {
  Translator t = MakeTranslator();
  client_->respond = [&](const kube::RestRequest&) {
    return Err(kube::NewNotFound(t.Gr(), "claim-c603e518969b413e"));
  };
  auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters/my-bucket");
  EXPECT_EQ(w->status, 404);
  json::Document d = BodyOf(*w);
  EXPECT_EQ(json::GetString(d, "message"),
            "kubernetesclusters.k8s.starter.org \"my-bucket\" not found");
  EXPECT_EQ(json::GetString(d["details"], "name"), "my-bucket");
  EXPECT_THAT(w->body, Not(HasSubstr("claim-c603")));
}

TEST_F(ProxyTest, ControlPlaneTroubleIs503Or504) {
  client_->respond = [](const kube::RestRequest&) {
    Upstream u;
    u.transport_error = kube::NewServiceUnavailable("the control plane is unreachable");
    return u;
  };
  auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters/a");
  EXPECT_EQ(w->status, 503);
  EXPECT_THAT(w->body, HasSubstr("unreachable"));
  client_->respond = [](const kube::RestRequest&) {
    Upstream u;
    u.transport_error = kube::NewTimeout("the control plane did not answer in time", 1);
    return u;
  };
  auto list = Serve("GET", kBase + "/kubernetesclusters");
  EXPECT_EQ(list->status, 504);
}

TEST_F(ProxyTest, NotAcceptableNeverReachesTheControlPlane) {
  client_->respond = [](const kube::RestRequest&) { return Ok("{}"); };
  auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters/a", "",
                 {{"Accept", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(w->status, 406);
  EXPECT_TRUE(client_->requests.empty());
}

std::string ListOf(const std::vector<std::string>& items) {
  std::string s =
      R"({"kind":"KubernetesClusterList","apiVersion":"k8s.starter.org/v1alpha1","metadata":{"resourceVersion":"42","continue":"tok"},"items":[)";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + items[i];
  return s + "]}";
}

TEST_F(ProxyTest, ListIsScopedStreamedAndFiltered) {
  std::string list = ListOf({StoredClaim("a", "test"), StoredClaim("b", "test", kOtherCluster),
                             StoredClaim("c", "test")});
  client_->respond = [&](const kube::RestRequest&) {
    Upstream u;
    for (size_t i = 0; i < list.size(); i += 7) u.chunks.push_back(list.substr(i, 7));
    return u;
  };
  auto w =
      Serve("GET", kBase + "/namespaces/test/kubernetesclusters?limit=500&labelSelector=x%3Dy");
  ASSERT_EQ(client_->requests.size(), 1u);
  kube::http::Query q(client_->requests[0].path.substr(client_->requests[0].path.find('?') + 1));
  EXPECT_EQ(client_->requests[0].path.substr(0, client_->requests[0].path.find('?')), kCpBase);
  EXPECT_EQ(q.Get("limit").value_or(""), "500");
  EXPECT_EQ(q.Get("labelSelector").value_or(""),
            std::string("mcp-connector.upbound.io/app-cluster=") + kCluster +
                ",mcp-connector.upbound.io/app-namespace=test,x=y");
  EXPECT_EQ(w->status, 200);
  EXPECT_FALSE(w->content_length.has_value());  // streamed
  EXPECT_TRUE(w->finished);
  json::Document d = BodyOf(*w);
  ASSERT_TRUE(d.IsObject()) << w->body;
  ASSERT_EQ(d["items"].Size(), 2u);
  EXPECT_EQ(json::GetString(d["items"][0]["metadata"], "name"), "a");
  EXPECT_EQ(json::GetString(d["items"][1]["metadata"], "name"), "c");
  EXPECT_EQ(json::GetString(d["metadata"], "continue"), "tok");
}

// A list the control plane cuts short (its stream breaks, or it ends mid-document) must never
// reach the user as a complete one: the response is aborted, not finished.
TEST_F(ProxyTest, AListCutShortIsAbortedNeverFinished) {
  std::string list = ListOf({StoredClaim("a", "test"), StoredClaim("c", "test")});
  for (bool breaks : {true, false}) {
    SCOPED_TRACE(breaks ? "stream breaks" : "stream ends mid-document");
    client_->respond = [&](const kube::RestRequest&) {
      Upstream u;
      u.chunks.push_back(list.substr(0, list.size() - 40));
      if (breaks) u.broken = kube::NewServiceUnavailable("reading response body: stream truncated");
      return u;
    };
    auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters");
    EXPECT_EQ(w->status, 200);  // the header was sent before the body broke
    EXPECT_TRUE(w->aborted);
    EXPECT_FALSE(w->finished);
    EXPECT_FALSE(BodyOf(*w).IsObject()) << "a truncated list must not parse: " << w->body;
  }
  // The same list whole is finished normally.
  client_->respond = [&](const kube::RestRequest&) { return Ok(list); };
  auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters");
  EXPECT_FALSE(w->aborted);
  EXPECT_TRUE(w->finished);
  EXPECT_EQ(BodyOf(*w)["items"].Size(), 2u);
}

TEST_F(ProxyTest, HostileSelectorIs400AndNothingIsAsked) {
  client_->respond = [](const kube::RestRequest&) { return Ok(ListOf({})); };
  auto w =
      Serve("GET", kBase + "/kubernetesclusters?labelSelector=" +
                       kube::http::PercentEncode(
                           std::string("mcp-connector.upbound.io/app-cluster=") + kOtherCluster));
  EXPECT_EQ(w->status, 400);
  EXPECT_TRUE(client_->requests.empty());
}

TEST_F(ProxyTest, TableListRewritesNamesAndHonoursIncludeObjectNone) {
  std::string table =
      R"({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"3"},"columnDefinitions":[{"name":"Name","type":"string","format":"name"},{"name":"AGE","type":"date"}],"rows":[)";
  auto row = [](std::string name, const char* cluster) {
    json::Document obj = Parse(StoredClaim(name, "test", cluster));
    return R"({"cells":[")" + std::string(json::GetString(obj["metadata"], "name")) +
           R"(","1m"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)" +
           json::Serialize(obj["metadata"]) + "}}";
  };
  table += row("a", kCluster) + "," + row("b", kOtherCluster) + "]}";
  client_->respond = [&](const kube::RestRequest&) { return Ok(table); };
  auto w = Serve("GET", kBase + "/kubernetesclusters?includeObject=None&limit=500", "",
                 {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}});
  ASSERT_EQ(client_->requests.size(), 1u);
  EXPECT_EQ(client_->requests[0].headers.Get("Accept").value_or(""),
            "application/json;as=Table;v=v1;g=meta.k8s.io");
  EXPECT_THAT(client_->requests[0].path, HasSubstr("includeObject=Metadata"));
  json::Document d = BodyOf(*w);
  ASSERT_TRUE(d.IsObject()) << w->body;
  ASSERT_EQ(d["rows"].Size(), 1u);
  EXPECT_EQ(json::View(d["rows"][0]["cells"][0]), "a");
  EXPECT_EQ(json::Find(d["rows"][0], "object"), nullptr);
}

TEST_F(ProxyTest, WatchRelaysEventByEventAndEndsWhenTheClientGoes) {
  std::string e1 = R"({"type":"ADDED","object":)" + StoredClaim("a", "test") + "}\n";
  std::string e2 = R"({"type":"ADDED","object":)" + StoredClaim("b", "test", kOtherCluster) + "}\n";
  std::string bm =
      R"({"type":"BOOKMARK","object":{"kind":"KubernetesCluster","apiVersion":"k8s.starter.org/v1alpha1","metadata":{"resourceVersion":"50"}}})"
      "\n";
  client_->respond = [&](const kube::RestRequest&) {
    Upstream u;
    u.chunks = {e1.substr(0, 10), e1.substr(10) + e2, bm};
    u.hang = true;
    return u;
  };
  auto w = Serve("GET",
                 kBase +
                     "/namespaces/test/kubernetesclusters?watch=1&resourceVersion=10&"
                     "allowWatchBookmarks=true&fieldSelector=metadata.name%3Da",
                 "", {}, [](RecordingWriter& rw) {
                   if (rw.body.find("BOOKMARK") != std::string::npos) rw.Close();
                 });
  ASSERT_EQ(client_->requests.size(), 1u);
  kube::http::Query q(client_->requests[0].path.substr(client_->requests[0].path.find('?') + 1));
  EXPECT_EQ(q.Get("watch").value_or(""), "true");
  EXPECT_EQ(q.Get("resourceVersion").value_or(""), "10");
  EXPECT_EQ(q.Get("allowWatchBookmarks").value_or(""), "true");
  EXPECT_EQ(q.Get("fieldSelector").value_or(""), "metadata.name=" + Cp("a", "test"));
  EXPECT_EQ(w->status, 200);
  // One write per upstream chunk that carried events: a then (b dropped) then the bookmark.
  ASSERT_EQ(w->writes.size(), 2u);
  EXPECT_THAT(w->writes[0], HasSubstr("\"name\":\"a\""));
  EXPECT_THAT(w->writes[1], HasSubstr("BOOKMARK"));
  EXPECT_THAT(w->body, Not(HasSubstr(kOtherCluster)));
}

// The same relay when the front end cancels the handler on close (ResponseWriter::
// ArmCancelOnClose, as the HTTP/1.1 server does): one upstream read per event, no race with
// WaitClosed(); the client leaving cancels the hanging read and the relay returns without
// finishing the body (the front end finishes or drops it).
TEST_F(ProxyTest, WatchEndsWhenTheFrontEndCancelsItOnClose) {
  front_end_cancels_ = true;
  std::string e1 = R"({"type":"ADDED","object":)" + StoredClaim("a", "test") + "}\n";
  std::string e2 = R"({"type":"ADDED","object":)" + StoredClaim("c", "test") + "}\n";
  client_->respond = [&](const kube::RestRequest&) {
    Upstream u;
    u.chunks = {e1, e2};
    u.hang = true;
    return u;
  };
  auto w = Serve("GET", kBase + "/namespaces/test/kubernetesclusters?watch=1", "", {},
                 [](RecordingWriter& rw) {
                   if (rw.body.find("\"name\":\"c\"") != std::string::npos) rw.Close();
                 });
  EXPECT_EQ(w->status, 200);
  ASSERT_EQ(w->writes.size(), 2u);
  EXPECT_THAT(w->writes[0], HasSubstr("\"name\":\"a\""));
  EXPECT_THAT(w->writes[1], HasSubstr("\"name\":\"c\""));
  EXPECT_TRUE(w->handler_cancelled) << "the hanging read was not cancelled by the front end";
  EXPECT_EQ(w->cancel_on_close_arms, 3) << "armed once per upstream read";
  EXPECT_FALSE(w->finished);
  EXPECT_FALSE(w->aborted);
}

TEST_F(ProxyTest, WatchEndsCleanlyWhenTheControlPlaneEnds) {
  client_->respond = [&](const kube::RestRequest&) {
    return Ok(R"({"type":"ADDED","object":)" + StoredClaim("a", "test") + "}\n");
  };
  auto w = Serve("GET", kBase + "/watch/namespaces/test/kubernetesclusters");
  EXPECT_EQ(w->status, 200);
  EXPECT_TRUE(w->finished);
  EXPECT_THAT(w->body, HasSubstr("\"name\":\"a\""));
}

TEST_F(ProxyTest, CreateTranslatesBodyAndAnswer) {
  std::string sent;
  client_->respond = [&](const kube::RestRequest& r) {
    sent = r.body;
    json::Document d = Parse(r.body);
    json::SetString(d["metadata"], "uid", "u-9", d.GetAllocator());
    return Ok(json::Serialize(d), 201);
  };
  auto w = Serve(
      "POST", kBase + "/namespaces/test/kubernetesclusters?fieldManager=kubectl",
      R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{"name":"my-bucket","ownerReferences":[{"uid":"o"}]},"spec":{"writeConnectionSecretToRef":{"name":"kc"}}})",
      {{"Content-Type", "application/json"}});
  ASSERT_EQ(client_->requests.size(), 1u);
  EXPECT_EQ(client_->requests[0].method, "POST");
  EXPECT_EQ(client_->requests[0].path, kCpBase + "?fieldManager=kubectl");
  json::Document up = Parse(sent);
  EXPECT_EQ(json::GetString(up["metadata"], "name"), "claim-c603e518969b413e");
  EXPECT_EQ(json::Find(up["metadata"], "ownerReferences"), nullptr);
  EXPECT_EQ(w->status, 201);
  json::Document d = BodyOf(*w);
  EXPECT_EQ(json::GetString(d["metadata"], "name"), "my-bucket");
  EXPECT_EQ(json::GetString(d["metadata"]["ownerReferences"][0], "uid"), "o");
  EXPECT_EQ(json::GetString(d["spec"]["writeConnectionSecretToRef"], "name"), "kc");
}

TEST_F(ProxyTest, CreateWithGenerateNameRetriesCollisions) {
  Translator t = MakeTranslator();
  int calls = 0;
  std::vector<std::string> names;
  client_->respond = [&](const kube::RestRequest& r) {
    json::Document d = Parse(r.body);
    names.push_back(std::string(
        json::GetString(d["metadata"]["labels"], "mcp-connector.upbound.io/app-resource-name")));
    if (++calls < 3)
      return Err(kube::NewAlreadyExists(t.Gr(), json::GetString(d["metadata"], "name")));
    return Ok(r.body, 201);
  };
  auto w = Serve("POST", kBase + "/namespaces/test/kubernetesclusters",
                 R"({"metadata":{"generateName":"web-"}})");
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(w->status, 201);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_NE(names[0], names[1]);
  json::Document d = BodyOf(*w);
  EXPECT_EQ(json::GetString(d["metadata"], "name"), names[2]);
  EXPECT_EQ(json::GetString(d["metadata"], "generateName"), "web-");
}

TEST_F(ProxyTest, CreateAlreadyExistsNamesTheUsersObject) {
  Translator t = MakeTranslator();
  client_->respond = [&](const kube::RestRequest&) {
    return Err(kube::NewAlreadyExists(t.Gr(), Cp("a", "test")));
  };
  auto w =
      Serve("POST", kBase + "/namespaces/test/kubernetesclusters", R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(w->status, 409);
  EXPECT_EQ(json::GetString(BodyOf(*w), "message"),
            "kubernetesclusters.k8s.starter.org \"a\" already exists");
}

TEST_F(ProxyTest, BadBodiesNeverReachTheControlPlane) {
  client_->respond = [](const kube::RestRequest&) { return Ok("{}"); };
  struct Case {
    std::string method, path, body, content_type;
    int code;
  } cases[] = {
      {"POST", "/namespaces/test/kubernetesclusters", "not json", "application/json", 400},
      {"POST", "/namespaces/test/kubernetesclusters",
       R"({"metadata":{"name":"a","namespace":"x"}})", "application/json", 400},
      {"POST", "/namespaces/test/kubernetesclusters",
       R"({"metadata":{"name":"a","labels":{"mcp-connector.upbound.io/app-cluster":"x"}}})",
       "application/json", 422},
      {"POST", "/namespaces/test/kubernetesclusters", R"({"metadata":{"name":"A"}})",
       "application/json", 422},
      {"POST", "/namespaces/test/kubernetesclusters", "<a/>", "application/xml", 415},
      {"PUT", "/namespaces/test/kubernetesclusters/a", R"({"metadata":{"name":"b"}})",
       "application/json", 400},
      {"PATCH", "/namespaces/test/kubernetesclusters/a", "{}",
       "application/strategic-merge-patch+json", 415},
  };
  for (const auto& c : cases) {
    client_->requests.clear();
    auto w = Serve(c.method, kBase + c.path, c.body, {{"Content-Type", c.content_type}});
    EXPECT_EQ(w->status, c.code) << c.method << " " << c.body;
    EXPECT_TRUE(client_->requests.empty()) << c.method << " " << c.body;
  }
}

TEST_F(ProxyTest, UpdateOfAForeignObjectIs404AndNothingIsWritten) {
  client_->respond = [](const kube::RestRequest&) {
    return Ok(StoredClaim("a", "test", kOtherCluster));
  };
  auto w = Serve("PUT", kBase + "/namespaces/test/kubernetesclusters/a",
                 R"({"metadata":{"name":"a"},"spec":{}})");
  EXPECT_EQ(w->status, 404);
  ASSERT_EQ(client_->requests.size(), 1u);
  EXPECT_EQ(client_->requests[0].method, "GET");
}

TEST_F(ProxyTest, UpdateCarriesAUidPrecondition) {
  std::string sent;
  client_->respond = [&](const kube::RestRequest& r) {
    if (r.method == "GET") return Ok(StoredClaim("a", "test"));
    sent = r.body;
    return Ok(r.body);
  };
  auto w = Serve("PUT", kBase + "/namespaces/test/kubernetesclusters/a",
                 R"({"metadata":{"name":"a","resourceVersion":"7"},"spec":{"x":1}})");
  EXPECT_EQ(w->status, 200);
  ASSERT_EQ(client_->requests.size(), 2u);
  EXPECT_EQ(client_->requests[1].method, "PUT");
  EXPECT_EQ(client_->requests[1].path, kCpBase + "/" + Cp("a", "test"));
  json::Document up = Parse(sent);
  EXPECT_EQ(json::GetString(up["metadata"], "uid"), "uid-1");
  EXPECT_EQ(json::GetString(BodyOf(*w)["metadata"], "name"), "a");
}

TEST_F(ProxyTest, MergePatchAndApplyPatch) {
  std::vector<std::pair<std::string, std::string>> patches;  // content type, body
  client_->respond = [&](const kube::RestRequest& r) {
    if (r.method == "GET") return Ok(StoredClaim("a", "test"));
    patches.emplace_back(std::string(r.headers.Get("Content-Type").value_or("")), r.body);
    return Ok(StoredClaim("a", "test"));
  };
  auto merge = Serve("PATCH", kBase + "/namespaces/test/kubernetesclusters/a",
                     R"({"metadata":{"labels":{"x":"y"}}})",
                     {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(merge->status, 200);
  auto apply = Serve(
      "PATCH", kBase + "/namespaces/test/kubernetesclusters/a?fieldManager=kubectl&force=true",
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n"
      "  name: a\nspec:\n  parameters:\n    nodeCount: 2\n",
      {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(apply->status, 200);
  ASSERT_EQ(patches.size(), 2u);
  EXPECT_EQ(patches[0].first, "application/merge-patch+json");
  json::Document mp = Parse(patches[0].second);
  EXPECT_EQ(json::GetString(mp["metadata"], "uid"), "uid-1");
  EXPECT_EQ(json::GetString(mp["metadata"]["labels"], "x"), "y");
  EXPECT_EQ(patches[1].first, "application/apply-patch+yaml");
  json::Document ap = Parse(patches[1].second);  // JSON (valid YAML)
  ASSERT_TRUE(ap.IsObject());
  EXPECT_EQ(json::GetString(ap["metadata"], "name"), Cp("a", "test"));
  EXPECT_EQ(json::GetString(ap["metadata"]["labels"], "mcp-connector.upbound.io/app-cluster"),
            kCluster);
  EXPECT_EQ(ap["spec"]["parameters"]["nodeCount"].GetInt(), 2);
  EXPECT_THAT(client_->requests.back().path, HasSubstr("fieldManager=kubectl"));
  EXPECT_THAT(client_->requests.back().path, HasSubstr("force=true"));
}

TEST_F(ProxyTest, ApplyPatchCreatesWhenMissing) {
  client_->respond = [&](const kube::RestRequest& r) {
    if (r.method == "GET")
      return Err(kube::NewNotFound({"k8s.starter.org", "kubernetesclusters"}, Cp("n", "test")));
    return Ok(r.body, 201);
  };
  auto w = Serve(
      "PATCH", kBase + "/namespaces/test/kubernetesclusters/n",
      // Quoted: a plain `n` is YAML 1.1's false, as kube's YAML decoder reads it.
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: 'n'\n",
      {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(w->status, 201);
  EXPECT_EQ(json::GetString(BodyOf(*w)["metadata"], "name"), "n");
}

TEST_F(ProxyTest, JsonPatchGetsAUidTest) {
  std::string sent;
  client_->respond = [&](const kube::RestRequest& r) {
    if (r.method == "GET") return Ok(StoredClaim("a", "test"));
    sent = r.body;
    return Ok(StoredClaim("a", "test"));
  };
  auto w = Serve("PATCH", kBase + "/namespaces/test/kubernetesclusters/a",
                 R"([{"op":"replace","path":"/spec/parameters/nodeCount","value":4}])",
                 {{"Content-Type", "application/json-patch+json"}});
  EXPECT_EQ(w->status, 200);
  json::Document ops = Parse(sent);
  ASSERT_TRUE(ops.IsArray());
  ASSERT_EQ(ops.Size(), 2u);
  EXPECT_EQ(json::GetString(ops[0], "op"), "test");
  EXPECT_EQ(json::GetString(ops[0], "value"), "uid-1");
}

TEST_F(ProxyTest, DeleteAddsUidPreconditionAndKeepsTheUsers) {
  std::string sent;
  client_->respond = [&](const kube::RestRequest& r) {
    if (r.method == "GET") return Ok(StoredClaim("a", "test"));
    sent = r.body;
    return Ok(StoredClaim("a", "test"));
  };
  auto w = Serve(
      "DELETE", kBase + "/namespaces/test/kubernetesclusters/a?propagationPolicy=Foreground",
      R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":"7"}})");
  EXPECT_EQ(w->status, 200);
  ASSERT_EQ(client_->requests.size(), 2u);
  EXPECT_EQ(client_->requests[1].method, "DELETE");
  EXPECT_EQ(client_->requests[1].path,
            kCpBase + "/" + Cp("a", "test") + "?propagationPolicy=Foreground");
  json::Document opts = Parse(sent);
  EXPECT_EQ(json::GetString(opts["preconditions"], "uid"), "uid-1");
  EXPECT_EQ(json::GetString(opts["preconditions"], "resourceVersion"), "7");
  EXPECT_EQ(json::GetString(BodyOf(*w)["metadata"], "name"), "a");
}

TEST_F(ProxyTest, DeleteSuccessStatusNamesTheUsersObject) {
  client_->respond = [&](const kube::RestRequest& r) {
    if (r.method == "GET") return Ok(StoredClaim("a", "test"));
    return Ok(
        R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":")" +
        Cp("a", "test") +
        R"(","group":"k8s.starter.org","kind":"kubernetesclusters","uid":"uid-1"}})");
  };
  auto w = Serve("DELETE", kBase + "/namespaces/test/kubernetesclusters/a");
  EXPECT_EQ(w->status, 200);
  json::Document d = BodyOf(*w);
  EXPECT_EQ(json::GetString(d, "status"), "Success");
  EXPECT_EQ(json::GetString(d["details"], "name"), "a");
}

TEST_F(ProxyTest, DeleteCollectionIsScopedAndStreamed) {
  client_->respond = [&](const kube::RestRequest&) {
    return Ok(ListOf({StoredClaim("a", "test"), StoredClaim("z", "test", kOtherCluster)}));
  };
  auto w = Serve("DELETE", kBase + "/namespaces/test/kubernetesclusters?labelSelector=team%3Dblue");
  ASSERT_EQ(client_->requests.size(), 1u);
  EXPECT_EQ(client_->requests[0].method, "DELETE");
  kube::http::Query q(client_->requests[0].path.substr(client_->requests[0].path.find('?') + 1));
  EXPECT_EQ(q.Get("labelSelector").value_or(""),
            std::string("mcp-connector.upbound.io/app-cluster=") + kCluster +
                ",mcp-connector.upbound.io/app-namespace=test,team=blue");
  json::Document d = BodyOf(*w);
  ASSERT_TRUE(d.IsObject()) << w->body;
  ASSERT_EQ(d["items"].Size(), 1u);
}

TEST_F(ProxyTest, StatusSubresource) {
  client_->respond = [&](const kube::RestRequest& r) {
    if (r.method == "GET") return Ok(StoredClaim("a", "test"));
    return Ok(StoredClaim("a", "test"));
  };
  auto w = Serve("PUT", kBase + "/namespaces/test/kubernetesclusters/a/status",
                 R"({"metadata":{"name":"a"},"status":{"x":1}})");
  EXPECT_EQ(w->status, 200);
  EXPECT_EQ(client_->requests.back().path, kCpBase + "/" + Cp("a", "test") + "/status");
  auto scale = Serve("GET", kBase + "/namespaces/test/kubernetesclusters/a/scale");
  EXPECT_EQ(scale->status, 404);
}

}  // namespace
}  // namespace proxy
