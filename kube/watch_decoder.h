// Incremental splitter for watch streams: feed arbitrary byte chunks, take complete top-level
// JSON object texts (kube-apiserver separates them with newlines; this does not rely on it and
// tolerates splits anywhere, including inside strings and escapes). No allocation per event:
// Next() returns views into an internal buffer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "kube/result.h"

namespace kube {

class WatchDecoder {
 public:
  explicit WatchDecoder(size_t max_event_bytes = 16 * 1024 * 1024) : max_(max_event_bytes) {}

  // Appends bytes. Views returned by Next() before this call become invalid.
  void Feed(std::string_view chunk);

  // The next complete event text ("{...}", without surrounding whitespace), nullopt when more
  // bytes are needed. After an error it keeps returning nullopt. The view stays valid until the
  // next Feed() or Next().
  std::optional<std::string_view> Next();

  // Set when an event grew beyond max_event_bytes or something other than a JSON object
  // appeared at the top level (413 / 500-style Status).
  bool failed() const { return error_.has_value(); }
  const std::optional<Status>& error() const { return error_; }

  // Bytes of an incomplete event held (non-zero at end of stream = truncated event).
  size_t pending_bytes() const { return buf_.size() - start_; }

 private:
  std::string buf_;
  size_t start_ = 0;  // beginning of the unreturned data
  size_t scan_ = 0;   // next byte to scan
  size_t obj_begin_ = std::string::npos;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  size_t max_;
  std::optional<Status> error_;
};

}  // namespace kube
