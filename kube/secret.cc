#include "kube/secret.h"

#include <sodium.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <glog/logging.h>

namespace kube {
namespace {

bool SodiumReady() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

}  // namespace

SecretString::SecretString(const SecretString& other) {
  other.With([this](std::string_view v) {
    // Assign() locks our own mutex, not other's: no deadlock.
    Assign(v);
  });
}

SecretString& SecretString::operator=(const SecretString& other) {
  if (this == &other) return *this;
  other.With([this](std::string_view v) { Assign(v); });
  return *this;
}

SecretString::SecretString(SecretString&& other) noexcept {
  std::lock_guard<std::mutex> lock(*other.mu_);
  data_ = other.data_;
  size_ = other.size_;
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this == &other) return *this;
  Clear();
  std::scoped_lock lock(*mu_, *other.mu_);
  data_ = other.data_;
  size_ = other.size_;
  other.data_ = nullptr;
  other.size_ = 0;
  return *this;
}

void SecretString::Assign(std::string_view value) {
  CHECK(SodiumReady()) << "libsodium initialisation failed";
  char* fresh = nullptr;
  if (!value.empty()) {
    fresh = static_cast<char*>(sodium_malloc(value.size() + 1));
    CHECK(fresh != nullptr) << "sodium_malloc failed";
    std::memcpy(fresh, value.data(), value.size());
    fresh[value.size()] = '\0';
    sodium_mprotect_noaccess(fresh);
  }
  std::lock_guard<std::mutex> lock(*mu_);
  if (data_ != nullptr) {
    sodium_mprotect_readwrite(data_);
    sodium_memzero(data_, size_ + 1);
    sodium_free(data_);  // sodium_free also wipes; memzero makes the intent explicit
  }
  data_ = fresh;
  size_ = value.size();
}

void SecretString::Clear() {
  if (!mu_) return;
  std::lock_guard<std::mutex> lock(*mu_);
  if (data_ != nullptr) {
    sodium_mprotect_readwrite(data_);
    sodium_memzero(data_, size_ + 1);
    sodium_free(data_);
  }
  data_ = nullptr;
  size_ = 0;
}

void SecretString::Unprotect() const {
  if (data_ != nullptr) sodium_mprotect_readonly(data_);
}

void SecretString::Protect() const {
  if (data_ != nullptr) sodium_mprotect_noaccess(data_);
}

bool SecretString::Equals(std::string_view candidate) const {
  return With([&](std::string_view v) {
    if (v.size() != candidate.size()) return false;
    if (v.empty()) return true;
    return sodium_memcmp(v.data(), candidate.data(), v.size()) == 0;
  });
}

std::string SecretString::RevealCopy() const {
  return With([](std::string_view v) { return std::string(v); });
}

Result<SecretString> SecretString::FromFile(const std::string& path, bool trim) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return NewInternalError("cannot read secret file " + path + ": " + std::strerror(errno));
  }
  std::string buf;
  // Reserve up front so growth never leaves unwiped copies behind.
  if (std::fseek(f, 0, SEEK_END) == 0) {
    long end = std::ftell(f);
    if (end > 0) buf.reserve(static_cast<size_t>(end) + 4096);
    std::fseek(f, 0, SEEK_SET);
  }
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0) buf.append(chunk, n);
  sodium_memzero(chunk, sizeof(chunk));
  bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) {
    sodium_memzero(buf.data(), buf.size());
    return NewInternalError("cannot read secret file " + path);
  }
  std::string_view v(buf);
  if (trim) {
    while (!v.empty() &&
           (v.back() == '\n' || v.back() == '\r' || v.back() == ' ' || v.back() == '\t')) {
      v.remove_suffix(1);
    }
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n')) {
      v.remove_prefix(1);
    }
  }
  SecretString s(v);
  sodium_memzero(buf.data(), buf.size());
  return s;
}

}  // namespace kube
