#include "tests/fakekube/table.h"

#include <cstdio>

#include "tests/fakekube/store.h"

namespace fakekube {

namespace json = kube::json;

namespace {

constexpr std::string_view kNameDescription =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of a name automatically. Name is "
    "primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/"
    "names#names";

class PathEval {
 public:
  explicit PathEval(std::string_view p) : p_(p) {
    while (!p_.empty() && (p_.front() == ' ' || p_.front() == '{')) p_.remove_prefix(1);
    while (!p_.empty() && (p_.back() == ' ' || p_.back() == '}')) p_.remove_suffix(1);
  }

  std::vector<const json::Value*> Run(const json::Value& root) {
    std::vector<const json::Value*> cur = {&root};
    size_t i = 0;
    if (!p_.empty() && p_[0] == '$') i = 1;
    while (i < p_.size() && !cur.empty()) {
      char c = p_[i];
      if (c == '.') {
        ++i;
        size_t start = i;
        while (i < p_.size() && p_[i] != '.' && p_[i] != '[') ++i;
        std::string_view name = p_.substr(start, i - start);
        if (name.empty()) continue;
        cur = Field(cur, name);
      } else if (c == '[') {
        size_t close = FindClose(i);
        if (close == std::string_view::npos) return {};
        std::string_view inner = p_.substr(i + 1, close - i - 1);
        i = close + 1;
        cur = Bracket(cur, inner);
      } else {
        // A bare first field ("metadata.name").
        size_t start = i;
        while (i < p_.size() && p_[i] != '.' && p_[i] != '[') ++i;
        cur = Field(cur, p_.substr(start, i - start));
      }
    }
    return cur;
  }

 private:
  size_t FindClose(size_t open) const {
    int depth = 0;
    char quote = 0;
    for (size_t j = open; j < p_.size(); ++j) {
      char c = p_[j];
      if (quote) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '[') {
        ++depth;
      } else if (c == ']') {
        if (--depth == 0) return j;
      }
    }
    return std::string_view::npos;
  }

  static std::vector<const json::Value*> Field(const std::vector<const json::Value*>& in,
                                               std::string_view name) {
    std::vector<const json::Value*> out;
    for (auto* v : in) {
      if (name == "*") {
        if (v->IsObject()) {
          for (auto& m : v->GetObject()) out.push_back(&m.value);
        } else if (v->IsArray()) {
          for (auto& x : v->GetArray()) out.push_back(&x);
        }
        continue;
      }
      if (const json::Value* f = json::Find(*v, name)) out.push_back(f);
    }
    return out;
  }

  static std::string_view Trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  }

  static std::vector<const json::Value*> Bracket(const std::vector<const json::Value*>& in,
                                                 std::string_view inner) {
    inner = Trim(inner);
    std::vector<const json::Value*> out;
    if (inner.size() >= 2 && (inner[0] == '\'' || inner[0] == '"')) {
      return Field(in, inner.substr(1, inner.size() - 2));
    }
    if (inner == "*") {
      for (auto* v : in) {
        if (v->IsArray()) {
          for (auto& x : v->GetArray()) out.push_back(&x);
        } else if (v->IsObject()) {
          for (auto& m : v->GetObject()) out.push_back(&m.value);
        }
      }
      return out;
    }
    if (!inner.empty() && inner[0] == '?') {
      std::string_view expr = Trim(inner.substr(1));
      if (expr.size() >= 2 && expr.front() == '(' && expr.back() == ')') {
        expr = Trim(expr.substr(1, expr.size() - 2));
      }
      for (auto* v : in) {
        if (!v->IsArray()) continue;
        for (auto& x : v->GetArray()) {
          if (Filter(x, expr)) out.push_back(&x);
        }
      }
      return out;
    }
    // Index or slice.
    auto colon = inner.find(':');
    for (auto* v : in) {
      if (!v->IsArray()) continue;
      int64_t n = int64_t(v->Size());
      if (colon == std::string_view::npos) {
        int64_t idx = std::atoll(std::string(inner).c_str());
        if (idx < 0) idx += n;
        if (idx >= 0 && idx < n) out.push_back(&(*v)[rapidjson::SizeType(idx)]);
      } else {
        std::string a(Trim(inner.substr(0, colon))), b(Trim(inner.substr(colon + 1)));
        int64_t from = a.empty() ? 0 : std::atoll(a.c_str());
        int64_t to = b.empty() ? n : std::atoll(b.c_str());
        if (from < 0) from += n;
        if (to < 0) to += n;
        for (int64_t j = std::max<int64_t>(0, from); j < std::min(to, n); ++j) {
          out.push_back(&(*v)[rapidjson::SizeType(j)]);
        }
      }
    }
    return out;
  }

