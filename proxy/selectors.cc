#include "proxy/selectors.h"

#include <cctype>

namespace proxy {
namespace {

enum class Tok { kEnd, kIdent, kIn, kNotIn, kEq, kDoubleEq, kNotEq, kBang, kGt, kLt, kOpen,
                 kClose, kComma };

bool IsSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}
bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

struct Token {
  Tok tok = Tok::kEnd;
  std::string text;
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  Token Next() {
    while (pos_ < s_.size() && IsWs(s_[pos_])) ++pos_;
    if (pos_ >= s_.size()) return {Tok::kEnd, ""};
    char c = s_[pos_];
    auto two = [&](char next) { return pos_ + 1 < s_.size() && s_[pos_ + 1] == next; };
    switch (c) {
      case '=':
        if (two('=')) { pos_ += 2; return {Tok::kDoubleEq, "=="}; }
        ++pos_; return {Tok::kEq, "="};
      case '!':
        if (two('=')) { pos_ += 2; return {Tok::kNotEq, "!="}; }
        ++pos_; return {Tok::kBang, "!"};
      case '(': ++pos_; return {Tok::kOpen, "("};
      case ')': ++pos_; return {Tok::kClose, ")"};
      case ',': ++pos_; return {Tok::kComma, ","};
      case '>': ++pos_; return {Tok::kGt, ">"};
      case '<': ++pos_; return {Tok::kLt, "<"};
      default: break;
    }
    size_t b = pos_;
    while (pos_ < s_.size() && !IsWs(s_[pos_]) && !IsSpecial(s_[pos_])) ++pos_;
    std::string word(s_.substr(b, pos_ - b));
    if (word == "in") return {Tok::kIn, word};
    if (word == "notin") return {Tok::kNotIn, word};
    return {Tok::kIdent, word};
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

kube::Status Bad(std::string msg) { return kube::NewBadRequest("unable to parse requirement: " + msg); }

// Label keys: [prefix/]name, name <= 63 of [A-Za-z0-9._-] starting/ending alphanumeric; values
// <= 63 of the same (may be empty). We check the character set only (kube-apiserver upstream
// validates the rest); this is what keeps the re-serialized selector unambiguous.
bool ValidKeyChars(std::string_view k) {
  if (k.empty() || k.size() > 317) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
          c == '/'))
      return false;
  }
  return true;
}
bool ValidValueChars(std::string_view v) {
  if (v.size() > 63) return false;
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

}  // namespace

std::string LabelRequirement::String() const {
  auto join = [&] {
    std::string s = "(";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) s += ",";
      s += values[i];
    }
    return s + ")";
  };
  switch (op) {
    case Op::kExists: return key;
    case Op::kDoesNotExist: return "!" + key;
    case Op::kEquals: return key + "=" + (values.empty() ? "" : values[0]);
    case Op::kNotEquals: return key + "!=" + (values.empty() ? "" : values[0]);
    case Op::kIn: return key + " in " + join();
    case Op::kNotIn: return key + " notin " + join();
    case Op::kGreaterThan: return key + ">" + (values.empty() ? "" : values[0]);
    case Op::kLessThan: return key + "<" + (values.empty() ? "" : values[0]);
  }
  return key;
}

