#include "kube/watch_decoder.h"

#include <cstring>

namespace kube {

void WatchDecoder::Feed(std::string_view chunk) {
  if (error_) return;
  if (start_ > 0) {
    // Drop what was already returned (views into it are invalid from here on).
    buf_.erase(0, start_);
    scan_ -= start_;
    if (obj_begin_ != std::string::npos) obj_begin_ -= start_;
    start_ = 0;
  }
  buf_.append(chunk.data(), chunk.size());
}

std::optional<std::string_view> WatchDecoder::Next() {
  if (error_) return std::nullopt;
  const char* data = buf_.data();
  const size_t size = buf_.size();
  while (scan_ < size) {
    if (depth_ == 0) {
      char c = data[scan_];
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
        start_ = ++scan_;
        continue;
      }
      if (c != '{') {
        error_ = NewInternalError("watch stream: unexpected data between events");
        return std::nullopt;
      }
      obj_begin_ = scan_++;
      depth_ = 1;
      continue;
    }
    if (in_string_) {
      // Skip quickly to the next quote or backslash.
      while (scan_ < size) {
        char c = data[scan_];
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          in_string_ = false;
          ++scan_;
          break;
        }
        ++scan_;
      }
      continue;
    }
    char c = data[scan_++];
    switch (c) {
      case '"':
        in_string_ = true;
        break;
      case '{':
      case '[':
        ++depth_;
        break;
      case '}':
      case ']':
        if (--depth_ == 0) {
          if (c != '}') {  // "{...]": not an object (found by fuzzing)
            error_ = NewInternalError("watch stream: malformed event");
            return std::nullopt;
          }
          size_t begin = obj_begin_;
          obj_begin_ = std::string::npos;
          start_ = scan_;
          if (scan_ - begin > max_) {
            error_ = NewRequestEntityTooLarge("watch event larger than " + std::to_string(max_) +
                                              " bytes");
            return std::nullopt;
          }
          return std::string_view(data + begin, scan_ - begin);
        }
        break;
      default:
        break;
    }
  }
  if (obj_begin_ != std::string::npos && scan_ - obj_begin_ > max_) {
    error_ = NewRequestEntityTooLarge("watch event larger than " + std::to_string(max_) + " bytes");
  }
  return std::nullopt;
}

}  // namespace kube
