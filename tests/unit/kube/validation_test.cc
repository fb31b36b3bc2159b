// Messages as k8s.io/apimachinery/pkg/util/validation (Kubernetes 1.32) prints them.
#include "kube/validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kube::validation {
namespace {

using Errs = std::vector<std::string>;

const std::string kQualifiedNameMsg =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

TEST(ValidationTest, QualifiedNames) {
  for (const char* ok : {"simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple",
                         "now-with-dashes/simple", "example.com/Upper-Case", "a/b_c.d"}) {
    EXPECT_EQ(IsQualifiedName(ok), Errs{}) << ok;
  }
  EXPECT_EQ(IsQualifiedName("-x"), Errs{kQualifiedNameMsg});
  Errs errs = IsQualifiedName("/simple");
  ASSERT_FALSE(errs.empty());
  EXPECT_EQ(errs[0], "prefix part must be non-empty");
  errs = IsQualifiedName("a/b/c");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_TRUE(errs[0].starts_with("a qualified name must consist of")) << errs[0];
  EXPECT_TRUE(
      errs[0].ends_with("with an optional DNS subdomain prefix and '/' (e.g. "
                        "'example.com/MyName')"))
      << errs[0];
  errs = IsQualifiedName(std::string(64, 'a'));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "name part must be no more than 63 characters");
  errs = IsQualifiedName("Example.COM/x");
  ASSERT_FALSE(errs.empty());
  EXPECT_TRUE(errs[0].starts_with("prefix part a lowercase RFC 1123 subdomain")) << errs[0];
}

TEST(ValidationTest, LabelValues) {
  for (const char* ok : {"", "simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1",
                         "1234", "CaSeS", "a_b.c"}) {
    EXPECT_EQ(IsValidLabelValue(ok), Errs{}) << ok;
  }
  Errs errs = IsValidLabelValue("nospecialchars%^=@");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0],
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
            "or 'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  EXPECT_EQ(IsValidLabelValue(std::string(64, 'a')), Errs{"must be no more than 63 characters"});
}

TEST(ValidationTest, DNS1123) {
  EXPECT_EQ(IsDNS1123Label("team-a"), Errs{});
  EXPECT_EQ(IsDNS1123Label("a.b"), Errs{"must not contain dots"});
  EXPECT_EQ(IsDNS1123Subdomain("a.b-c.d"), Errs{});
  EXPECT_EQ(IsDNS1123Subdomain(std::string(254, 'a')).front(),
            "must be no more than 253 characters");
}

TEST(ValidationTest, GoQuote) {
  EXPECT_EQ(GoQuote("plain"), "\"plain\"");
  EXPECT_EQ(GoQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(GoQuote(std::string_view("\n\t\r\x01\x7f", 5)), "\"\\n\\t\\r\\x01\\x7f\"");
}

}  // namespace
}  // namespace kube::validation
