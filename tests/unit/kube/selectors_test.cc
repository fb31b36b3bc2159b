#include "kube/selectors.h"

#include <gtest/gtest.h>

namespace kube {
namespace {

LabelSelector MustParse(std::string_view s) {
  auto r = LabelSelector::Parse(s);
  if (auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "parse " << s << ": " << *e;
    return {};
  }
  return std::get<LabelSelector>(r);
}

std::string ParseError(std::string_view s) {
  auto r = LabelSelector::Parse(s);
  if (auto* e = std::get_if<std::string>(&r)) return *e;
  return "<no error; got " + std::get<LabelSelector>(r).String() + ">";
}

TEST(LabelSelectorTest, CanonicalString) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"", ""},
      {"x=a,y=b,z=c", "x=a,y=b,z=c"},
      {"z=c,x=a", "x=a,z=c"},
      {"x!=a,y=b", "x!=a,y=b"},
      {"x==a", "x==a"},
      {"x= ,z= ", "x=,z="},
      {"!x", "!x"},
      {"x", "x"},
      {"x>1,z<5", "x>1,z<5"},
      {"x in (b,a,a), !y, z notin ()", "x in (a,b),!y,z notin ()"},
      {"x in (,a)", "x in (,a)"},
      {"in in (in, notin)", "in in (in,notin)"},
      {"  app.kubernetes.io/name  =  web ", "app.kubernetes.io/name=web"},
      {"b,a,!a", "a,!a,b"},  // stable by key
  };
  for (const auto& [in, want] : cases) {
    SCOPED_TRACE(in);
    EXPECT_EQ(MustParse(in).String(), want);
  }
}