  static bool Filter(const json::Value& item, std::string_view expr) {
    static constexpr std::string_view kOps[] = {"==", "!=", "<=", ">=", "<", ">"};
    size_t pos = std::string_view::npos;
    std::string_view op;
    for (auto o : kOps) {
      size_t p = expr.find(o);
      if (p != std::string_view::npos && (pos == std::string_view::npos || p < pos)) {
        pos = p;
        op = o;
      }
    }
    std::string_view lhs = Trim(pos == std::string_view::npos ? expr : expr.substr(0, pos));
    if (lhs.empty() || lhs[0] != '@') return false;
    std::vector<const json::Value*> vals = PathEval(lhs.substr(1)).Run(item);
    if (pos == std::string_view::npos) return !vals.empty();
    if (vals.empty()) return false;
    std::string_view rhs = Trim(expr.substr(pos + op.size()));
    const json::Value& v = *vals[0];
    if (rhs.size() >= 2 && (rhs[0] == '\'' || rhs[0] == '"')) {
      std::string_view lit = rhs.substr(1, rhs.size() - 2);
      if (!v.IsString()) return op == "!=";
      std::string_view s = json::View(v);
      if (op == "==") return s == lit;
      if (op == "!=") return s != lit;
      if (op == "<") return s < lit;
      if (op == ">") return s > lit;
      if (op == "<=") return s <= lit;
      return s >= lit;
    }
    if (rhs == "true" || rhs == "false") {
      bool b = rhs == "true";
      bool eq = v.IsBool() && v.GetBool() == b;
      return op == "==" ? eq : op == "!=" ? !eq : false;
    }
    if (!v.IsNumber()) return op == "!=";
    double l = v.GetDouble(), r = std::atof(std::string(rhs).c_str());
    if (op == "==") return l == r;
    if (op == "!=") return l != r;
    if (op == "<") return l < r;
    if (op == ">") return l > r;
    if (op == "<=") return l <= r;
    return l >= r;
  }

  std::string_view p_;
};

// jsonpath PrintResults of one value: strings raw, everything else as JSON.
std::string Print(const json::Value& v) {
  if (v.IsString()) return std::string(json::View(v));
  return json::Serialize(v);
}

std::string Age(const json::Value& obj, std::chrono::system_clock::time_point now) {
  const json::Value* m = json::Find(obj, "metadata");
  std::string_view ts = m ? json::GetString(*m, "creationTimestamp") : std::string_view();
  auto t = ParseTime(ts);
  if (!t) return "<unknown>";
  return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

json::Value ComputedCell(std::string_view path, const json::Value& obj, json::Allocator& a) {
  auto str = [&](const std::string& s) { return json::Str(s, a); };
  if (path.rfind("@count:", 0) == 0) {
    int64_t n = 0;
    std::string_view rest = path.substr(7);
    while (!rest.empty()) {
      size_t plus = rest.find('+');
      for (auto* v : EvalJsonPath(obj, rest.substr(0, plus))) {
        if (v->IsObject()) n += v->MemberCount();
      }
      if (plus == std::string_view::npos) break;
      rest.remove_prefix(plus + 1);
    }
    return json::Value(n);
  }
  if (path.rfind("@map:", 0) == 0) {
    auto vals = EvalJsonPath(obj, path.substr(5));
    if (vals.empty() || !vals[0]->IsObject() || vals[0]->ObjectEmpty()) return str("<none>");
    std::string s;
    for (auto& m : vals[0]->GetObject()) {
      if (!s.empty()) s += ",";
      s += std::string(json::View(m.name)) + "=" + Print(m.value);
    }
    return str(s);
  }
  if (path == "@service-ports") {
    std::string s;
    for (auto* p : EvalJsonPath(obj, ".spec.ports[*]")) {
      if (!s.empty()) s += ",";
      s += std::to_string(json::GetInt(*p, "port").value_or(0));
      if (auto np = json::GetInt(*p, "nodePort")) s += ":" + std::to_string(*np);
      std::string_view proto = json::GetString(*p, "protocol", "TCP");
      s += "/" + std::string(proto);
    }
    return str(s.empty() ? "<none>" : s);
  }
  if (path == "@service-external-ip") {
    std::string s;
    for (auto* ip : EvalJsonPath(obj, ".spec.externalIPs[*]")) {
      if (!s.empty()) s += ",";
      s += Print(*ip);
    }
    return str(s.empty() ? "<none>" : s);
  }
  if (path == "@endpoints") {
    std::string s;
    for (auto* sub : EvalJsonPath(obj, ".subsets[*]")) {
      for (auto* addr : EvalJsonPath(*sub, ".addresses[*].ip")) {
        auto ports = EvalJsonPath(*sub, ".ports[*].port");
        if (ports.empty()) {
          if (!s.empty()) s += ",";
          s += Print(*addr);
        }
        for (auto* port : ports) {
          if (!s.empty()) s += ",";
          s += Print(*addr) + ":" + Print(*port);
        }
      }
    }
    return str(s.empty() ? "<none>" : s);
  }
  if (path == "@event-object") {
    const json::Value* io = json::Find(obj, "involvedObject");
    if (!io) return str("");
    std::string kind(json::GetString(*io, "kind"));
    for (auto& c : kind) c = char(std::tolower(static_cast<unsigned char>(c)));
    return str(kind + "/" + std::string(json::GetString(*io, "name")));
  }
  if (path == "@apiservice-service") {
    const json::Value* spec = json::Find(obj, "spec");
    const json::Value* svc = spec ? json::Find(*spec, "service") : nullptr;
    if (!svc || !svc->IsObject()) return str("Local");
    return str(std::string(json::GetString(*svc, "namespace")) + "/" +
               std::string(json::GetString(*svc, "name")));
  }
  if (path == "@apiservice-available") {
    for (auto* c : EvalJsonPath(obj, ".status.conditions[?(@.type=='Available')]")) {
      std::string st(json::GetString(*c, "status"));
      if (st == "True") return str(st);
      std::string reason(json::GetString(*c, "reason"));
      return str(reason.empty() ? st : st + " (" + reason + ")");
    }
    return str("Unknown");
  }
  return json::Value();
}

}  // namespace

