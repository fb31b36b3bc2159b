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
  // One element of a split array named `key`: appends the text to write in its place to `out`
  // and returns true, or returns false to drop it (anything it appended is taken back). Writing
  // into the relay's buffer saves a string and a copy per element.
  using ElementFn = std::function<kube::Result<bool>(std::string_view key, std::string_view element,
                                                     std::string& out)>;

  // Optional fast path: offered the rest of the current chunk where an element of `key` starts.
  // When the element is complete there and it handles it (appending its replacement to `out`
  // and setting `kept`, or dropping it), it returns the element's length; otherwise 0, and the
  // splitter delimits the element itself and calls ElementFn. It saves a second pass over each
  // element (and its copy) when the callback scans the element anyway.
  using TryElementFn = std::function<size_t(std::string_view key, std::string_view rest,
                                            std::string& out, bool& kept)>;

  static constexpr size_t kDefaultMaxValueBytes = 64u << 20;

  ListSplitter(std::vector<std::string> split_keys, MemberFn on_member, ElementFn on_element,
               size_t max_value_bytes = kDefaultMaxValueBytes, TryElementFn try_element = nullptr);

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
  // Scans a value starting at data[i]. Returns the index just after the value, with value_
  // viewing it (in `data` when it began there, else in buf_), or npos when `data` ended first
  // (the part seen so far is kept in buf_). Sets syntax_error_ / overflow_ on errors.
  size_t ScanValue(std::string_view data, size_t i);
  void StartValue() {
    depth_ = 0;
    in_string_ = escape_ = scalar_ = started_ = false;
    buf_.clear();
    value_ = {};
  }
  kube::Outcome Fail(std::string_view what);
  // The try_element_ fast path for an element starting at data[i] (after whitespace): true
  // when it took the element (i is then just after it).
  bool TryElement(std::string_view data, size_t& i, std::string& out);

  std::vector<std::string> split_keys_;
  MemberFn on_member_;
  ElementFn on_element_;
  size_t max_;
  TryElementFn try_element_;
  State state_ = State::kBeforeTop;
  std::string key_;
  bool key_escape_ = false;
  std::string buf_;         // a value that spans chunks, so far
  std::string_view value_;  // the value ScanValue just completed
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
