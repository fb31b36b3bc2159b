#include "kube/secret.h"

#include <gtest/gtest.h>

#include <ostream>
#include <sstream>

#include "kube/tls.h"
#include "tests/unit/kube_net/net_test_util.h"

namespace kube {
namespace {

// A SecretString cannot be streamed (so it cannot reach a log line by accident).
template <class T>
concept Streamable = requires(std::ostream& o, const T& v) {
  o << v;
};
static_assert(!Streamable<SecretString>);
static_assert(Streamable<std::string>);

TEST(SecretStringTest, HoldsReplacesAndClears) {
  SecretString s("s3cret");
  EXPECT_EQ(s.size(), 6u);
  EXPECT_TRUE(s.Equals("s3cret"));
  EXPECT_FALSE(s.Equals("s3cre"));
  EXPECT_FALSE(s.Equals("s3creT"));
  EXPECT_EQ(s.With([](std::string_view v) { return std::string(v); }), "s3cret");
  s.Assign("other");
  EXPECT_EQ(s.RevealCopy(), "other");
  SecretString copy = s;
  SecretString moved = std::move(s);
  EXPECT_TRUE(s.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(copy.RevealCopy(), "other");
  EXPECT_EQ(moved.RevealCopy(), "other");
  moved.Clear();
  EXPECT_TRUE(moved.empty());
  EXPECT_TRUE(moved.Equals(""));
  copy = moved;
  EXPECT_TRUE(copy.empty());
}

TEST(SecretStringTest, ReadsFilesAndTrimsTokens) {
  testing::TempDir dir;
  ASSERT_TRUE(tls::WriteFile(dir.File("t"), "  tok-en\n\n").ok());
  auto s = SecretString::FromFile(dir.File("t"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->RevealCopy(), "tok-en");
  auto raw = SecretString::FromFile(dir.File("t"), false);
  EXPECT_EQ(raw->RevealCopy(), "  tok-en\n\n");
  auto missing = SecretString::FromFile(dir.File("nope"));
  EXPECT_FALSE(missing.ok());
}

TEST(SecretStringDeathTest, MemoryIsInaccessibleOutsideWith) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SecretString s("guarded");
  const char* p = nullptr;
  s.With([&](std::string_view v) { p = v.data(); });
  ASSERT_NE(p, nullptr);
  // Readable inside With(), a fault outside it (sodium_mprotect_noaccess).
  EXPECT_DEATH(
      {
        volatile char c = p[0];
        (void)c;
      },
      "");
}

TEST(SecretStringDeathTest, OldValueIsReleasedOnReplace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SecretString s("first");
  const char* p = nullptr;
  s.With([&](std::string_view v) { p = v.data(); });
  s.Assign("second");
  // The old guarded allocation is gone (wiped and freed with its guard pages).
  EXPECT_DEATH(
      {
        volatile char c = p[0];
        (void)c;
      },
      "");
}

}  // namespace
}  // namespace kube
