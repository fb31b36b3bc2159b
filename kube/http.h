// The HTTP contract between a front end (HTTP/1.1 today, HTTP/2 later) and handlers.
// Handlers see a whole Request (bodies are bounded) and answer through a ResponseWriter that
// can stream: a watch or a 10,000-item list is written chunk by chunk, never buffered whole.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kube::http {

namespace asio = boost::asio;

// Case-insensitive multi-map of header fields, in arrival order.
class Headers {
 public:
  void Add(std::string name, std::string value);
  void Set(std::string name, std::string value);  // replaces all of that name
  void Remove(std::string_view name);
  std::optional<std::string_view> Get(std::string_view name) const;  // first value
  std::vector<std::string_view> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  void Reserve(size_t n) { fields_.reserve(n); }  // room for n fields in one allocation
  size_t size() const { return fields_.size(); }
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }
  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);
// The first position at or after `pos` of any byte of `set` (a few bytes), npos when none:
// std::string_view::find_first_of does the same with one memchr call per byte of `s`.
inline size_t FindFirstOf(std::string_view s, std::string_view set, size_t pos = 0) {
  for (size_t i = pos; i < s.size(); ++i) {
    for (char c : set) {
      if (s[i] == c) return i;
    }
  }
  return std::string_view::npos;
}
// Percent-decoding for paths, query values ('+' is a space in queries) and header keys.
std::string PercentDecode(std::string_view s, bool plus_is_space = false);
std::string PercentEncode(std::string_view s);  // query-value escaping (RFC 3986 unreserved kept)

// Parsed query string (values percent-decoded), in order; repeated keys kept.
class Query {
 public:
  Query() = default;
  explicit Query(std::string_view raw);
  std::optional<std::string_view> Get(std::string_view key) const;
  std::vector<std::string_view> GetAll(std::string_view key) const;
  void Set(std::string key, std::string value);
  void Remove(std::string_view key);
  std::string Encode() const;  // "a=b&c=d" (no leading '?'); empty when there is nothing
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request-target: path?query, as received
  std::string path;    // percent-decoded path, without the query
  std::string raw_query;
  Query query;
  Headers headers;
  std::string body;  // whole body; the front end enforces the size limit (413)
  // DER of the peer's certificates as presented over TLS, leaf first; empty when none. The TLS
  // layer does NOT verify them: authenticators verify against the CA they trust.
  std::vector<std::string> peer_certificates_der;
  // kube::tls::CertificateChainDigest(peer_certificates_der), computed once per connection (the
  // verifiers' cache key); empty when not computed.
  std::string peer_certificates_digest;
  std::string remote_address;
  uint64_t connection_id = 0;
  uint64_t stream_id = 0;
  std::chrono::steady_clock::time_point received_at{};
};

// Fills path, raw_query and query from target.
void ParseTarget(Request& req);

// Thrown by a handler to give up on a response it cannot complete (the upstream broke in the
// middle of a list): the server closes the connection without ending the body (no final chunk),
// so the client sees the response cut short instead of a well-formed but incomplete one. Nothing
// is written when the header was not sent either. Not logged as an error (Go's
// http.ErrAbortHandler).
class AbortResponse : public std::exception {
 public:
  const char* what() const noexcept override { return "response aborted by its handler"; }
};

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Starts the response. With content_length set, exactly that many bytes must follow; without,
  // the body is streamed (chunked in HTTP/1.1). Returns false when the client is gone.
  virtual asio::awaitable<bool> WriteHeader(int status, Headers headers,
                                            std::optional<uint64_t> content_length) = 0;
  // Sends body bytes and flushes them to the client (a watch event must not wait in a buffer).
  virtual asio::awaitable<bool> Write(std::string_view data) = 0;
  // Room in front of the data that WriteFramed may use.
  static constexpr size_t kFrameHeadroom = 16;
  // Write(`buf` without its first kFrameHeadroom bytes), letting the writer frame the data in
  // place: it may overwrite those bytes and append to `buf`, whose content is unspecified
  // afterwards. A chunked HTTP/1.1 body then goes out as one contiguous buffer; through Write,
  // the chunk's size line, data and CRLF are gathered into one TLS record by copying the first
  // 16 KB of the data (half of a list relay's 32 KB writes). Default: Write.
  virtual asio::awaitable<bool> WriteFramed(std::string& buf);
  // The data of a WriteFramed buffer.
  static std::string_view FramedData(const std::string& buf) {
    return buf.size() > kFrameHeadroom ? std::string_view(buf).substr(kFrameHeadroom)
                                       : std::string_view();
  }
  // Ends the body (last chunk). Idempotent.
  virtual asio::awaitable<bool> Finish() = 0;
  // Completes when the client has closed its side or the server is shutting down; for long
  // streams to race against (watch relay). Safe to await while a Write is not in progress.
  virtual asio::awaitable<void> WaitClosed() = 0;
  virtual bool header_sent() const = 0;

  // Cancellation of the handler by the front end, so that it can await one thing at a time
  // instead of racing a timer or WaitClosed() on every await. When it applies, the coroutine
  // serving the request gets a terminal cancellation: what it awaits ends with
  // operation_aborted, and its later awaits throw until it calls
  // this_coro::reset_cancellation_state() (the front end does that after the handler returns).
  // Each returns false when this writer cannot do it; the caller must then race on its own.
  //
  // At `at` (kept without a timer per request). One deadline at a time.
  virtual bool ArmDeadline(std::chrono::steady_clock::time_point /*at*/) { return false; }
  // When the client goes away or the server begins shutting down (what ends WaitClosed()).
  virtual bool ArmCancelOnClose() { return false; }
  // Disarms both; true when either has cancelled the handler during this request.
  virtual bool Disarm() { return false; }

  // Whole response in one go.
  asio::awaitable<bool> Send(int status, Headers headers, std::string_view body);
};

// A handler serves one request. References stay valid until the returned awaitable completes.
using Handler = std::function<asio::awaitable<void>(Request&, ResponseWriter&)>;

}  // namespace kube::http