kube::Result<std::vector<LabelRequirement>> ParseLabelSelector(std::string_view s) {
  std::vector<LabelRequirement> out;
  Lexer lx(s);
  Token t = lx.Next();
  if (t.tok == Tok::kEnd) return out;
  while (true) {
    LabelRequirement r;
    if (t.tok == Tok::kBang) {
      t = lx.Next();
      if (t.tok != Tok::kIdent) return Bad("found '" + t.text + "', expected: identifier after '!'");
      r.key = t.text;
      r.op = LabelRequirement::Op::kDoesNotExist;
      t = lx.Next();
    } else if (t.tok == Tok::kIdent) {
      r.key = t.text;
      t = lx.Next();
      switch (t.tok) {
        case Tok::kEnd:
        case Tok::kComma:
          r.op = LabelRequirement::Op::kExists;
          break;
        case Tok::kEq:
        case Tok::kDoubleEq:
        case Tok::kNotEq:
        case Tok::kGt:
        case Tok::kLt: {
          r.op = t.tok == Tok::kNotEq ? LabelRequirement::Op::kNotEquals
                 : t.tok == Tok::kGt  ? LabelRequirement::Op::kGreaterThan
                 : t.tok == Tok::kLt  ? LabelRequirement::Op::kLessThan
                                      : LabelRequirement::Op::kEquals;
          t = lx.Next();
          if (t.tok == Tok::kIdent) {
            r.values.push_back(t.text);
            t = lx.Next();
          } else if (t.tok == Tok::kEnd || t.tok == Tok::kComma) {
            r.values.push_back("");  // "key=" selects the empty value
          } else {
            return Bad("found '" + t.text + "', expected: identifier");
          }
          if ((r.op == LabelRequirement::Op::kGreaterThan ||
               r.op == LabelRequirement::Op::kLessThan)) {
            const std::string& v = r.values[0];
            if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
              return Bad("for 'Gt', 'Lt' operators, the value must be an integer");
          }
          break;
        }
        case Tok::kIn:
        case Tok::kNotIn: {
          r.op = t.tok == Tok::kIn ? LabelRequirement::Op::kIn : LabelRequirement::Op::kNotIn;
          t = lx.Next();
          if (t.tok != Tok::kOpen) return Bad("found '" + t.text + "', expected: '('");
          t = lx.Next();
          while (true) {
            if (t.tok == Tok::kIdent) {
              r.values.push_back(t.text);
              t = lx.Next();
            } else if (t.tok == Tok::kComma || t.tok == Tok::kClose) {
              r.values.push_back("");  // "(a,,b)" and "()" hold empty values, as kube parses
            } else {
              return Bad("found '" + t.text + "', expected: ',', ')' or identifier");
            }
            if (t.tok == Tok::kClose) break;
            if (t.tok != Tok::kComma) return Bad("found '" + t.text + "', expected: ',' or ')'");
            t = lx.Next();
          }
          t = lx.Next();
          break;
        }
        default:
          return Bad("found '" + t.text + "', expected: in, notin, =, ==, !=, gt, lt");
      }
    } else {
      return Bad("found '" + t.text + "', expected: !, identifier, or 'end of string'");
    }
    if (!ValidKeyChars(r.key)) return Bad("invalid label key: \"" + r.key + "\"");
    for (const std::string& v : r.values) {
      if (!ValidValueChars(v)) return Bad("invalid label value: \"" + v + "\"");
    }
    out.push_back(std::move(r));
    if (t.tok == Tok::kEnd) break;
    if (t.tok != Tok::kComma) return Bad("found '" + t.text + "', expected: ',' or 'end of string'");
    t = lx.Next();
    if (t.tok == Tok::kEnd) return Bad("found '', expected: identifier after ','");
  }
  return out;
}

std::string FormatLabelSelector(const std::vector<LabelRequirement>& reqs) {
  std::string s;
  for (const auto& r : reqs) {
    if (!s.empty()) s += ",";
    s += r.String();
  }
  return s;
}

namespace {

std::string EscapeFieldValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == ',' || c == '=') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string FieldRequirement::String() const {
  return field + (op == Op::kEquals ? "=" : "!=") + EscapeFieldValue(value);
}

kube::Result<std::vector<FieldRequirement>> ParseFieldSelector(std::string_view s) {
  std::vector<FieldRequirement> out;
  // Split on unescaped ',' (fields.ParseSelector: `\` escapes the next character).
  std::vector<std::string> terms;
  std::string cur;
  bool any = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      cur.push_back(c);
      cur.push_back(s[++i]);
      continue;
    }
    if (c == ',') {
      terms.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur.push_back(c);
    any = true;
  }
  if (!s.empty()) terms.push_back(std::move(cur));
  (void)any;
  for (const std::string& term : terms) {
    if (term.empty()) continue;  // kube skips empty terms
    // Find the first unescaped operator; "!=" and "==" before "=".
    size_t op_pos = std::string::npos;
    size_t op_len = 0;
    FieldRequirement::Op op = FieldRequirement::Op::kEquals;
    for (size_t i = 0; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      if (term.compare(i, 2, "!=") == 0) {
        op_pos = i; op_len = 2; op = FieldRequirement::Op::kNotEquals;
        break;
      }
      if (term.compare(i, 2, "==") == 0) {
        op_pos = i; op_len = 2;
        break;
      }
      if (term[i] == '=') {
        op_pos = i; op_len = 1;
        break;
      }
    }
    if (op_pos == std::string::npos)
      return kube::NewBadRequest("invalid selector: '" + term + "'; can't understand '" + term + "'");
    FieldRequirement r;
    r.field = term.substr(0, op_pos);
    r.op = op;
    // Unescape the value; an invalid escape is an error like kube's UnescapeValue.
    std::string raw = term.substr(op_pos + op_len);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\') {
        if (i + 1 >= raw.size() || (raw[i + 1] != '\\' && raw[i + 1] != ',' && raw[i + 1] != '='))
          return kube::NewBadRequest("invalid field selector: invalid escape sequence in '" +
                                     raw + "'");
        r.value.push_back(raw[++i]);
        continue;
      }
      if (raw[i] == ',' || raw[i] == '=')
        return kube::NewBadRequest("invalid field selector: unescaped '" + std::string(1, raw[i]) +
                                   "' in '" + raw + "'");
      r.value.push_back(raw[i]);
    }
    // Field names keep their text but must not smuggle separators.
    for (char c : r.field) {
      if (c == ',' || c == '=' || c == '!' || c == '\\')
        return kube::NewBadRequest("invalid selector: '" + term + "'");
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string FormatFieldSelector(const std::vector<FieldRequirement>& reqs) {
  std::string s;
  for (const auto& r : reqs) {
    if (!s.empty()) s += ",";
    s += r.String();
  }
  return s;
}

}  // namespace proxy
