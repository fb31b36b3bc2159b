// Shared helpers for the kube networking tests: generated PKI, a client io thread, running a
// coroutine to completion from a test body.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "kube/tls.h"

namespace kube::testing {

namespace asio = boost::asio;

struct Pki {
  tls::KeyPair ca;
  tls::KeyPair server;        // CN=localhost, SAN localhost + 127.0.0.1
  tls::KeyPair client;        // CN=alice, O=devs, O=admins, clientAuth
  tls::KeyPair other_ca;      // an unrelated CA
  tls::KeyPair other_client;  // signed by other_ca
};

inline const Pki& TestPki() {
  static const Pki pki = [] {
    Pki p;
    p.ca = *tls::GenerateCA("test-ca");
    tls::CertificateSpec server;
    server.common_name = "localhost";
    server.dns_names = {"localhost"};
    server.ip_addresses = {"127.0.0.1"};
    p.server = *tls::GenerateSigned(p.ca, server);
    tls::CertificateSpec client;
    client.common_name = "alice";
    client.organizations = {"devs", "admins"};
    client.server_auth = false;
    client.client_auth = true;
    p.client = *tls::GenerateSigned(p.ca, client);
    p.other_ca = *tls::GenerateCA("other-ca");
    p.other_client = *tls::GenerateSigned(p.other_ca, client);
    return p;
  }();
  return pki;
}

// An io_context with one thread, for clients.
class IoThread {
 public:
  IoThread() : work_(ioc_.get_executor()), thread_([this] { ioc_.run(); }) {}
  ~IoThread() {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  asio::io_context& ioc() { return ioc_; }
  asio::any_io_executor executor() { return ioc_.get_executor(); }

  // Starts a coroutine on this thread; the future holds its result (optional: use_future needs a
  // default-constructible value and Result<T> is not).
  template <class T>
  std::future<std::optional<T>> Spawn(asio::awaitable<T> a) {
    return asio::co_spawn(ioc_, Wrap(std::move(a)), asio::use_future);
  }
  // Runs a coroutine on this thread and waits for its result.
  template <class T>
  T Run(asio::awaitable<T> a) {
    return std::move(*Spawn(std::move(a)).get());
  }
  void Run(asio::awaitable<void> a) { asio::co_spawn(ioc_, std::move(a), asio::use_future).get(); }

 private:
  template <class T>
  static asio::awaitable<std::optional<T>> Wrap(asio::awaitable<T> a) {
    co_return std::optional<T>(co_await std::move(a));
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// Polls `pred` until true or the timeout passes.
inline bool WaitFor(const std::function<bool()>& pred,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// A fresh temporary directory, removed at destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kube_net_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace kube::testing
