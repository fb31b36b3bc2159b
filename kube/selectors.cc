// Label selectors follow k8s.io/apimachinery/pkg/labels/selector.go (lexer, parser, messages);
// field selectors follow pkg/fields/selector.go.
#include "kube/selectors.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "kube/validation.h"

namespace kube {
namespace {

using validation::IsQualifiedName;
using validation::IsValidLabelValue;

// Go's strconv.Quote, as the selector error messages print values.
std::string Quote(std::string_view s) { return validation::GoQuote(s); }

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// field.ErrorList.ToAggregate().Error(): duplicates dropped, one bare, several in [a, b].
std::string Aggregate(const std::vector<std::string>& errs) {
  std::vector<std::string> uniq;
  std::set<std::string> seen;
  for (const auto& e : errs) {
    if (seen.insert(e).second) uniq.push_back(e);
  }
  if (uniq.size() == 1) return uniq[0];
  return "[" + Join(uniq, ", ") + "]";
}

// field.Invalid(path, value, detail).Error()
std::string FieldInvalid(std::string_view path, std::string_view value_repr,
                         std::string_view detail) {
  std::string s = std::string(path) + ": Invalid value: " + std::string(value_repr);
  if (!detail.empty()) s += ": " + std::string(detail);
  return s;
}

bool ParseInt64(std::string_view s, int64_t& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// ---- Label selector lexer and parser ----

enum class Token {
  kError,
  kEndOfString,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

std::optional<Token> LiteralToken(std::string_view s) {
  if (s == ")") return Token::kClosedPar;
  if (s == ",") return Token::kComma;
  if (s == "!") return Token::kDoesNotExist;
  if (s == "==") return Token::kDoubleEquals;
  if (s == "=") return Token::kEquals;
  if (s == ">") return Token::kGreaterThan;
  if (s == "in") return Token::kIn;
  if (s == "<") return Token::kLessThan;
  if (s == "!=") return Token::kNotEquals;
  if (s == "notin") return Token::kNotIn;
  if (s == "(") return Token::kOpenPar;
  return std::nullopt;
}

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecialSymbol(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

struct Item {
  Token tok;
  std::string literal;
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Item Lex() {
    char ch = SkipWhiteSpaces(Read());
    if (ch == 0) return {Token::kEndOfString, ""};
    Unread();
    if (IsSpecialSymbol(ch)) return ScanSpecialSymbol();
    return ScanIdOrKeyword();
  }

 private:
  // A NUL byte ends the input, as in apimachinery's lexer.
  char Read() {
    char b = 0;
    if (pos_ < s_.size()) b = s_[pos_];
    ++pos_;
    return b;
  }
  void Unread() { --pos_; }
  char SkipWhiteSpaces(char ch) {
    while (IsWhitespace(ch)) ch = Read();
    return ch;
  }

  Item ScanIdOrKeyword() {
    std::string buf;
    while (true) {
      char ch = Read();
      if (ch == 0) break;
      if (IsSpecialSymbol(ch) || IsWhitespace(ch)) {
        Unread();
        break;
      }
      buf.push_back(ch);
    }
    if (auto t = LiteralToken(buf)) return {*t, buf};
    return {Token::kIdentifier, buf};
  }

  Item ScanSpecialSymbol() {
    std::optional<Item> last;
    std::string buf;
    while (true) {
      char ch = Read();
      if (ch == 0) break;
      if (!IsSpecialSymbol(ch)) {
        Unread();
        break;
      }
      buf.push_back(ch);
      if (auto t = LiteralToken(buf)) {
        last = Item{*t, buf};
      } else if (last) {
        Unread();
        break;
      }
    }
    if (!last) return {Token::kError, "error expected: keyword found '" + buf + "'"};
    return *last;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

enum class Context { kKeyAndOperator, kValues };

class Parser {
 public:
  explicit Parser(std::string_view s) {
    Lexer l(s);
    while (true) {
      Item it = l.Lex();
      bool end = it.tok == Token::kEndOfString;
      items_.push_back(std::move(it));
      if (end) break;
    }
  }

  // On error sets `err`.
  std::vector<LabelRequirement> Parse(std::string& err) {
    std::vector<LabelRequirement> reqs;
    while (true) {
      auto [tok, lit] = Lookahead(Context::kValues);
      switch (tok) {
        case Token::kIdentifier:
        case Token::kDoesNotExist: {
          auto r = ParseRequirement();
          if (auto* e = std::get_if<std::string>(&r)) {
            err = "unable to parse requirement: " + *e;
            return {};
          }
          reqs.push_back(std::move(std::get<LabelRequirement>(r)));
          auto [t, l] = Consume(Context::kValues);
          if (t == Token::kEndOfString) return reqs;
          if (t == Token::kComma) {
            auto [t2, l2] = Lookahead(Context::kValues);
            if (t2 != Token::kIdentifier && t2 != Token::kDoesNotExist) {
              err = "found '" + l2 + "', expected: identifier after ','";
              return {};
            }
            break;
          }
          err = "found '" + l + "', expected: ',' or 'end of string'";
          return {};
        }
        case Token::kEndOfString:
          return reqs;
        default:
          err = "found '" + lit + "', expected: !, identifier, or 'end of string'";
          return {};
      }
    }
  }

 private:
  std::pair<Token, std::string> Lookahead(Context ctx) const {
    const Item& it = items_[std::min(position_, items_.size() - 1)];
    Token tok = it.tok;
    if (ctx == Context::kValues && (tok == Token::kIn || tok == Token::kNotIn)) {
      tok = Token::kIdentifier;
    }
    return {tok, it.literal};
  }
  std::pair<Token, std::string> Consume(Context ctx) {
    auto r = Lookahead(ctx);
    if (position_ < items_.size() - 1) ++position_;
    return r;
  }

  std::variant<LabelRequirement, std::string> ParseRequirement() {
    std::optional<LabelOperator> op;
    auto [tok, key] = Consume(Context::kValues);
    if (tok == Token::kDoesNotExist) {
      op = LabelOperator::kDoesNotExist;
      std::tie(tok, key) = Consume(Context::kValues);
    }
    if (tok != Token::kIdentifier) return "found '" + key + "', expected: identifier";
    if (auto errs = IsQualifiedName(key); !errs.empty()) {
      return FieldInvalid("<nil>", Quote(key), Join(errs, "; "));
    }
    if (auto [t, l] = Lookahead(Context::kValues); t == Token::kEndOfString || t == Token::kComma) {
      if (op != LabelOperator::kDoesNotExist) op = LabelOperator::kExists;
    }
    if (op) return LabelSelector::NewRequirement(std::move(key), *op, {});

    auto [otok, olit] = Consume(Context::kKeyAndOperator);
    LabelOperator binop;
    switch (otok) {
      case Token::kIn:
        binop = LabelOperator::kIn;
        break;
      case Token::kEquals:
        binop = LabelOperator::kEquals;
        break;
      case Token::kDoubleEquals:
        binop = LabelOperator::kDoubleEquals;
        break;
      case Token::kGreaterThan:
        binop = LabelOperator::kGreaterThan;
        break;
      case Token::kLessThan:
        binop = LabelOperator::kLessThan;
        break;
      case Token::kNotIn:
        binop = LabelOperator::kNotIn;
        break;
      case Token::kNotEquals:
        binop = LabelOperator::kNotEquals;
        break;
      default:
        return "found '" + olit + "', expected: in, notin, =, ==, !=, gt, lt";
    }
    std::set<std::string> values;
    std::string err;
    if (binop == LabelOperator::kIn || binop == LabelOperator::kNotIn) {
      if (!ParseValues(values, err)) return err;
    } else if (!ParseExactValue(values, err)) {
      return err;
    }
    return LabelSelector::NewRequirement(std::move(key), binop, {values.begin(), values.end()});
  }

  bool ParseValues(std::set<std::string>& out, std::string& err) {
    auto [tok, lit] = Consume(Context::kValues);
    if (tok != Token::kOpenPar) {
      err = "found '" + lit + "' expected: '('";
      return false;
    }
    std::tie(tok, lit) = Lookahead(Context::kValues);
    switch (tok) {
      case Token::kIdentifier:
      case Token::kComma:
        if (!ParseIdentifiersList(out, err)) return false;
        if (Consume(Context::kValues).first != Token::kClosedPar) {
          err = "found '" + lit + "', expected: ')'";
          return false;
        }
        return true;
      case Token::kClosedPar:
        Consume(Context::kValues);
        out.insert("");
        return true;
      default:
        err = "found '" + lit + "', expected: ',', ')' or identifier";
        return false;
    }
  }

  bool ParseIdentifiersList(std::set<std::string>& out, std::string& err) {
    while (true) {
      auto [tok, lit] = Consume(Context::kValues);
      if (tok == Token::kIdentifier) {
        out.insert(lit);
        auto [tok2, lit2] = Lookahead(Context::kValues);
        if (tok2 == Token::kComma) continue;
        if (tok2 == Token::kClosedPar) return true;
        err = "found '" + lit2 + "', expected: ',' or ')'";
        return false;
      }
      if (tok == Token::kComma) {
        if (out.empty()) out.insert("");  // "(,"
        Token tok2 = Lookahead(Context::kValues).first;
        if (tok2 == Token::kClosedPar) {
          out.insert("");  // ",)"
          return true;
        }
        if (tok2 == Token::kComma) out.insert("");  // ",,"
        continue;
      }
      err = "found '" + lit + "', expected: ',', or identifier";
      return false;
    }
  }

  bool ParseExactValue(std::set<std::string>& out, std::string& err) {
    Token la = Lookahead(Context::kValues).first;
    if (la == Token::kEndOfString || la == Token::kComma) {
      out.insert("");
      return true;
    }
    auto [tok, lit] = Consume(Context::kValues);
    if (tok == Token::kIdentifier) {
      out.insert(lit);
      return true;
    }
    err = "found '" + lit + "', expected: identifier";
    return false;
  }

  std::vector<Item> items_;
  size_t position_ = 0;
};

bool HasValue(const LabelRequirement& r, std::string_view v) {
  return std::find(r.values.begin(), r.values.end(), v) != r.values.end();
}

std::string GoStringSlice(const std::vector<std::string>& v) {
  std::string s = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += Quote(v[i]);
  }
  return s + "}";
}

}  // namespace

// ---- LabelRequirement ----

bool LabelRequirement::Matches(const LabelMap& labels) const {
  auto it = labels.find(key);
  bool exists = it != labels.end();
  switch (op) {
    case LabelOperator::kIn:
    case LabelOperator::kEquals:
    case LabelOperator::kDoubleEquals:
      return exists && HasValue(*this, it->second);
    case LabelOperator::kNotIn:
    case LabelOperator::kNotEquals:
      return !exists || !HasValue(*this, it->second);
    case LabelOperator::kExists:
      return exists;
    case LabelOperator::kDoesNotExist:
      return !exists;
    case LabelOperator::kGreaterThan:
    case LabelOperator::kLessThan: {
      if (!exists || values.size() != 1) return false;
      int64_t have = 0, want = 0;
      if (!ParseInt64(it->second, have) || !ParseInt64(values[0], want)) return false;
      return op == LabelOperator::kGreaterThan ? have > want : have < want;
    }
  }
  return false;
}

std::string LabelRequirement::String() const {
  std::string s;
  if (op == LabelOperator::kDoesNotExist) s += "!";
  s += key;
  switch (op) {
    case LabelOperator::kEquals:
      s += "=";
      break;
    case LabelOperator::kDoubleEquals:
      s += "==";
      break;
    case LabelOperator::kNotEquals:
      s += "!=";
      break;
    case LabelOperator::kIn:
      s += " in ";
      break;
    case LabelOperator::kNotIn:
      s += " notin ";
      break;
    case LabelOperator::kGreaterThan:
      s += ">";
      break;
    case LabelOperator::kLessThan:
      s += "<";
      break;
    case LabelOperator::kExists:
    case LabelOperator::kDoesNotExist:
      return s;
  }
  bool set = op == LabelOperator::kIn || op == LabelOperator::kNotIn;
  if (set) s += "(";
  if (values.size() == 1) {
    s += values[0];
  } else {
    std::vector<std::string> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    s += Join(sorted, ",");
  }
  if (set) s += ")";
  return s;
}

// ---- LabelSelector ----

std::variant<LabelRequirement, std::string> LabelSelector::NewRequirement(
    std::string key, LabelOperator op, std::vector<std::string> values) {
  std::vector<std::string> errs;
  if (auto k = IsQualifiedName(key); !k.empty()) {
    errs.push_back(FieldInvalid("key", Quote(key), Join(k, "; ")));
  }
  switch (op) {
    case LabelOperator::kIn:
    case LabelOperator::kNotIn:
      if (values.empty()) {
        errs.push_back(FieldInvalid("values", GoStringSlice(values),
                                    "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case LabelOperator::kEquals:
    case LabelOperator::kDoubleEquals:
    case LabelOperator::kNotEquals:
      if (values.size() != 1) {
        errs.push_back(FieldInvalid("values", GoStringSlice(values),
                                    "exact-match compatibility requires one single value"));
      }
      break;
    case LabelOperator::kExists:
    case LabelOperator::kDoesNotExist:
      if (!values.empty()) {
        errs.push_back(FieldInvalid("values", GoStringSlice(values),
                                    "values set must be empty for exists and does not exist"));
      }
      break;
    case LabelOperator::kGreaterThan:
    case LabelOperator::kLessThan:
      if (values.size() != 1) {
        errs.push_back(FieldInvalid("values", GoStringSlice(values),
                                    "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      for (size_t i = 0; i < values.size(); ++i) {
        int64_t unused = 0;
        if (!ParseInt64(values[i], unused)) {
          errs.push_back(FieldInvalid("values[" + std::to_string(i) + "]", Quote(values[i]),
                                      "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (auto v = IsValidLabelValue(values[i]); !v.empty()) {
      errs.push_back(FieldInvalid("values[" + std::to_string(i) + "][" + key + "]",
                                  Quote(values[i]), Join(v, "; ")));
    }
  }
  if (!errs.empty()) return Aggregate(errs);
  return LabelRequirement{std::move(key), op, std::move(values)};
}

std::variant<LabelSelector, std::string> LabelSelector::Parse(std::string_view text) {
  Parser p(text);
  std::string err;
  std::vector<LabelRequirement> reqs = p.Parse(err);
  if (!err.empty()) return err;
  LabelSelector sel;
  sel.requirements_ = std::move(reqs);
  std::stable_sort(sel.requirements_.begin(), sel.requirements_.end(),
                   [](const auto& a, const auto& b) { return a.key < b.key; });
  return sel;
}

bool LabelSelector::Matches(const LabelMap& labels) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const LabelRequirement& r) { return r.Matches(labels); });
}

std::string LabelSelector::String() const {
  std::string s;
  for (size_t i = 0; i < requirements_.size(); ++i) {
    if (i) s += ",";
    s += requirements_[i].String();
  }
  return s;
}

LabelSelector& LabelSelector::Add(LabelRequirement r) {
  auto pos = std::upper_bound(requirements_.begin(), requirements_.end(), r.key,
                              [](const std::string& k, const auto& e) { return k < e.key; });
  requirements_.insert(pos, std::move(r));
  return *this;
}

LabelSelector& LabelSelector::Add(const LabelSelector& other) {
  for (const auto& r : other.requirements_) Add(r);
  return *this;
}

std::vector<const LabelRequirement*> LabelSelector::RequirementsFor(std::string_view key) const {
  std::vector<const LabelRequirement*> out;
  for (const auto& r : requirements_) {
    if (r.key == key) out.push_back(&r);
  }
  return out;
}

size_t LabelSelector::RemoveKey(std::string_view key) {
  return std::erase_if(requirements_, [&](const auto& r) { return r.key == key; });
}

std::optional<std::string> LabelSelector::RequiresExactMatch(std::string_view key) const {
  for (const auto& r : requirements_) {
    if (r.key != key) continue;
    if ((r.op == LabelOperator::kEquals || r.op == LabelOperator::kDoubleEquals ||
         r.op == LabelOperator::kIn) &&
        r.values.size() == 1) {
      return r.values[0];
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// ---- Field selectors ----

std::string EscapeFieldValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == ',' || c == '=') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

namespace {

// fields.UnescapeValue
std::variant<std::string, std::string> UnescapeFieldValue(std::string_view s) {
  std::string out;
  bool in_slash = false;
  for (char c : s) {
    if (in_slash) {
      if (c != '\\' && c != ',' && c != '=') {
        return std::variant<std::string, std::string>(
            std::in_place_index<1>,
            "invalid field selector: invalid escape sequence: \\" + std::string(1, c));
      }
      out.push_back(c);
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      return std::variant<std::string, std::string>(
          std::in_place_index<1>,
          "invalid field selector: unescaped character in value: " + std::string(1, c));
    } else {
      out.push_back(c);
    }
  }
  if (in_slash) {
    return std::variant<std::string, std::string>(
        std::in_place_index<1>, "invalid field selector: invalid escape sequence: \\");
  }
  return std::variant<std::string, std::string>(std::in_place_index<0>, std::move(out));
}

}  // namespace

std::variant<FieldSelector, std::string> FieldSelector::Parse(std::string_view text) {
  // splitTerms: ',' separates terms unless escaped with a backslash.
  std::vector<std::string_view> parts;
  if (!text.empty()) {
    size_t start = 0;
    bool in_slash = false;
    for (size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (in_slash) {
        in_slash = false;
      } else if (c == '\\') {
        in_slash = true;
      } else if (c == ',') {
        parts.push_back(text.substr(start, i - start));
        start = i + 1;
      }
    }
    parts.push_back(text.substr(start));
  }
  std::sort(parts.begin(), parts.end());
  FieldSelector sel;
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    // splitTerm: the first "!=", "==" or "=" (in that preference at each position).
    size_t at = std::string_view::npos;
    size_t oplen = 0;
    bool not_equals = false;
    for (size_t i = 0; i < part.size() && at == std::string_view::npos; ++i) {
      std::string_view rest = part.substr(i);
      if (rest.starts_with("!=")) {
        at = i, oplen = 2, not_equals = true;
      } else if (rest.starts_with("==")) {
        at = i, oplen = 2;
      } else if (rest.starts_with("=")) {
        at = i, oplen = 1;
      }
    }
    if (at == std::string_view::npos) {
      return "invalid selector: '" + std::string(text) + "'; can't understand '" +
             std::string(part) + "'";
    }
    auto value = UnescapeFieldValue(part.substr(at + oplen));
    if (value.index() == 1) return std::get<1>(std::move(value));
    sel.requirements_.push_back(
        {std::string(part.substr(0, at)), not_equals, std::get<0>(std::move(value))});
  }
  return sel;
}

bool FieldSelector::Matches(const FieldGetter& get) const {
  for (const auto& r : requirements_) {
    std::string have = get(r.field).value_or(std::string());
    if ((have == r.value) == r.not_equals) return false;
  }
  return true;
}

std::string FieldSelector::String() const {
  // The terms sorted as text: Parse orders terms by their text as sent (kube's parseSelector
  // sorts the raw terms), and a term's text can change on the way ("a==b" becomes "a=b"), so
  // only sorting what is written makes String() of a parsed String() the same text.
  std::vector<std::string> terms;
  terms.reserve(requirements_.size());
  for (const auto& r : requirements_) {
    terms.push_back(r.field + (r.not_equals ? "!=" : "=") + EscapeFieldValue(r.value));
  }
  std::sort(terms.begin(), terms.end());
  std::string s;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (i) s += ",";
    s += terms[i];
  }
  return s;
}

std::optional<std::string> FieldSelector::RequiresExactMatch(std::string_view field) const {
  for (const auto& r : requirements_) {
    if (r.field == field && !r.not_equals) return r.value;
  }
  return std::nullopt;
}

std::vector<std::string_view> FieldSelector::Fields() const {
  std::vector<std::string_view> out;
  for (const auto& r : requirements_) out.emplace_back(r.field);
  return out;
}

FieldSelector& FieldSelector::Add(FieldRequirement r) {
  requirements_.push_back(std::move(r));
  return *this;
}

size_t FieldSelector::RemoveField(std::string_view field) {
  return std::erase_if(requirements_, [&](const auto& r) { return r.field == field; });
}

}  // namespace kube
