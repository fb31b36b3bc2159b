// SecretString: a token or private key kept in libsodium-guarded memory (sodium_malloc), made
// inaccessible while idle (sodium_mprotect_noaccess), readable only inside With(), wiped
// (sodium_memzero + sodium_free) when replaced or destroyed. It is never printable: there is no
// operator<< and no implicit conversion to a string.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "kube/result.h"

namespace kube {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view value) { Assign(value); }
  ~SecretString() { Clear(); }
  SecretString(const SecretString& other);
  SecretString& operator=(const SecretString& other);
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;

  // Reads the whole file; trailing whitespace/newlines are stripped when `trim` (tokens). The
  // intermediate read buffer is wiped.
  static Result<SecretString> FromFile(const std::string& path, bool trim = true);

  // Replaces the value; the old one is wiped first.
  void Assign(std::string_view value);
  void Clear();

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // Calls fn(std::string_view plaintext) with the memory made read-only for the duration of the
  // call, and no-access again afterwards. Do not keep the view. Thread-safe.
  template <class F>
  decltype(auto) With(F&& fn) const {
    std::lock_guard<std::mutex> lock(*mu_);
    Unprotect();
    struct Reprotect {
      const SecretString* s;
      ~Reprotect() { s->Protect(); }
    } guard{this};
    return std::forward<F>(fn)(std::string_view(data_, size_));
  }

  // Constant-time comparison with a candidate (e.g. a presented token).
  bool Equals(std::string_view candidate) const;

  // A copy in ordinary memory, for APIs that need a std::string. Prefer With().
  std::string RevealCopy() const;

 private:
  void Unprotect() const;
  void Protect() const;

  char* data_ = nullptr;  // sodium_malloc'd, size_ + 1 bytes (NUL-terminated)
  size_t size_ = 0;
  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();
};

// Deliberately not streamable: `LOG(INFO) << secret` must not compile.
template <class OStream>
OStream& operator<<(OStream&, const SecretString&) = delete;

}  // namespace kube
