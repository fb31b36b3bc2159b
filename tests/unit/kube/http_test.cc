#include "kube/http.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace kube::http {
namespace {

TEST(HttpTest, HeadersAreCaseInsensitiveAndOrdered) {
  Headers h;
  h.Reserve(16);  // room only: no fields
  EXPECT_EQ(h.size(), 0u);
  h.Add("Content-Type", "application/json");
  h.Add("X-Remote-Group", "a");
  h.Add("x-remote-group", "b");
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.Get("content-type"), "application/json");
  EXPECT_TRUE(h.Has("CONTENT-TYPE"));
  EXPECT_FALSE(h.Has("Accept"));
  auto groups = h.GetAll("X-REMOTE-GROUP");
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], "a");
  EXPECT_EQ(groups[1], "b");
  h.Set("x-Remote-Group", "c");
  EXPECT_EQ(h.GetAll("X-Remote-Group").size(), 1u);
  EXPECT_EQ(h.Get("X-Remote-Group"), "c");
  h.Remove("CONTENT-type");
  EXPECT_FALSE(h.Has("Content-Type"));
  EXPECT_EQ(h.fields().size(), 1u);
}

TEST(HttpTest, CaseHelpers) {
  EXPECT_TRUE(EqualsIgnoreCase("Bearer", "bEARER"));
  EXPECT_FALSE(EqualsIgnoreCase("Bearer", "Bearer "));
  EXPECT_TRUE(StartsWithIgnoreCase("Bearer abc", "bearer "));
  EXPECT_FALSE(StartsWithIgnoreCase("Be", "bearer"));
}

// EqualsIgnoreCase compares eight bytes at a time: every pair of byte values, at every position
// of a word and of the tail, must compare as ASCII case folding says (letters only: no other
// byte, e.g. '@' and '`' or '[' and '{', passes for another; bytes >= 0x80 never fold).
TEST(HttpTest, EqualsIgnoreCaseFoldsAsciiLettersOnlyAtEveryPosition) {
  auto lower = [](int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  for (size_t pos : {0u, 3u, 7u, 8u, 12u, 16u, 18u}) {
    std::string a = "x-Remote-Group-Xyz";
    std::string b = "X-REMOTE-gROUP-xyZ";
    ASSERT_TRUE(EqualsIgnoreCase(a, b));
    for (int c1 = 0; c1 < 256; ++c1) {
      for (int c2 = 0; c2 < 256; ++c2) {
        a[pos < a.size() ? pos : a.size() - 1] = static_cast<char>(c1);
        b[pos < b.size() ? pos : b.size() - 1] = static_cast<char>(c2);
        if (EqualsIgnoreCase(a, b) != (lower(c1) == lower(c2))) {
          FAIL() << "bytes " << c1 << " and " << c2 << " at " << pos;
        }
      }
    }
  }
}

TEST(HttpTest, PercentCoding) {
  EXPECT_EQ(PercentDecode("a%2Fb%20c+d"), "a/b c+d");
  EXPECT_EQ(PercentDecode("a%2fb+c", true), "a/b c");
  EXPECT_EQ(PercentDecode("bad%zz%4"), "bad%zz%4");  // malformed escapes kept
  EXPECT_EQ(PercentDecode("%"), "%");
  EXPECT_EQ(PercentEncode("a b/c=d&e~f.g_h-i"), "a%20b%2Fc%3Dd%26e~f.g_h-i");
  EXPECT_EQ(PercentDecode(PercentEncode("metadata.name=x,y!=z")), "metadata.name=x,y!=z");
}

TEST(HttpTest, FindFirstOfFindsAnyByteOfTheSet) {
  EXPECT_EQ(FindFirstOf("abc%def+", "%+"), 3u);
  EXPECT_EQ(FindFirstOf("abc%def+", "%+", 4), 7u);
  EXPECT_EQ(FindFirstOf("abc%def+", "+", 8), std::string_view::npos);
  EXPECT_EQ(FindFirstOf("name\r\n", "\r\n:"), 4u);
  EXPECT_EQ(FindFirstOf("plain", "\r\n:"), std::string_view::npos);
  EXPECT_EQ(FindFirstOf("", "x"), std::string_view::npos);
  EXPECT_EQ(FindFirstOf("x", ""), std::string_view::npos);
  EXPECT_EQ(FindFirstOf(std::string_view("a\0b", 3), std::string_view("\0", 1)), 1u);
}

// PercentDecode copies escape-free runs whole; it must decode exactly as the byte-by-byte
// definition does (escapes at the ends, malformed and truncated ones, '+' both ways).
TEST(HttpTest, PercentDecodeMatchesTheByteByByteDefinition) {
  auto reference = [](std::string_view s, bool plus_is_space) {
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
        out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
        i += 2;
      } else {
        out.push_back(s[i] == '+' && plus_is_space ? ' ' : s[i]);
      }
    }
    return out;
  };
  const std::string alphabet = "%+aF09zG/ ";
  uint32_t seed = 12345;
  for (int n = 0; n < 20000; ++n) {
    std::string s;
    seed = seed * 1103515245 + 12345;
    const size_t len = (seed >> 16) % 9;
    for (size_t i = 0; i < len; ++i) {
      seed = seed * 1103515245 + 12345;
      s.push_back(alphabet[(seed >> 16) % alphabet.size()]);
    }
    for (bool plus : {false, true}) {
      ASSERT_EQ(PercentDecode(s, plus), reference(s, plus)) << "\"" << s << "\" plus " << plus;
    }
  }
}

