// Many app clusters, one control plane (issue 7): one fakekube as the control plane (Crossplane's
// XRD CRD, the fixtures' XRDs and generated CRDs), and per app cluster a fakekube in the
// aggregator role with its own in-process ConnectorServer (discovery, APIService registration and
// connection-secret sync running, leader election off). All connectors share ONE claim namespace
// and differ only in their cluster ID. Requests go through each app cluster's aggregator (front-
// proxy certificate + X-Remote-* headers) as the admin, exactly as kubectl's would. Every wait is
// bounded.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/server.h"
#include "kube/json.h"
#include "kube/rest_client.h"
#include "naming/naming.h"
#include "tests/fakekube/server.h"

namespace multicluster {

namespace asio = boost::asio;
namespace json = kube::json;
using namespace std::chrono_literals;

inline const std::string kClaimNamespace = "shared-claims";
inline const std::string kClusterA = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
inline const std::string kClusterB = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb";

// One served API: claims (KubernetesCluster, claim-) or namespaced XRs (App, nxr-).
struct Api {
  std::string group_version;  // "k8s.starter.org/v1alpha1"
  std::string group;
  std::string resource;  // plural
  std::string kind;
  naming::Kind naming_kind;
  std::string apiservice;  // "v1alpha1.k8s.starter.org"
};
const Api& ClaimApi();
const Api& XRApi();

// "/apis/<gv>/namespaces/<ns>/<resource>[/<name>]"; ns "" = all namespaces.
std::string Path(const Api& api, const std::string& ns, const std::string& name = "");
std::string PercentEncode(const std::string& s);

// An object as a user of app cluster `marker` writes it: labels {origin: <marker>}, and for
// claims spec.writeConnectionSecretToRef.name = `secret` (when not empty).
std::string ObjectJson(const Api& api, const std::string& name, const std::string& marker,
                       const std::string& secret = "");

struct Response {
  int status = 0;  // 0: transport failure
  std::string body;
  kube::http::Headers headers;
  std::optional<json::Document> Json() const;
  // metadata.name of every item/row object (lists, Tables, PartialObjectMetadataLists).
  std::vector<std::string> Names() const;
  // The `origin` label of every item (or Table row object), "<none>" when absent.
  std::vector<std::string> Origins() const;
};

// One object of the control plane's claim namespace.
struct CpObject {
  std::string name, resource_version, uid;
  std::string cluster, app_namespace, app_name, origin;  // origin labels + our `origin` label
  std::string Describe() const;
};

::testing::AssertionResult Eventually(const std::function<bool()>& pred,
                                      std::chrono::milliseconds timeout, const std::string& what);

struct Side {
  std::string marker;  // "cluster-a" / "cluster-b": the `origin` label its users write
  std::string cluster_id;
  std::unique_ptr<fakekube::FakeKube> app;
  std::unique_ptr<apiserver::ConnectorServer> connector;
  std::shared_ptr<kube::RestClient> client;  // admin, to the app cluster (the aggregator)
  std::string kubeconfig;
};

class Env {
 public:
  Env();
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Starts the control plane, both app clusters (namespaces team-a and team-b in each) and
  // their connectors; waits until both serve the claim and XR APIs through their aggregators.
  void Start();

  Side& a() { return *sides_[0]; }
  Side& b() { return *sides_[1]; }
  Side& other(const Side& s) { return &s == sides_[0].get() ? b() : a(); }

  Response Do(Side& s, const std::string& method, const std::string& path,
              const std::string& body = "", const std::string& content_type = "application/json",
              const std::string& accept = "application/json");
  // Opens a watch (the path carries ?watch=1&timeoutSeconds=N), runs `during` once the response
  // head arrived, then reads the stream until the server ends it. Body = the events.
  Response Watch(Side& s, const std::string& path, const std::function<void()>& during = {});
  // One request straight to the control plane, as its admin.
  Response CpDo(const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& content_type = "application/json");

  // Every object of `api` in the claim namespace, by name (read from the control plane).
  std::map<std::string, CpObject> CpObjects(const Api& api);
  // The subset labelled for `cluster_id`.
  std::map<std::string, CpObject> CpObjectsOf(const Api& api, const std::string& cluster_id);
  // The control-plane name the connector of `s` uses for app object ns/name.
  static std::string CpName(const Api& api, const Side& s, const std::string& ns,
                            const std::string& name);

  // Secrets in an app cluster (null when absent).
  fakekube::Object AppSecret(Side& s, const std::string& ns, const std::string& name);
  // Writes (non-GET) the app cluster of `s` received for Secrets since its last ClearRequests.
  std::vector<fakekube::RecordedRequest> AppSecretWrites(Side& s);

  template <class T>
  T Run(asio::awaitable<T> a) {
    auto fut = asio::co_spawn(
        ioc_,
        [a = std::move(a)]() mutable -> asio::awaitable<std::optional<T>> {
          co_return std::optional<T>(co_await std::move(a));
        },
        asio::use_future);
    return std::move(*fut.get());
  }

  std::unique_ptr<fakekube::FakeKube> cp;
  std::string dir;

 private:
  void StartSide(Side& s);

  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::vector<std::unique_ptr<Side>> sides_;
};

}  // namespace multicluster