TEST(LabelSelectorTest, ParseErrorsMatchApimachinery) {
  const std::string key_regex =
      "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
      "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  const std::string value_regex =
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
      "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
      "'my_value',  or '12345', regex used for validation is "
      "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"!x=a", "found '=', expected: ',' or 'end of string'"},
      {"x==a==b", "found '==', expected: ',' or 'end of string'"},
      {"x=a||y=b",
       "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": " + value_regex},
      {"x<a",
       "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, "
       "the value must be an integer"},
      {"a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"},
      {",", "found ',', expected: !, identifier, or 'end of string'"},
      {"x,", "found '', expected: identifier after ','"},
      {"a=b c", "found 'c', expected: ',' or 'end of string'"},
      {"x in a", "unable to parse requirement: found 'a' expected: '('"},
      {"x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"},
      {"x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"},
      {"!", "unable to parse requirement: found '', expected: identifier"},
      {"-x", "unable to parse requirement: <nil>: Invalid value: \"-x\": name part " + key_regex},
      {"a/b/c=d",
       "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name " +
           key_regex +
           " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"},
      {"/x",
       "unable to parse requirement: <nil>: Invalid value: \"/x\": prefix part must be "
       "non-empty"},
      {"a=" + std::string(64, 'v'), "unable to parse requirement: values[0][a]: Invalid value: \"" +
                                        std::string(64, 'v') +
                                        "\": must be no more than 63 characters"},
      {"a=-v",
       "unable to parse requirement: values[0][a]: Invalid value: \"-v\": a valid label must be "
       "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
       "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
       "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
  };
  for (const auto& [in, want] : cases) {
    SCOPED_TRACE(in);
    EXPECT_EQ(ParseError(in), want);
  }
}

TEST(LabelSelectorTest, Matches) {
  LabelMap a{{"x", "a"}};
  LabelMap c{{"x", "c"}};
  LabelMap none;
  LabelMap empty{{"x", ""}};
  LabelMap two{{"x", "2"}};
  EXPECT_TRUE(MustParse("x in (a,b)").Matches(a));
  EXPECT_FALSE(MustParse("x in (a,b)").Matches(c));
  EXPECT_FALSE(MustParse("x in (a,b)").Matches(none));
  EXPECT_TRUE(MustParse("x notin (a)").Matches(none));
  EXPECT_FALSE(MustParse("x notin (a)").Matches(a));
  EXPECT_TRUE(MustParse("x!=a").Matches(none));
  EXPECT_FALSE(MustParse("x!=a").Matches(a));
  EXPECT_TRUE(MustParse("!x").Matches(none));
  EXPECT_FALSE(MustParse("!x").Matches(empty));
  EXPECT_TRUE(MustParse("x").Matches(empty));
  EXPECT_TRUE(MustParse("x=").Matches(empty));
  EXPECT_FALSE(MustParse("x=").Matches(none));
  EXPECT_TRUE(MustParse("x>1").Matches(two));
  EXPECT_FALSE(MustParse("x>2").Matches(two));
  EXPECT_TRUE(MustParse("x<3").Matches(two));
  EXPECT_FALSE(MustParse("x>1").Matches(a));
  EXPECT_TRUE(MustParse("").Matches(a));
  EXPECT_TRUE(MustParse("x=a,!y").Matches(a));
  EXPECT_FALSE(MustParse("x=a,y").Matches(a));
}

TEST(LabelSelectorTest, InspectAndOverrideRequirements) {
  LabelSelector s = MustParse("app=web,mcp-connector.upbound.io/app-cluster=evil,tier in (a)");
  EXPECT_TRUE(s.HasKey("mcp-connector.upbound.io/app-cluster"));
  EXPECT_EQ(s.RequiresExactMatch("app"), "web");
  EXPECT_EQ(s.RequiresExactMatch("tier"), "a");
  EXPECT_FALSE(s.RequiresExactMatch("nope").has_value());
  EXPECT_FALSE(MustParse("x in (a,b)").RequiresExactMatch("x").has_value());
  EXPECT_FALSE(MustParse("x!=a").RequiresExactMatch("x").has_value());
  EXPECT_EQ(s.RemoveKey("mcp-connector.upbound.io/app-cluster"), 1u);
  auto req = LabelSelector::NewRequirement("mcp-connector.upbound.io/app-cluster",
                                           LabelOperator::kEquals, {"c1"});
  ASSERT_TRUE(std::holds_alternative<LabelRequirement>(req));
  s.Add(std::get<LabelRequirement>(req));
  EXPECT_EQ(s.String(), "app=web,mcp-connector.upbound.io/app-cluster=c1,tier in (a)");
  ASSERT_EQ(s.RequirementsFor("tier").size(), 1u);
  EXPECT_EQ(s.RequirementsFor("tier")[0]->op, LabelOperator::kIn);

  LabelSelector both = MustParse("b=1");
  both.Add(MustParse("a=2,c"));
  EXPECT_EQ(both.String(), "a=2,b=1,c");
  EXPECT_TRUE(LabelSelector().Empty());
}

TEST(LabelSelectorTest, NewRequirementValidates) {
  auto bad = LabelSelector::NewRequirement("k", LabelOperator::kEquals, {"a", "b"});
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_EQ(std::get<std::string>(bad),
            "values: Invalid value: []string{\"a\", \"b\"}: exact-match compatibility requires "
            "one single value");
  auto two = LabelSelector::NewRequirement("-k", LabelOperator::kIn, {});
  ASSERT_TRUE(std::holds_alternative<std::string>(two));
  EXPECT_TRUE(std::get<std::string>(two).starts_with("[key: Invalid value: \"-k\": name part"));
  EXPECT_NE(std::get<std::string>(two).find(
                ", values: Invalid value: []string{}: for 'in', 'notin' operators, values set "
                "can't be empty]"),
            std::string::npos);
}

std::string FieldError(std::string_view s) {
  auto r = FieldSelector::Parse(s);
  if (auto* e = std::get_if<std::string>(&r)) return *e;
  return "<no error>";
}

FieldSelector MustParseFields(std::string_view s) {
  auto r = FieldSelector::Parse(s);
  if (auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *e;
    return {};
  }
  return std::get<FieldSelector>(r);
}

TEST(FieldSelectorTest, ParseAndString) {
  EXPECT_EQ(MustParseFields("metadata.namespace!=b,metadata.name=a").String(),
            "metadata.name=a,metadata.namespace!=b");
  EXPECT_EQ(MustParseFields("b==x,a=y").String(), "a=y,b=x");
  EXPECT_EQ(MustParseFields("metadata.name=a\\,b").String(), "metadata.name=a\\,b");
  EXPECT_EQ(MustParseFields("metadata.name=a\\,b").requirements()[0].value, "a,b");
  EXPECT_EQ(MustParseFields("x=a\\=b\\\\").requirements()[0].value, "a=b\\");
  EXPECT_TRUE(MustParseFields("").Empty());
  EXPECT_TRUE(MustParseFields(",").Empty());
  EXPECT_EQ(EscapeFieldValue("a,b=c\\"), "a\\,b\\=c\\\\");
  // String() is canonical: its parse writes the same text again, even where "==" terms sorted
  // differently as sent (a fuzzer's find: tests/fuzz/regressions/fuzz_selectors).
  const std::string once = MustParseFields("metadatapea!c=,==,=:").String();
  EXPECT_EQ(once, "=,=:,metadatapea!c=");
  EXPECT_EQ(MustParseFields(once).String(), once);
}

TEST(FieldSelectorTest, ParseErrors) {
  EXPECT_EQ(FieldError("metadata.name=name1,foo"),
            "invalid selector: 'metadata.name=name1,foo'; can't understand 'foo'");
  EXPECT_EQ(FieldError("a=b=c"), "invalid field selector: unescaped character in value: =");
  EXPECT_EQ(FieldError("a=b\\x"), "invalid field selector: invalid escape sequence: \\x");
  EXPECT_EQ(FieldError("a=b\\"), "invalid field selector: invalid escape sequence: \\");
}

TEST(FieldSelectorTest, MatchAndExactMatch) {
  FieldSelector s = MustParseFields("metadata.name=a,metadata.namespace!=kube-system");
  auto obj = [](std::string name, std::string ns) {
    return [=](std::string_view f) -> std::optional<std::string> {
      if (f == "metadata.name") return name;
      if (f == "metadata.namespace") return ns;
      return std::nullopt;
    };
  };
  EXPECT_TRUE(s.Matches(obj("a", "default")));
  EXPECT_FALSE(s.Matches(obj("b", "default")));
  EXPECT_FALSE(s.Matches(obj("a", "kube-system")));
  EXPECT_EQ(s.RequiresExactMatch("metadata.name"), "a");
  EXPECT_FALSE(s.RequiresExactMatch("metadata.namespace").has_value());
  ASSERT_EQ(s.Fields().size(), 2u);
  EXPECT_EQ(s.Fields()[1], "metadata.namespace");
  // A missing field compares as "".
  EXPECT_TRUE(MustParseFields("spec.x=").Matches(obj("a", "b")));
  EXPECT_TRUE(MustParseFields("spec.x!=y").Matches(obj("a", "b")));
  EXPECT_EQ(s.RemoveField("metadata.name"), 1u);
  s.Add({"metadata.name", false, "cp-1"});
  // String() is canonical (terms sorted as text), whatever the order they were added in.
  EXPECT_EQ(s.String(), "metadata.name=cp-1,metadata.namespace!=kube-system");
}

}  // namespace
}  // namespace kube