TEST(HttpTest, QueryParsesLikeGo) {
  Query q("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=true&&limit=500&flag&watch=false");
  EXPECT_EQ(q.Get("labelSelector"), "app=web,tier in (a)");
  EXPECT_EQ(q.Get("watch"), "true");
  EXPECT_EQ(q.GetAll("watch").size(), 2u);
  EXPECT_EQ(q.Get("flag"), "");
  EXPECT_FALSE(q.Get("missing").has_value());
  q.Set("watch", "1");
  EXPECT_EQ(q.GetAll("watch").size(), 1u);
  EXPECT_EQ(q.Get("watch"), "1");
  q.Set("new", "a b");
  q.Remove("flag");
  EXPECT_EQ(q.Encode(),
            "labelSelector=app%3Dweb%2Ctier%20in%20%28a%29&watch=1&limit=500&new=a%20b");
  EXPECT_EQ(Query("").Encode(), "");
  // Round trip.
  Query back(q.Encode());
  EXPECT_EQ(back.items(), q.items());
}

TEST(HttpTest, ParseTargetSplitsAndDecodes) {
  Request r;
  r.target = "/apis/k8s.starter.org/v1alpha1/namespaces/a%20b/kubernetesclusters?watch=1&x=%2F";
  ParseTarget(r);
  EXPECT_EQ(r.path, "/apis/k8s.starter.org/v1alpha1/namespaces/a b/kubernetesclusters");
  EXPECT_EQ(r.raw_query, "watch=1&x=%2F");
  EXPECT_EQ(r.query.Get("x"), "/");

  Request abs;
  abs.target = "https://host:6443/api/v1/pods?limit=1";
  ParseTarget(abs);
  EXPECT_EQ(abs.path, "/api/v1/pods");
  EXPECT_EQ(abs.query.Get("limit"), "1");

  Request bare;
  bare.target = "/healthz";
  ParseTarget(bare);
  EXPECT_EQ(bare.path, "/healthz");
  EXPECT_EQ(bare.raw_query, "");
  EXPECT_TRUE(bare.query.items().empty());
}

// Records what Send does.
class RecordingWriter : public ResponseWriter {
 public:
  asio::awaitable<bool> WriteHeader(int status, Headers headers,
                                    std::optional<uint64_t> content_length) override {
    status_ = status;
    headers_ = std::move(headers);
    length_ = content_length;
    sent_ = true;
    co_return true;
  }
  asio::awaitable<bool> Write(std::string_view data) override {
    body_ += data;
    ++writes_;
    co_return true;
  }
  asio::awaitable<bool> Finish() override {
    ++finishes_;
    co_return true;
  }
  asio::awaitable<void> WaitClosed() override { co_return; }
  bool header_sent() const override { return sent_; }

  int status_ = 0;
  Headers headers_;
  std::optional<uint64_t> length_;
  std::string body_;
  int writes_ = 0;
  int finishes_ = 0;
  bool sent_ = false;
};

TEST(HttpTest, SendWritesWholeResponse) {
  asio::io_context io;
  RecordingWriter w;
  bool ok = false;
  Headers h;
  h.Add("Content-Type", "application/json");
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { ok = co_await w.Send(201, h, R"({"a":1})"); },
      asio::detached);
  io.run();
  EXPECT_TRUE(ok);
  EXPECT_EQ(w.status_, 201);
  EXPECT_EQ(w.length_, 7u);
  EXPECT_EQ(w.body_, R"({"a":1})");
  EXPECT_EQ(w.headers_.Get("content-type"), "application/json");
  EXPECT_EQ(w.finishes_, 1);

  RecordingWriter empty;
  io.restart();
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { ok = co_await empty.Send(204, {}, ""); },
      asio::detached);
  io.run();
  EXPECT_TRUE(ok);
  EXPECT_EQ(empty.length_, 0u);
  EXPECT_EQ(empty.writes_, 0);
  EXPECT_EQ(empty.finishes_, 1);
}

}  // namespace
}  // namespace kube::http
