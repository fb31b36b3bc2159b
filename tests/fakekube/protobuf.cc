#include "tests/fakekube/protobuf.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/fakekube/store.h"

namespace fakekube {

namespace json = kube::json;

namespace {

// A minimal proto3 wire reader.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool done() const { return pos_ >= b_.size(); }
  std::optional<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && pos_ < b_.size(); shift += 7) {
      uint8_t c = uint8_t(b_[pos_++]);
      v |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    return std::nullopt;
  }
  // Next field: number, wire type, and for length-delimited the bytes.
  bool Next(uint32_t& field, uint32_t& wire, uint64_t& num, std::string_view& bytes) {
    auto key = Varint();
    if (!key) return false;
    field = uint32_t(*key >> 3);
    wire = uint32_t(*key & 7);
    switch (wire) {
      case 0: {
        auto v = Varint();
        if (!v) return false;
        num = *v;
        return true;
      }
      case 1:
        if (pos_ + 8 > b_.size()) return false;
        pos_ += 8;
        return true;
      case 2: {
        auto len = Varint();
        if (!len || pos_ + *len > b_.size()) return false;
        bytes = b_.substr(pos_, *len);
        pos_ += *len;
        return true;
      }
      case 5:
        if (pos_ + 4 > b_.size()) return false;
        pos_ += 4;
        return true;
      default:
        return false;
    }
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

enum class T {
  kString,
  kBytes,
  kInt64,
  kBool,
  kTime,
  kMapString,
  kMapBytes,
  kRepString,
  kMessage,
  kRepMessage
};

struct Field;
using Schema = std::vector<Field>;
struct Field {
  uint32_t number;
  const char* name;
  T type;
  const Schema* sub = nullptr;
};

const Schema kOwnerRef = {{1, "kind", T::kString},     {3, "name", T::kString},
                          {4, "uid", T::kString},      {5, "apiVersion", T::kString},
                          {6, "controller", T::kBool}, {7, "blockOwnerDeletion", T::kBool}};
const Schema kObjectMeta = {{1, "name", T::kString},
                            {2, "generateName", T::kString},
                            {3, "namespace", T::kString},
                            {5, "uid", T::kString},
                            {6, "resourceVersion", T::kString},
                            {7, "generation", T::kInt64},
                            {8, "creationTimestamp", T::kTime},
                            {9, "deletionTimestamp", T::kTime},
                            {10, "deletionGracePeriodSeconds", T::kInt64},
                            {11, "labels", T::kMapString},
                            {12, "annotations", T::kMapString},
                            {13, "ownerReferences", T::kRepMessage, &kOwnerRef},
                            {14, "finalizers", T::kRepString}};
const Schema kNamespaceSpec = {{1, "finalizers", T::kRepString}};
const Schema kNamespaceStatus = {{1, "phase", T::kString}};
const Schema kNamespace = {{1, "metadata", T::kMessage, &kObjectMeta},
                           {2, "spec", T::kMessage, &kNamespaceSpec},
                           {3, "status", T::kMessage, &kNamespaceStatus}};
const Schema kSecret = {{1, "metadata", T::kMessage, &kObjectMeta},
                        {2, "data", T::kMapBytes},
                        {3, "type", T::kString},
                        {4, "stringData", T::kMapString},
                        {5, "immutable", T::kBool}};
const Schema kConfigMap = {{1, "metadata", T::kMessage, &kObjectMeta},
                           {2, "data", T::kMapString},
                           {3, "binaryData", T::kMapBytes},
                           {4, "immutable", T::kBool}};
const Schema kDeletePreconditions = {{1, "uid", T::kString}, {2, "resourceVersion", T::kString}};
const Schema kDeleteOptions = {{1, "gracePeriodSeconds", T::kInt64},
                               {2, "preconditions", T::kMessage, &kDeletePreconditions},
                               {4, "propagationPolicy", T::kString},
                               {5, "dryRun", T::kRepString}};

std::string Base64(std::string_view in) {
  static constexpr char kTab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += kTab[(v >> 6) & 63];
    out += kTab[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += kTab[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool Decode(std::string_view bytes, const Schema& schema, json::Value& out, json::Allocator& a);

bool DecodeMapEntry(std::string_view bytes, std::string& key, std::string& value) {
  Reader r(bytes);
  uint32_t f, w;
  uint64_t n = 0;
  std::string_view b;
  while (!r.done()) {
    if (!r.Next(f, w, n, b)) return false;
    if (f == 1 && w == 2) key = std::string(b);
    if (f == 2 && w == 2) value = std::string(b);
  }
  return true;
}

bool Decode(std::string_view bytes, const Schema& schema, json::Value& out, json::Allocator& a) {
  out.SetObject();
  Reader r(bytes);
  uint32_t f, w;
  uint64_t n = 0;
  std::string_view b;
  while (!r.done()) {
    if (!r.Next(f, w, n, b)) return false;
    const Field* field = nullptr;
    for (const Field& x : schema) {
      if (x.number == f) field = &x;
    }
    if (!field) continue;  // unknown fields are skipped
    switch (field->type) {
      case T::kString:
        json::SetString(out, field->name, std::string(b), a);
        break;
      case T::kBytes:
        json::SetString(out, field->name, Base64(b), a);
        break;
      case T::kInt64:
        json::SetMember(out, field->name, json::Value(int64_t(n)), a);
        break;
      case T::kBool:
        json::SetMember(out, field->name, json::Value(n != 0), a);
        break;
      case T::kTime: {
        Reader tr(b);
        uint32_t tf, tw;
        uint64_t tn = 0;
        std::string_view tb;
        int64_t seconds = 0;
        while (!tr.done() && tr.Next(tf, tw, tn, tb)) {
          if (tf == 1) seconds = int64_t(tn);
        }
        json::SetString(out, field->name,
                        FormatTime(std::chrono::system_clock::from_time_t(seconds)), a);
        break;
      }
      case T::kMapString:
      case T::kMapBytes: {
        std::string k, v;
        if (!DecodeMapEntry(b, k, v)) return false;
        json::Value& m = json::EnsureObject(out, field->name, a);
        json::SetString(m, k, field->type == T::kMapBytes ? Base64(v) : v, a);
        break;
      }
      case T::kRepString: {
        json::Value* arr = json::Find(out, field->name);
        if (!arr) {
          json::SetMember(out, field->name, json::Value(rapidjson::kArrayType), a);
          arr = json::Find(out, field->name);
        }
        arr->PushBack(json::Str(std::string(b), a), a);
        break;
      }
      case T::kMessage: {
        json::Value sub;
        if (!Decode(b, *field->sub, sub, a)) return false;
        json::SetMember(out, field->name, std::move(sub), a);
        break;
      }
      case T::kRepMessage: {
        json::Value sub;
        if (!Decode(b, *field->sub, sub, a)) return false;
        json::Value* arr = json::Find(out, field->name);
        if (!arr) {
          json::SetMember(out, field->name, json::Value(rapidjson::kArrayType), a);
          arr = json::Find(out, field->name);
        }
        arr->PushBack(std::move(sub), a);
        break;
      }
    }
  }
  return true;
}

}  // namespace

kube::Result<json::Document> DecodeProtobuf(std::string_view body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) {
    return kube::NewBadRequest("provided protobuf is not a Kubernetes object (missing prefix)");
  }
  Reader r(body.substr(4));
  std::string api_version, kind;
  std::string_view raw;
  uint32_t f, w;
  uint64_t n = 0;
  std::string_view b;
  while (!r.done()) {
    if (!r.Next(f, w, n, b)) return kube::NewBadRequest("malformed protobuf envelope");
    if (f == 1 && w == 2) {
      Reader tm(b);
      uint32_t tf, tw;
      uint64_t tn = 0;
      std::string_view tb;
      while (!tm.done() && tm.Next(tf, tw, tn, tb)) {
        if (tf == 1) api_version = std::string(tb);
        if (tf == 2) kind = std::string(tb);
      }
    } else if (f == 2 && w == 2) {
      raw = b;
    }
  }
  static const std::map<std::string, const Schema*> kSchemas = {{"Namespace", &kNamespace},
                                                                {"Secret", &kSecret},
                                                                {"ConfigMap", &kConfigMap},
                                                                {"DeleteOptions", &kDeleteOptions}};
  auto it = kSchemas.find(kind);
  if (it == kSchemas.end()) {
    return kube::NewUnsupportedMediaType("application/json, application/yaml");
  }
  json::Document d;
  json::Value v;
  if (!Decode(raw, *it->second, v, d.GetAllocator())) {
    return kube::NewBadRequest("malformed protobuf " + kind);
  }
  d.SetObject();
  auto& a = d.GetAllocator();
  d.AddMember("apiVersion", json::Str(api_version.empty() ? "v1" : api_version, a), a);
  d.AddMember("kind", json::Str(kind, a), a);
  for (auto& m : v.GetObject()) {
    d.AddMember(json::Value(m.name, a), json::Value(m.value, a), a);
  }
  return d;
}

}  // namespace fakekube