std::vector<const json::Value*> EvalJsonPath(const json::Value& obj, std::string_view path) {
  return PathEval(path).Run(obj);
}

std::string HumanDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  char buf[48];
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", (long long)s);
    return buf;
  }
  int64_t minutes = s / 60;
  if (minutes < 10) {
    int64_t sec = s % 60;
    if (sec == 0) {
      std::snprintf(buf, sizeof buf, "%lldm", (long long)minutes);
    } else {
      std::snprintf(buf, sizeof buf, "%lldm%llds", (long long)minutes, (long long)sec);
    }
    return buf;
  }
  if (minutes < 180) {
    std::snprintf(buf, sizeof buf, "%lldm", (long long)minutes);
    return buf;
  }
  int64_t hours = s / 3600;
  if (hours < 8) {
    int64_t m = minutes % 60;
    if (m == 0) {
      std::snprintf(buf, sizeof buf, "%lldh", (long long)hours);
    } else {
      std::snprintf(buf, sizeof buf, "%lldh%lldm", (long long)hours, (long long)m);
    }
    return buf;
  }
  if (hours < 48) {
    std::snprintf(buf, sizeof buf, "%lldh", (long long)hours);
    return buf;
  }
  int64_t days = hours / 24;
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    if (h == 0) {
      std::snprintf(buf, sizeof buf, "%lldd", (long long)days);
    } else {
      std::snprintf(buf, sizeof buf, "%lldd%lldh", (long long)days, (long long)h);
    }
    return buf;
  }
  if (hours < 24 * 365 * 2) {
    std::snprintf(buf, sizeof buf, "%lldd", (long long)days);
    return buf;
  }
  int64_t years = days / 365;
  if (hours < 24 * 365 * 8) {
    int64_t dy = days % 365;
    if (dy == 0) {
      std::snprintf(buf, sizeof buf, "%lldy", (long long)years);
    } else {
      std::snprintf(buf, sizeof buf, "%lldy%lldd", (long long)years, (long long)dy);
    }
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%lldy", (long long)years);
  return buf;
}

json::Value ColumnDefinitions(const kube::APIResource& r, json::Allocator& a) {
  json::Value cols(rapidjson::kArrayType);
  auto add = [&](std::string_view name, std::string_view type, std::string_view format,
                 std::string_view description, int priority) {
    json::Value c(rapidjson::kObjectType);
    c.AddMember("name", json::Str(name, a), a);
    c.AddMember("type", json::Str(type, a), a);
    c.AddMember("format", json::Str(format, a), a);
    c.AddMember("description", json::Str(description, a), a);
    c.AddMember("priority", priority, a);
    cols.PushBack(std::move(c), a);
  };
  add("Name", "string", "name", kNameDescription, 0);
  for (auto& pc : r.printer_columns) add(pc.name, pc.type, pc.format, pc.description, pc.priority);
  return cols;
}

