#include "proxy/fast_translate.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <forward_list>
#include <optional>
#include <vector>

#include "kube/json.h"
#include "naming/naming.h"
#include "proxy/json_scan.h"
#include "proxy/names.h"
#include "proxy/translator.h"

namespace proxy::fast {
namespace {

// Deeper nesting goes to the DOM path (which accepts up to 1000 levels).
constexpr int kMaxDepth = 64;
// Longer numbers (and any with an exponent) go to the DOM path, which converts them exactly or
// rejects them (too big for a double); up to 18 characters every number is representable.
constexpr size_t kMaxNumberChars = 18;

// What a value is to the translator: which members of it are recorded (split), or none (kSkip:
// validated and copied verbatim).
enum class Shape : uint8_t {
  kSkip,
  kItem,           // an object: metadata, spec (and kind for watch events)
  kMeta,           // metadata
  kMap,            // metadata.labels / metadata.annotations
  kManagedFields,  // metadata.managedFields (array)
  kMfEntry,        // one managedFields entry
  kFieldsV1,       // entry.fieldsV1
  kFMeta,          // fieldsV1.f:metadata
  kFMap,           // f:metadata.f:labels / f:annotations
  kSpec,           // spec
  kSecretRef,      // spec.writeConnectionSecretToRef
  kRow,            // a Table row: cells, object
  kCells,          // row.cells (array)
  kEvent,          // a watch event: type, object
};

bool IsArrayShape(Shape s) { return s == Shape::kManagedFields || s == Shape::kCells; }

// The shape of member `key` (or of an element, key empty) of a `parent`-shaped value that starts
// with `first`.
Shape ChildShape(Shape parent, std::string_view key, char first) {
  const bool obj = first == '{';
  const bool arr = first == '[';
  switch (parent) {
    case Shape::kItem:
      if (obj && key == "metadata") return Shape::kMeta;
      if (obj && key == "spec") return Shape::kSpec;
      return Shape::kSkip;
    case Shape::kEvent:
      return obj && key == "object" ? Shape::kItem : Shape::kSkip;
    case Shape::kRow:
      if (obj && key == "object") return Shape::kItem;
      if (arr && key == "cells") return Shape::kCells;
      return Shape::kSkip;
    case Shape::kMeta:
      if (obj && (key == "labels" || key == "annotations")) return Shape::kMap;
      if (arr && key == "managedFields") return Shape::kManagedFields;
      return Shape::kSkip;
    case Shape::kManagedFields:
      return obj ? Shape::kMfEntry : Shape::kSkip;
    case Shape::kMfEntry:
      return obj && key == "fieldsV1" ? Shape::kFieldsV1 : Shape::kSkip;
    case Shape::kFieldsV1:
      return obj && key == "f:metadata" ? Shape::kFMeta : Shape::kSkip;
    case Shape::kFMeta:
      return obj && (key == "f:labels" || key == "f:annotations") ? Shape::kFMap : Shape::kSkip;
    case Shape::kSpec:
      return obj && key == "writeConnectionSecretToRef" ? Shape::kSecretRef : Shape::kSkip;
    default:
      return Shape::kSkip;
  }
}

struct Member {
  std::string_view key;    // raw member name (never escaped in a split value); empty for elements
  std::string_view value;  // the value's text
  int child = -1;          // the split value's node, -1 when not split
};

struct Node {
  Shape shape = Shape::kSkip;
  std::vector<Member> members;  // or elements
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The \uXXXX code point at p (4 characters), -1 when not hex.
int Hex4(const char* p) {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = HexValue(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

bool IsWs(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The scanning steps, over a cursor `p` that the caller keeps in a local (in a register: as a
// member of the per-thread Scanner it was stored to thread-local memory at every step).
// Each moves `p` past what it accepts and returns false on malformed or unusual text.

void SkipWs(const char*& p, const char* end) {
  // Compact JSON (what kube-apiserver writes) has none: one test. Whitespace is <= ' '.
  if (p == end || static_cast<unsigned char>(*p) > ' ') return;
  while (p < end && IsWs(*p)) ++p;
}

// p at '"'; moves past the closing quote. `escaped` is set when the string has an escape.
bool SkipString(const char*& p, const char* end, bool* escaped) {
  ++p;
  while (true) {
    p = scan::StringStop<true>(p, end);
    if (p == end) return false;
    const char c = *p;
    if (c == '"') {
      ++p;
      return true;
    }
    if (c != '\\') return false;  // a control character
    *escaped = true;
    if (end - p < 2) return false;
    switch (p[1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        p += 2;
        break;
      case 'u': {
        if (end - p < 6) return false;
        const int cp = Hex4(p + 2);
        // Surrogates (pairs must be checked like RapidJSON does) go to the DOM path.
        if (cp < 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += 6;
        break;
      }
      default:
        return false;
    }
  }
}

bool SkipNumber(const char*& p, const char* end) {
  const char* begin = p;
  if (*p == '-') ++p;
  if (p == end) return false;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && IsDigit(*p)) ++p;
  } else {
    return false;
  }
  if (p < end && *p == '.') {
    ++p;
    if (p == end || !IsDigit(*p)) return false;
    while (p < end && IsDigit(*p)) ++p;
  }
  if (p < end && (*p == 'e' || *p == 'E')) return false;
  return static_cast<size_t>(p - begin) <= kMaxNumberChars;
}

bool SkipLiteral(const char*& p, const char* end, std::string_view word) {
  if (static_cast<size_t>(end - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0)
    return false;
  p += word.size();
  return true;
}

// A scalar at p (not '{' or '[').
bool SkipScalar(const char*& p, const char* end) {
  bool escaped = false;
  switch (*p) {
    case '"':
      return SkipString(p, end, &escaped);
    case 't':
      return SkipLiteral(p, end, "true");
    case 'f':
      return SkipLiteral(p, end, "false");
    case 'n':
      return SkipLiteral(p, end, "null");
    default:
      return SkipNumber(p, end);
  }
}

// In an object, moves past `"name":` and the whitespace after it; then (in an array too) p is
// at a value: true when there is one.
bool SkipMemberStart(const char*& p, const char* end, bool object) {
  if (object) {
    if (p == end || *p != '"') return false;
    bool escaped = false;
    if (!SkipString(p, end, &escaped)) return false;
    SkipWs(p, end);
    if (p == end || *p != ':') return false;
    ++p;
    SkipWs(p, end);
  }
  return p != end;
}

// Validates the object or array at p, `depth` levels down, recording nothing. Most of an object
// is not split (spec, fieldsV1's f:spec, status): one loop, with the open levels kept as bits
// (kMaxDepth <= 64), instead of a call per value.
bool SkipContainer(const char*& p, const char* end, int depth) {
  static_assert(kMaxDepth <= 64);
  uint64_t objects = 0;  // bit i: open level i is an object
  int level = 0;         // open levels
  while (true) {
    // p at '{' or '['.
    if (depth + level >= kMaxDepth) return false;
    const bool object = *p == '{';
    objects = object ? objects | (uint64_t{1} << level) : objects & ~(uint64_t{1} << level);
    ++level;
    ++p;
    SkipWs(p, end);
    if (p == end) return false;
    if (*p == (object ? '}' : ']')) {
      ++p;
      --level;
    } else if (!SkipMemberStart(p, end, object)) {
      return false;
    } else if (*p == '{' || *p == '[') {
      continue;  // the first value opens a level
    } else if (!SkipScalar(p, end)) {
      return false;
    }
    // After a value (or an empty container): close levels, or go on to the next value.
    while (true) {
      if (level == 0) return true;
      SkipWs(p, end);
      if (p == end) return false;
      const bool in_object = (objects >> (level - 1)) & 1;
      if (*p == ',') {
        ++p;
        SkipWs(p, end);
        if (!SkipMemberStart(p, end, in_object)) return false;
        if (*p == '{' || *p == '[') break;  // opens a level
        if (!SkipScalar(p, end)) return false;
        continue;
      }
      if (*p != (in_object ? '}' : ']')) return false;
      ++p;
      --level;
    }
  }
}

// Any value at p, recording nothing.
bool SkipValue(const char*& p, const char* end, int depth) {
  return *p == '{' || *p == '[' ? SkipContainer(p, end, depth) : SkipScalar(p, end);
}

bool HasDuplicates(const std::vector<Member>& m) {
  for (size_t i = 1; i < m.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (m[i].key == m[j].key) return true;
    }
  }
  return false;
}

// One validating pass over a JSON text, splitting the values whose shape matters. Reused (one
// per thread): its vectors keep their capacity between items.
class Scanner {
 public:
  // False when the text is malformed or unusual (the DOM path decides then).
  // With `length`, `text` may go on after the object (a list relay's chunk): the object's
  // length is stored there; an object cut short by the end of `text` is false, like bad text.
  bool Parse(std::string_view text, Shape root, size_t* length = nullptr) {
    used_ = 0;
    const char* p = text.data();
    end_ = text.data() + text.size();
    if (length == nullptr) SkipWs(p, end_);
    if (p == end_ || *p != '{') return false;
    int child = -1;
    if (!ParseObject(p, root, 0, &child)) return false;
    if (length != nullptr) {
      *length = static_cast<size_t>(p - text.data());
      return child == 0;
    }
    SkipWs(p, end_);
    return p == end_ && child == 0;
  }
  const Node& node(int i) const { return nodes_[static_cast<size_t>(i)]; }

 private:
  int NewNode(Shape shape) {
    if (used_ == nodes_.size()) nodes_.emplace_back();
    Node& n = nodes_[used_];
    n.shape = shape;
    n.members.clear();
    return static_cast<int>(used_++);
  }

  // Parses the object or array at p (a split `shape`; one of the other kind is only
  // validated), recording its members in a new node (*child).
  bool ParseObject(const char*& p, Shape shape, int depth, int* child) {
    const char* const end = end_;
    *child = -1;
    const bool object = *p == '{';
    // A split array holds elements, a split object members; a shape meant for the other kind
    // is not split (ChildShape only asks for the right kind).
    if (IsArrayShape(shape) == object) return SkipContainer(p, end, depth);
    if (depth >= kMaxDepth) return false;
    const int idx = NewNode(shape);
    *child = idx;
    ++p;
    SkipWs(p, end);
    const char close = object ? '}' : ']';
    if (p < end && *p == close) {
      ++p;
      return true;
    }
    while (true) {
      std::string_view key;
      if (object) {
        if (p == end || *p != '"') return false;
        const char* key_begin = p + 1;
        bool escaped = false;
        if (!SkipString(p, end, &escaped)) return false;
        if (escaped) return false;  // a member name we might look at
        key = std::string_view(key_begin, static_cast<size_t>(p - 1 - key_begin));
        SkipWs(p, end);
        if (p == end || *p != ':') return false;
        ++p;
        SkipWs(p, end);
      }
      if (p == end) return false;
      const char* value_begin = p;
      const Shape child_shape = ChildShape(shape, key, *p);
      int grandchild = -1;
      if (child_shape != Shape::kSkip) {  // ChildShape asks only for objects and arrays
        if (!ParseObject(p, child_shape, depth + 1, &grandchild)) return false;
      } else if (!SkipValue(p, end, depth + 1)) {
        return false;
      }
      nodes_[static_cast<size_t>(idx)].members.push_back(
          {key, std::string_view(value_begin, static_cast<size_t>(p - value_begin)), grandchild});
      SkipWs(p, end);
      if (p == end) return false;
      if (*p == ',') {
        ++p;
        SkipWs(p, end);
        continue;
      }
      if (*p != close) return false;
      ++p;
      break;
    }
    if (object && HasDuplicates(nodes_[static_cast<size_t>(idx)].members)) return false;
    return true;
  }

  const char* end_ = nullptr;
  std::vector<Node> nodes_;
  size_t used_ = 0;
};

Scanner& ThreadScanner() {
  thread_local Scanner scanner;
  return scanner;
}

const Member* FindMember(const Node& n, std::string_view key) {
  for (const Member& m : n.members) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

// The decoded text of a JSON string token (validated by the scanner: no surrogate escapes).
void Unescape(std::string_view token, std::string& out) {
  out.clear();
  for (size_t i = 1; i + 1 < token.size(); ++i) {
    const char c = token[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    const char e = token[++i];
    switch (e) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        const unsigned cp = static_cast<unsigned>(Hex4(token.data() + i + 1));
        i += 4;
        if (cp < 0x80) {
          out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
          out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
          out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
          out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
        break;
      }
      default:  // '"', '\\', '/'
        out.push_back(e);
        break;
    }
  }
}

// Decoded strings that must stay put while they are looked at.
class Strings {
 public:
  // The string value of member `m` (nullopt when it is absent or not a string).
  std::optional<std::string_view> Get(const Member* m) {
    if (!m || m->value.empty() || m->value.front() != '"') return std::nullopt;
    std::string_view body = m->value.substr(1, m->value.size() - 2);
    if (body.find('\\') == std::string_view::npos) return body;
    Unescape(m->value, store_.emplace_front());
    return std::string_view(store_.front());
  }

 private:
  // Stable references, and no allocation until a string with an escape needs one (libstdc++'s
  // std::deque allocates two blocks when constructed: two of these per proxied GET).
  std::forward_list<std::string> store_;
};

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (scan::StringStop<true>(s.data(), s.data() + s.size()) == s.data() + s.size()) {
    // Nothing to escape (names always): one append.
    const size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* d = out.data() + at;
    d[0] = '"';
    std::memcpy(d + 1, s.data(), s.size());
    d[s.size() + 1] = '"';
    return;
  }
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

// Writes members of one object, a comma before every one but the first.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  // Starts member `key`; the caller appends its value.
  void Key(std::string_view key) {
    if (!first_) out_.push_back(',');
    first_ = false;
    out_.push_back('"');
    out_.append(key);
    out_.append("\":");
  }
  void Verbatim(const Member& m) {
    // A member of compact text is one span of it, `"key":value`: one append.
    const char* begin = m.key.data() - 1;
    if (m.value.data() == m.key.data() + m.key.size() + 2) {
      if (!first_) out_.push_back(',');
      first_ = false;
      out_.append(begin, static_cast<size_t>(m.value.data() + m.value.size() - begin));
      return;
    }
    Key(m.key);
    out_.append(m.value);
  }
  void String(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(out_, value);
  }
  // Where the output stands / rolls back to (to drop a member whose value turned out empty).
  struct Mark {
    size_t size;
    bool first;
  };
  Mark mark() const { return {out_.size(), first_}; }
  void Rollback(Mark m) {
    out_.resize(m.size);
    first_ = m.first;
  }
  void Close() { out_.push_back('}'); }

 private:
  std::string& out_;
  bool first_ = true;
};

// What the translation of one object needs, read from its split metadata.
struct ObjectInfo {
  const Node* item = nullptr;
  const Member* metadata = nullptr;
  AppRef owner;
  std::optional<std::string> secret;  // the connection secret name the user wrote
  std::string owner_references;       // serialized ownerReferences to restore ("" for none)
};

// Fills `info` for the split object `item`: kTranslated when it is this cluster's, kDropped when
// not, kFallback when the DOM path must decide.
Outcome Inspect(const Translator& t, const Scanner& s, int item, ObjectInfo& info) {
  info.item = &s.node(item);
  info.metadata = FindMember(*info.item, "metadata");
  if (!info.metadata || info.metadata->child < 0) return Outcome::kDropped;
  const Node& meta = s.node(info.metadata->child);
  const Member* ns_member = FindMember(meta, "namespace");
  if (!ns_member) return Outcome::kFallback;  // the DOM path would add it at the end
  Strings strings;
  auto map_lookup = [&](const char* name) -> naming::Lookup {
    const Member* m = FindMember(meta, name);
    const Node* map = m && m->child >= 0 ? &s.node(m->child) : nullptr;
    return [map, &strings](std::string_view key) -> std::optional<std::string_view> {
      if (!map) return std::nullopt;
      return strings.Get(FindMember(*map, key));
    };
  };
  const naming::Lookup labels = map_lookup("labels");
  const naming::Lookup annotations = map_lookup("annotations");
  auto owner = t.OwnerOf(strings.Get(ns_member).value_or(""),
                         strings.Get(FindMember(meta, "name")).value_or(""), labels, annotations);
  if (!owner) return Outcome::kDropped;
  info.owner = std::move(*owner);
  if (auto secret = annotations(kConnectionSecretAnnotation)) info.secret = std::string(*secret);
  const std::string_view owners = annotations(kOwnerReferencesAnnotation).value_or("");
  if (!owners.empty()) {
    auto parsed = kube::json::Parse(owners);
    if (parsed && parsed->IsArray()) info.owner_references = kube::json::Serialize(*parsed);
  }
  return Outcome::kTranslated;
}

// labels / annotations without our keys; false (nothing written) when none is left.
bool WriteMap(const Scanner& s, ObjectWriter& w, std::string& out, const Member& m,
              bool managed_fields) {
  const auto mark = w.mark();
  w.Key(m.key);
  ObjectWriter map(out);
  size_t kept = 0;
  for (const Member& e : s.node(m.child).members) {
    std::string_view key = e.key;
    const bool reserved =
        managed_fields ? key.size() > 2 && key.substr(0, 2) == "f:" && IsReservedKey(key.substr(2))
                       : IsReservedKey(key);
    if (reserved) continue;
    map.Verbatim(e);
    ++kept;
  }
  if (kept == 0) {
    w.Rollback(mark);
    return false;
  }
  map.Close();
  return true;
}

// A split object whose members are copied except the split ones, which `write_child` writes.
template <typename Fn>
void WriteObject(const Scanner& s, const Node& n, std::string& out, Fn&& write_child) {
  ObjectWriter w(out);
  for (const Member& m : n.members) {
    if (m.child >= 0) {
      write_child(w, m);
    } else {
      w.Verbatim(m);
    }
  }
  w.Close();
  (void)s;
}

void WriteManagedFields(const Scanner& s, const Member& mf, std::string& out) {
  out.push_back('[');
  bool first = true;
  for (const Member& entry : s.node(mf.child).members) {
    if (!first) out.push_back(',');
    first = false;
    if (entry.child < 0) {
      out.append(entry.value);
      continue;
    }
    // entry -> fieldsV1 -> f:metadata -> f:labels / f:annotations
    WriteObject(s, s.node(entry.child), out, [&](ObjectWriter& w, const Member& fv) {
      w.Key(fv.key);
      WriteObject(s, s.node(fv.child), out, [&](ObjectWriter& w2, const Member& fm) {
        w2.Key(fm.key);
        WriteObject(s, s.node(fm.child), out,
                    [&](ObjectWriter& w3, const Member& map) { WriteMap(s, w3, out, map, true); });
      });
    });
  }
  out.push_back(']');
}

void WriteMetadata(const Translator& t, const Scanner& s, const ObjectInfo& info,
                   std::string& out) {
  ObjectWriter w(out);
  for (const Member& m : s.node(info.metadata->child).members) {
    if (m.key == "name") {
      w.String(m.key, info.owner.name);
    } else if (m.key == "namespace") {
      w.String(m.key, info.owner.namespace_);
    } else if (m.key == "selfLink") {
      w.String(m.key, t.AppObjectPath(info.owner));
    } else if (m.key == "ownerReferences") {
      continue;
    } else if (m.child >= 0 && (m.key == "labels" || m.key == "annotations")) {
      WriteMap(s, w, out, m, false);
    } else if (m.child >= 0) {  // managedFields
      w.Key(m.key);
      WriteManagedFields(s, m, out);
    } else {
      w.Verbatim(m);
    }
  }
  if (!info.owner_references.empty()) {
    w.Key("ownerReferences");
    out.append(info.owner_references);
  }
  w.Close();
}

void WriteObjectTranslated(const Translator& t, const Scanner& s, const ObjectInfo& info,
                           std::string& out) {
  WriteObject(s, *info.item, out, [&](ObjectWriter& w, const Member& m) {
    w.Key(m.key);
    if (&m == info.metadata) {
      WriteMetadata(t, s, info, out);
      return;
    }
    // spec -> writeConnectionSecretToRef
    WriteObject(s, s.node(m.child), out, [&](ObjectWriter& w2, const Member& ref) {
      w2.Key(ref.key);
      ObjectWriter r(out);
      for (const Member& f : s.node(ref.child).members) {
        if (f.key == "name" && info.secret) {
          r.String(f.key, *info.secret);
        } else if (f.key == "namespace") {
          r.String(f.key, info.owner.namespace_);
        } else {
          r.Verbatim(f);
        }
      }
      r.Close();
    });
  });
}

// The object split by `s` (root node 0) translated and appended to `out` (untouched unless
// kTranslated).
Outcome AppendScannedObject(const Translator& t, const Scanner& s, std::string_view text,
                            std::string& out) {
  ObjectInfo info;
  const Outcome o = Inspect(t, s, 0, info);
  if (o != Outcome::kTranslated) return o;
  out.reserve(out.size() + text.size());
  WriteObjectTranslated(t, s, info, out);
  return Outcome::kTranslated;
}

// A labels or annotations map of a create body with the connector's `extra` entries appended
// (the body's own are copied; none is reserved, PrepareCreate checked). `m` null: the map is new;
// a null map becomes an object, as json::EnsureObject makes it.
void WriteMapWithExtra(ObjectWriter& w, std::string& out, std::string_view key, const Scanner& s,
                       const Member* m, const naming::StringPairs& extra) {
  w.Key(key);
  ObjectWriter map(out);
  if (m != nullptr && m->child >= 0) {
    for (const Member& e : s.node(m->child).members) map.Verbatim(e);
  }
  for (const auto& [k, v] : extra) {
    map.Key(k);  // reserved keys: plain names, nothing to escape
    AppendJsonString(out, v);
  }
  map.Close();
}

// Is member `m` of a create body's metadata an acceptable labels/annotations map: absent, null,
// or an object of strings under keys that are not reserved (PrepareObject's check)?
bool PlainMap(const Scanner& s, const Member* m) {
  if (m == nullptr || m->value == "null") return true;
  if (m->child < 0) return false;  // not an object
  for (const Member& e : s.node(m->child).members) {
    if (IsReservedKey(e.key) || e.value.front() != '"') return false;
  }
  return true;
}

// "" or `want`: what CheckTypeMeta accepts in apiVersion and kind ("" gets filled in).
bool TypeMetaAccepted(Strings& strings, const Member* m, std::string_view want) {
  if (m == nullptr) return true;
  const auto v = strings.Get(m);
  return v && (v->empty() || *v == want);
}

}  // namespace

Outcome PrepareCreate(const Translator& t, std::string_view body, std::string_view app_namespace,
                      std::string& out, std::string& app_name) {
  Scanner& s = ThreadScanner();
  if (!s.Parse(body, Shape::kItem)) return Outcome::kFallback;
  const Scope& scope = t.scope();
  const kube::APIResource& res = *scope.resource;
  const Node& root = s.node(0);
  Strings strings;

  // The checks of PrepareObject, in its order; a failure is the DOM path's to report.
  const Member* metadata = FindMember(root, "metadata");
  if (metadata == nullptr || metadata->child < 0) return Outcome::kFallback;
  const Node& meta = s.node(metadata->child);
  const std::optional<std::string_view> name = strings.Get(FindMember(meta, "name"));
  if (!name || name->empty()) return Outcome::kFallback;  // generateName, or no name at all
  const std::string gv = res.GroupVersion();
  const Member* api_version = FindMember(root, "apiVersion");
  const Member* kind = FindMember(root, "kind");
  if (!TypeMetaAccepted(strings, api_version, gv) || !TypeMetaAccepted(strings, kind, res.kind))
    return Outcome::kFallback;
  const Member* ns = FindMember(meta, "namespace");
  if (ns != nullptr && ns->value != "null") {
    const auto body_ns = strings.Get(ns);
    if (!body_ns || (!body_ns->empty() && *body_ns != app_namespace)) return Outcome::kFallback;
  }
  const Member* generate_name = FindMember(meta, "generateName");
  if (!naming::ValidateObjectName(*name, strings.Get(generate_name).value_or("")).empty() ||
      !naming::ValidateObjectNamespace(app_namespace).empty())
    return Outcome::kFallback;
  const Member* labels = FindMember(meta, "labels");
  const Member* annotations = FindMember(meta, "annotations");
  if (!PlainMap(s, labels) || !PlainMap(s, annotations)) return Outcome::kFallback;
  if (const Member* owners = FindMember(meta, "ownerReferences");
      owners != nullptr && owners->value.front() == '[' && owners->value != "[]")
    return Outcome::kFallback;  // kept in an annotation, serialized by the DOM path

  // spec.writeConnectionSecretToRef (split only when both are objects, as PrepareObject reads).
  const Member* spec = FindMember(root, "spec");
  const Member* secret_ref = spec != nullptr && spec->child >= 0
                                 ? FindMember(s.node(spec->child), "writeConnectionSecretToRef")
                                 : nullptr;
  if (secret_ref != nullptr && secret_ref->child < 0) secret_ref = nullptr;
  const std::string_view secret =
      secret_ref != nullptr
          ? strings.Get(FindMember(s.node(secret_ref->child), "name")).value_or("")
          : std::string_view();

  // What the connector adds: PrepareObject's SetString calls, appended in its order where the
  // member is new.
  app_name.assign(*name);
  naming::StringPairs origin_labels =
      names::OriginLabels(app_name, app_namespace, scope.cluster_id);
  naming::StringPairs added_annotations =
      names::OriginAnnotations(app_name, app_namespace, scope.cluster_id);
  if (!secret.empty()) added_annotations.emplace_back(kConnectionSecretAnnotation, secret);

  out.clear();
  out.reserve(body.size() + 512);
  ObjectWriter w(out);
  for (const Member& m : root.members) {
    if (&m == api_version && m.value == "\"\"") {
      w.String(m.key, gv);
    } else if (&m == kind && m.value == "\"\"") {
      w.String(m.key, res.kind);
    } else if (&m == metadata) {
      w.Key(m.key);
      ObjectWriter mw(out);
      for (const Member& f : meta.members) {
        if (&f == labels) {
          WriteMapWithExtra(mw, out, f.key, s, labels, origin_labels);
        } else if (&f == annotations && !added_annotations.empty()) {
          WriteMapWithExtra(mw, out, f.key, s, annotations, added_annotations);
        } else if (f.key == "name") {
          mw.String(f.key, t.ControlPlaneName(app_namespace, app_name));
        } else if (&f == ns) {
          mw.String(f.key, scope.claim_namespace);
        } else if (f.key != "selfLink" && f.key != "ownerReferences") {
          mw.Verbatim(f);
        }
      }
      if (ns == nullptr) mw.String("namespace", scope.claim_namespace);
      if (labels == nullptr) WriteMapWithExtra(mw, out, "labels", s, nullptr, origin_labels);
      if (annotations == nullptr && !added_annotations.empty())
        WriteMapWithExtra(mw, out, "annotations", s, nullptr, added_annotations);
      mw.Close();
    } else if (&m == spec && secret_ref != nullptr) {
      w.Key(m.key);
      WriteObject(s, s.node(m.child), out, [&](ObjectWriter& sw, const Member& ref) {
        sw.Key(ref.key);  // the only split member of spec: writeConnectionSecretToRef
        ObjectWriter rw(out);
        for (const Member& f : s.node(ref.child).members) {
          if (f.key == "name" && !secret.empty()) {
            rw.String(f.key, ConnectionSecretName(secret, app_namespace, scope.cluster_id));
          } else if (f.key == "namespace") {
            rw.String(f.key, scope.claim_namespace);
          } else {
            rw.Verbatim(f);
          }
        }
        rw.Close();
      });
    } else {
      w.Verbatim(m);
    }
  }
  if (api_version == nullptr) w.String("apiVersion", gv);
  if (kind == nullptr) w.String("kind", res.kind);
  w.Close();
  return Outcome::kTranslated;
}

Outcome AppendItem(const Translator& t, std::string_view text, std::string& out, size_t* length) {
  Scanner& s = ThreadScanner();
  if (!s.Parse(text, Shape::kItem, length)) return Outcome::kFallback;
  if (length != nullptr) text = text.substr(0, *length);
  return AppendScannedObject(t, s, text, out);
}

Outcome TranslateItem(const Translator& t, std::string_view text, std::string& out) {
  out.clear();
  return AppendItem(t, text, out);
}

Outcome TranslateObject(const Translator& t, std::string_view text, std::string& out) {
  Scanner& s = ThreadScanner();
  if (!s.Parse(text, Shape::kItem)) return Outcome::kFallback;
  // Whole documents that are not one object (Translator::TranslateDocument's other cases) are
  // the DOM path's.
  Strings strings;
  const std::string_view kind = strings.Get(FindMember(s.node(0), "kind")).value_or("");
  if (kind == "Status" || kind == "Table" || kind.ends_with("List")) return Outcome::kFallback;
  out.clear();
  return AppendScannedObject(t, s, text, out);
}

Outcome AppendRow(const Translator& t, std::string_view text, const TableColumns& cols,
                  bool keep_object, std::string& out, size_t* length) {
  Scanner& s = ThreadScanner();
  if (!s.Parse(text, Shape::kRow, length)) return Outcome::kFallback;
  if (length != nullptr) text = text.substr(0, *length);
  const Node& row = s.node(0);
  const Member* object = FindMember(row, "object");
  if (!object || object->child < 0) return Outcome::kDropped;  // no proof, no row
  ObjectInfo info;
  const Outcome o = Inspect(t, s, object->child, info);
  if (o != Outcome::kTranslated) return o;
  out.reserve(out.size() + text.size());
  ObjectWriter w(out);
  for (const Member& m : row.members) {
    if (&m == object) {
      if (!keep_object) continue;
      w.Key(m.key);
      WriteObjectTranslated(t, s, info, out);
    } else if (m.child >= 0) {  // cells
      w.Key(m.key);
      out.push_back('[');
      const auto& cells = s.node(m.child).members;
      for (size_t i = 0; i < cells.size(); ++i) {
        if (i > 0) out.push_back(',');
        const int col = static_cast<int>(i);
        const bool is_name = col == cols.name;
        const bool is_string = is_name || cells[i].value.front() == '"';
        const bool is_secret =
            info.secret && is_string &&
            std::find(cols.connection_secret.begin(), cols.connection_secret.end(), col) !=
                cols.connection_secret.end();
        if (is_secret) {
          AppendJsonString(out, *info.secret);
        } else if (is_name) {
          AppendJsonString(out, info.owner.name);
        } else {
          out.append(cells[i].value);
        }
      }
      out.push_back(']');
    } else {
      w.Verbatim(m);
    }
  }
  w.Close();
  return Outcome::kTranslated;
}

Outcome TranslateRow(const Translator& t, std::string_view text, const TableColumns& cols,
                     bool keep_object, std::string& out) {
  out.clear();
  return AppendRow(t, text, cols, keep_object, out);
}

Outcome TranslateWatchEvent(const Translator& t, std::string_view text, std::string& out) {
  Scanner& s = ThreadScanner();
  if (!s.Parse(text, Shape::kEvent)) return Outcome::kFallback;
  const Node& event = s.node(0);
  const Member* object = FindMember(event, "object");
  if (!object || object->child < 0) return Outcome::kFallback;  // an error: the DOM path's
  Strings strings;
  const std::string_view type = strings.Get(FindMember(event, "type")).value_or("");
  if (type == "BOOKMARK") {
    out.assign(text);
    return Outcome::kTranslated;
  }
  if (type == "ERROR") return Outcome::kFallback;
  if (strings.Get(FindMember(s.node(object->child), "kind")).value_or("") == "Table")
    return Outcome::kFallback;
  ObjectInfo info;
  const Outcome o = Inspect(t, s, object->child, info);
  if (o != Outcome::kTranslated) return o;
  out.clear();
  out.reserve(text.size());
  ObjectWriter w(out);
  for (const Member& m : event.members) {
    if (&m == object) {
      w.Key(m.key);
      WriteObjectTranslated(t, s, info, out);
    } else {
      w.Verbatim(m);
    }
  }
  w.Close();
  return Outcome::kTranslated;
}

}  // namespace proxy::fast
