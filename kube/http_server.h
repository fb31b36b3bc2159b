// The HTTP front end: TLS (or plain, for tests) HTTP/1.1 with Boost.Beast and C++20 coroutines,
// serving kube::http::Handler. HTTP/1.1 details stay in http_server.cc so an HTTP/2 front end can
// sit beside it. Each io thread runs its own io_context; a connection stays on one of them
// (round robin at accept), so a request's I/O never hops threads.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kube/http.h"
#include "kube/result.h"
#include "kube/tls.h"

namespace kube::http {

struct ServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 0;  // 0 = pick a free port (Start() returns it)
  // Serving certificate; nullptr = plain HTTP (tests, local metrics only).
  std::shared_ptr<tls::ServerCredential> tls;
  uint64_t max_body_bytes = 3 * 1024 * 1024;  // larger -> 413 Status before reading the body
  uint32_t max_header_bytes = 1024 * 1024;    // request line + headers; larger -> 431 Status
  // Whole request head must arrive within this (slow clients are closed).
  std::chrono::milliseconds header_timeout = std::chrono::seconds(32);
  // Body of a request (non-streaming) must arrive within this.
  std::chrono::milliseconds body_timeout = std::chrono::seconds(60);
  // Keep-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(90);
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // Each write of a response must complete within this (not a limit on a stream's lifetime;
  // not applied once the handler awaits WaitClosed(), i.e. for watches).
  std::chrono::milliseconds write_timeout = std::chrono::seconds(60);
  size_t max_connections = 20000;  // beyond it new connections are closed at once
  int io_threads = 1;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // Shutdown(0) if still running, then stops the io threads
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the io threads. Returns the bound port (useful with port 0).
  // Also raises RLIMIT_NOFILE's soft limit to the hard limit (thousands of watches).
  Result<uint16_t> Start();
  uint16_t port() const { return port_; }

  // Graceful stop, blocking (call from outside the io threads): stop accepting; requests in
  // flight may finish; streaming responses see WaitClosed() complete and should end; idle
  // keep-alive connections are closed; after `grace` everything left is closed hard. Returns when
  // no connection remains. The io threads keep running until destruction (clients sharing
  // executor() keep working).
  void Shutdown(std::chrono::milliseconds grace);

  // Gauges for /metrics and leak tests.
  size_t open_connections() const;
  size_t active_streams() const;  // requests being handled (including long-running streams)
  uint64_t total_connections() const;
  uint64_t total_requests() const;

  // The first io thread's io_context executor (single-threaded). Valid for the Server's
  // lifetime; a RestClient may share it (ClusterConfig::pool_per_caller_context keeps each
  // pooled connection on the io thread of the request that uses it).
  boost::asio::any_io_executor executor() const;

  // Queues `fn` once on each io thread (from any thread, without waiting for it), e.g. the
  // allocator's per-thread collection (kube/heap_trimmer.h).
  void PostToEachIoThread(const std::function<void()>& fn) const;

  struct Impl;  // implementation detail (http_server.cc)

 private:
  std::shared_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace kube::http