json::Value PartialObjectMetadata(const json::Value& obj, json::Allocator& a,
                                  std::string_view api_version) {
  json::Value out(rapidjson::kObjectType);
  out.AddMember("kind", "PartialObjectMetadata", a);
  out.AddMember("apiVersion", json::Str(api_version, a), a);
  json::Value meta(rapidjson::kObjectType);
  if (const json::Value* m = json::Find(obj, "metadata")) meta.CopyFrom(*m, a);
  out.AddMember("metadata", std::move(meta), a);
  return out;
}

json::Value TableRow(const kube::APIResource& r, const json::Value& obj, const TableOptions& opts,
                     json::Allocator& a) {
  json::Value cells(rapidjson::kArrayType);
  const json::Value* m = json::Find(obj, "metadata");
  cells.PushBack(json::Str(std::string(m ? json::GetString(*m, "name") : std::string_view()), a),
                 a);
  for (auto& pc : r.printer_columns) {
    if (!pc.json_path.empty() && pc.json_path[0] == '@') {
      cells.PushBack(ComputedCell(pc.json_path, obj, a), a);
      continue;
    }
    auto vals = EvalJsonPath(obj, pc.json_path);
    if (vals.empty()) {
      cells.PushBack(json::Value(), a);
      continue;
    }
    const json::Value& v = *vals[0];
    if (pc.type == "date") {
      if (v.IsString()) {
        auto t = ParseTime(json::View(v));
        if (t) {
          cells.PushBack(
              json::Str(
                  HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(opts.now - *t)),
                  a),
              a);
          continue;
        }
        if (pc.json_path == ".metadata.creationTimestamp") {
          cells.PushBack(json::Str(Age(obj, opts.now), a), a);
          continue;
        }
      }
      cells.PushBack(json::Str("<unknown>", a), a);
    } else if (pc.type == "string") {
      cells.PushBack(json::Str(Print(v), a), a);
    } else if (pc.type == "integer") {
      if (v.IsInt64()) {
        cells.PushBack(json::Value(v.GetInt64()), a);
      } else if (v.IsNumber()) {
        cells.PushBack(json::Value(int64_t(v.GetDouble())), a);
      } else {
        cells.PushBack(json::Value(), a);
      }
    } else if (pc.type == "number") {
      cells.PushBack(v.IsNumber() ? json::Value(v.GetDouble()) : json::Value(), a);
    } else if (pc.type == "boolean") {
      cells.PushBack(v.IsBool() ? json::Value(v.GetBool()) : json::Value(), a);
    } else {
      json::Value copy;
      copy.CopyFrom(v, a);
      cells.PushBack(std::move(copy), a);
    }
  }
  json::Value row(rapidjson::kObjectType);
  row.AddMember("cells", std::move(cells), a);
  switch (opts.include) {
    case IncludeObject::kNone:
      break;
    case IncludeObject::kMetadata:
      row.AddMember("object", PartialObjectMetadata(obj, a), a);
      break;
    case IncludeObject::kObject: {
      json::Value copy;
      copy.CopyFrom(obj, a);
      row.AddMember("object", std::move(copy), a);
      break;
    }
  }
  return row;
}

json::Document RenderTable(const kube::APIResource& r,
                           const std::vector<const json::Value*>& objects, const TableOptions& opts,
                           std::string_view resource_version, std::string_view continue_token,
                           std::optional<int64_t> remaining_item_count) {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("kind", "Table", a);
  d.AddMember("apiVersion", json::Str(opts.api_version, a), a);
  json::Value meta(rapidjson::kObjectType);
  if (!resource_version.empty())
    meta.AddMember("resourceVersion", json::Str(resource_version, a), a);
  if (!continue_token.empty()) meta.AddMember("continue", json::Str(continue_token, a), a);
  if (remaining_item_count) meta.AddMember("remainingItemCount", *remaining_item_count, a);
  d.AddMember("metadata", std::move(meta), a);
  if (!opts.no_headers) {
    d.AddMember("columnDefinitions", ColumnDefinitions(r, a), a);
  } else {
    d.AddMember("columnDefinitions", json::Value(rapidjson::kNullType), a);
  }
  json::Value rows(rapidjson::kArrayType);
  for (auto* o : objects) rows.PushBack(TableRow(r, *o, opts, a), a);
  d.AddMember("rows", std::move(rows), a);
  return d;
}

}  // namespace fakekube
