// Incremental relay of one top-level JSON object (a List or a Table) whose big arrays ("items",
// "rows") are handed over element by element, so a 10,000-item list needs memory for one element
// beyond the I/O buffers. A byte state machine: string/escape aware, depth tracking, splits at
// any chunk boundary. Output is compact: `{"k":v,...,"items":[e1,e2]}`.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/result.h"

namespace proxy {

class ListSplitter {
 public:
  // Returns the text to write in place of `value` (nullopt drops it), or an error that ends the
  // relay. `key` is the raw (still JSON-escaped) member name.
  using MemberFn = std::function<kube::Result<std::optional<std::string>>(std::string_view key,
                                                                          std::string_view value)>;
  // Same for one element of a split array named `key`.
  using ElementFn = MemberFn;

  ListSplitter(std::vector<std::string> split_keys, MemberFn on_member, ElementFn on_element,
               size_t max_value_bytes = 64u << 20);

  // Consumes `chunk`, appending output to `out`. Errors: malformed JSON, a value over the limit,
  // trailing garbage, or a callback's error.
  kube::Outcome Feed(std::string_view chunk, std::string& out);
  // The whole object has been seen (trailing whitespace allowed).
  bool done() const { return state_ == State::kDone; }

  // Largest number of bytes held at once for one member/element (the memory bound).
  size_t peak_buffered_bytes() const { return peak_; }
  size_t elements_seen() const { return elements_seen_; }

 private:
  enum class State {
    kBeforeTop,
    kKeyOrEnd,  // after '{' (first member or '}')
    kKeyAfterComma,
    kKey,  // inside a member name
    kColon,
    kValueStart,
    kValue,       // capturing a member value
    kAfterValue,  // ',' or '}'
    kElemOrEnd,   // after '[' of a split array
    kElem,        // capturing an element
    kAfterElem,   // ',' or ']'
    kDone,
  };
  // Scans a value starting at data[i]; appends to buf_. Returns the index just after the value,
  // or npos when `data` ended first. Sets error_ on a structural error.
  size_t ScanValue(std::string_view data, size_t i);
  void StartValue() {
    depth_ = 0;
    in_string_ = escape_ = scalar_ = started_ = false;
    buf_.clear();
  }
  kube::Outcome Fail(std::string_view what);

  std::vector<std::string> split_keys_;
  MemberFn on_member_;
  ElementFn on_element_;
  size_t max_;
  State state_ = State::kBeforeTop;
  std::string key_;
  bool key_escape_ = false;
  std::string buf_;
  int depth_ = 0;
  bool in_string_ = false, escape_ = false, scalar_ = false, started_ = false;
  bool wrote_member_ = false;   // a member has been written (comma needed before the next)
  bool wrote_element_ = false;  // an element has been written in the current array
  bool overflow_ = false;
  bool syntax_error_ = false;
  size_t peak_ = 0;
  size_t elements_seen_ = 0;
};

}  // namespace proxy
