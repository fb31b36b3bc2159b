// A client for Kubernetes API servers (client-go's rest.RESTClient): TLS with SNI + host name
// verification, a keep-alive connection pool (no handshake per request), per-request timeouts
// for non-streaming calls, streaming bodies (list relay, watches) without a timeout, and
// transport errors mapped to kube::Status (503 "... unreachable", 504 Timeout).
// Thread-safe: one RestClient is shared by every coroutine; completions resume on the caller's
// executor. Cancellation: every awaitable honours asio per-operation cancellation (race it with
// `||` from asio::experimental::awaitable_operators); a cancelled connection is not reused.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kube/http.h"
#include "kube/json.h"
#include "kube/kubeconfig.h"
#include "kube/result.h"
#include "kube/status.h"

namespace kube {

namespace asio = boost::asio;

struct RestRequest {
  std::string method = "GET";
  // Path + optional "?query", appended to the server URL's path prefix.
  std::string path;
  http::Headers headers;  // Host, User-Agent, Authorization, Content-Length are added
  std::string body;
  // Non-streaming calls: overrides ClusterConfig::request_timeout. Stream(): covers only the
  // connection and the response head; the body never times out.
  std::optional<std::chrono::milliseconds> timeout;
  // The body carries a secret (a TokenReview's bearer token): it is wiped (sodium_memzero) as
  // soon as the request has been written, or has failed, before Do()/Stream() return.
  bool sensitive = false;
  // A watch or other long-running stream: when a new connection is needed and the client is at
  // ClusterConfig::max_concurrent_dials, ordinary requests get theirs first.
  bool long_running = false;
};

// Tests only: called with the body of a `sensitive` request right after it was wiped (nullptr
// removes the hook).
void SetSensitiveBodyWipedHookForTesting(void (*hook)(std::string_view wiped_body));

struct RestResponse {
  int status = 0;
  http::Headers headers;
  std::string body;
};

// A response whose body is read as it arrives. Destroying it before the end closes the
// connection (it is not returned to the pool); reading to the end returns it to the pool.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  virtual const http::Headers& headers() const = 0;
  // The next body bytes (chunk boundaries are not preserved); an empty view at the end of the
  // body. The view is valid until the next call. Errors: the connection broke (503) or the
  // operation was cancelled.
  virtual asio::awaitable<Result<std::string_view>> Read() = 0;
  // The rest of the body, at most `max_bytes` (error bodies, small documents).
  asio::awaitable<Result<std::string>> ReadAll(size_t max_bytes = 64 * 1024 * 1024);
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  json::Document object;
};

// Decoded watch events, one at a time.
class Watcher {
 public:
  virtual ~Watcher() = default;
  // The next event; nullopt at a clean end of stream. Errors: broken stream or undecodable event.
  virtual asio::awaitable<Result<std::optional<WatchEvent>>> Next() = 0;
};

struct RestClientStats {
  uint64_t requests = 0;
  uint64_t handshakes = 0;        // TLS (or TCP) connections established
  uint64_t reused = 0;            // requests sent over a pooled connection
  // Pooled connections asked (recv MSG_PEEK) whether the server closed them while idle: every
  // reuse, except a replayable request's (GET, HEAD, OPTIONS) within 1 s of the connection's
  // last response, which is retried on a fresh connection instead if the server had closed it.
  uint64_t idle_probes = 0;
  uint64_t idle_connections = 0;  // currently in the pool
  uint64_t transport_errors = 0;
};

class RestClient {
 public:
  // `executor`: where pooled sockets live (e.g. Server::executor() or an io_context).
  static Result<std::shared_ptr<RestClient>> Create(asio::any_io_executor executor,
                                                    ClusterConfig config);
  virtual ~RestClient() = default;

  // Buffered request/response (the whole body in memory). Any HTTP status is a value; only
  // transport failures are errors (503 unreachable, 504 timeout). A pooled connection the server
  // closed while idle is replaced transparently (one retry, as Go's transport does).
  virtual asio::awaitable<Result<RestResponse>> Do(RestRequest request) = 0;
  // Status and headers, then the body as it arrives.
  virtual asio::awaitable<Result<std::unique_ptr<ResponseStream>>> Stream(RestRequest request) = 0;

  // JSON conveniences: 2xx -> the parsed body; otherwise the server's Status (Status::FromJson,
  // or a generic Status with the code when the body is not one).
  asio::awaitable<Result<json::Document>> Get(std::string path);
  asio::awaitable<Result<json::Document>> List(std::string path) { return Get(std::move(path)); }
  asio::awaitable<Result<json::Document>> Create(std::string path, std::string body);  // POST
  asio::awaitable<Result<json::Document>> Update(std::string path, std::string body);  // PUT
  // content_type e.g. "application/merge-patch+json", "application/json-patch+json",
  // "application/apply-patch+yaml".
  asio::awaitable<Result<json::Document>> Patch(std::string path, std::string content_type,
                                                std::string body);
  asio::awaitable<Result<json::Document>> Delete(std::string path, std::string body = {});
  // GET path with watch=1 added to the query.
  asio::awaitable<Result<std::unique_ptr<Watcher>>> Watch(std::string path);

  virtual RestClientStats stats() const = 0;
  virtual const ClusterConfig& config() const = 0;
  // Closes idle pooled connections (e.g. after certificate rotation of the server).
  virtual void CloseIdle() = 0;

  // Turns a non-2xx response into a Status (exposed for relays that buffer error bodies).
  static Status ErrorFromResponse(int status, std::string_view body);

 protected:
  RestClient() = default;
};

}  // namespace kube
