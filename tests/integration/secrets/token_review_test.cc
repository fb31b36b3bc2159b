// Bearer tokens on the way to the app cluster (issue 8, "Secrets"): the TokenReview body is
// exact JSON built without a DOM, the token kube-apiserver echoes in its answer is blanked before
// the answer is parsed, and a review against a real (fake) app cluster still authenticates.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>

#include "apiserver/reviewers.h"
#include "kube/json.h"
#include "kube/rest_client.h"
#include "tests/fakekube/server.h"

namespace apiserver {
namespace {

namespace json = kube::json;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(SecretsTokenReviewBodyTest, IsTheTokenReviewKubeExpects) {
  const std::string body = BuildTokenReviewBody("abc.DEF-123_x");
  auto doc = json::Parse(body);
  ASSERT_TRUE(doc) << body;
  EXPECT_EQ(json::GetString(*doc, "apiVersion"), "authentication.k8s.io/v1");
  EXPECT_EQ(json::GetString(*doc, "kind"), "TokenReview");
  EXPECT_EQ(json::GetString(*json::FindPath(*doc, "spec"), "token"), "abc.DEF-123_x");
}

TEST(SecretsTokenReviewBodyTest, EscapesWhatJsonNeedsEscaped) {
  const std::string token = std::string("q\"b\\s\x01\n\x7f") + "\xc3\xa9";
  const std::string body = BuildTokenReviewBody(token);
  auto doc = json::Parse(body);
  ASSERT_TRUE(doc) << body;
  EXPECT_EQ(json::GetString(*json::FindPath(*doc, "spec"), "token"), token);
  EXPECT_THAT(body, HasSubstr(R"(q\"b\\s\u0001\u000a\u007f)"));
}

TEST(SecretsTokenReviewBodyTest, RedactsEveryEchoOfTheToken) {
  std::string answer =
      R"({"kind":"TokenReview","spec":{"token":"s3cr3t-tok"},"status":{"authenticated":true,)"
      R"("user":{"username":"bob","groups":["s3cr3t-tok"]}}})";
  EXPECT_EQ(RedactToken(answer, "s3cr3t-tok"), 2u);
  EXPECT_THAT(answer, Not(HasSubstr("s3cr3t-tok")));
  EXPECT_THAT(answer, HasSubstr(R"("token":"**********")"));
  EXPECT_TRUE(json::Parse(answer)) << "still JSON";
  EXPECT_EQ(RedactToken(answer, ""), 0u);
}

class SecretsTokenReviewerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fakekube::FakeKubeOptions o;
    fakekube::StaticToken t;
    t.token = "bob-token-0123456789";
    t.user.name = "bob";
    t.user.uid = "u-1";
    t.user.groups = {"devs"};
    o.tokens.push_back(t);
    app_ = std::make_unique<fakekube::FakeKube>(o);
    ASSERT_TRUE(app_->Start().ok());
    auto client = kube::RestClient::Create(ctx_.get_executor(), app_->AdminConfig());
    ASSERT_TRUE(client.ok());
    client_ = *client;
    thread_ = std::thread([this] { ctx_.run(); });
  }
  void TearDown() override {
    client_.reset();
    work_.reset();
    ctx_.stop();
    if (thread_.joinable()) thread_.join();
    app_.reset();
  }
  kube::Result<std::optional<UserInfo>> Review(std::string token) {
    auto reviewer = NewTokenReviewer(client_, std::chrono::seconds(5));
    // Result<T> has no default constructor, which co_spawn's future needs: go through optional.
    std::optional<kube::Result<std::optional<UserInfo>>> out;
    auto run = [](std::shared_ptr<TokenReviewer> r, std::string t,
                  std::optional<kube::Result<std::optional<UserInfo>>>* o)
        -> boost::asio::awaitable<void> { o->emplace(co_await r->Review(std::move(t))); };
    boost::asio::co_spawn(ctx_, run(reviewer, std::move(token), &out), boost::asio::use_future)
        .get();
    return std::move(*out);
  }

  boost::asio::io_context ctx_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      ctx_.get_executor()};
  std::thread thread_;
  std::unique_ptr<fakekube::FakeKube> app_;
  std::shared_ptr<kube::RestClient> client_;
};

TEST_F(SecretsTokenReviewerTest, AuthenticatesThroughTheAppClusterDespiteTheRedactedEcho) {
  auto r = Review("bob-token-0123456789");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->name, "bob");
  EXPECT_EQ((*r)->uid, "u-1");
  EXPECT_THAT((*r)->groups, ::testing::Contains("devs"));
  // fakekube, like kube-apiserver, echoes spec.token: the reviewer saw and blanked it.
  auto seen = app_->Requests([](const fakekube::RecordedRequest& q) {
    return q.path == "/apis/authentication.k8s.io/v1/tokenreviews";
  });
  ASSERT_EQ(seen.size(), 1u);
  auto unknown = Review("nobody-has-this-token");
  ASSERT_TRUE(unknown.ok()) << unknown.error().message;
  EXPECT_FALSE(unknown->has_value());
}

// RestClient wipes a sensitive request body once it is written (or has failed): the hook sees
// the request's own buffer, all zeroes, for the TokenReview (it carries the token) and never for
// other requests.
std::atomic<int> wiped_bodies{0};
std::atomic<bool> wiped_all_zero{true};
std::atomic<size_t> wiped_size{0};
void OnSensitiveBodyWiped(std::string_view body) {
  wiped_bodies.fetch_add(1);
  wiped_size.store(body.size());
  if (body.find_first_not_of('\0') != std::string_view::npos) wiped_all_zero.store(false);
}

TEST_F(SecretsTokenReviewerTest, TheRequestBodyIsWipedOnceWritten) {
  kube::SetSensitiveBodyWipedHookForTesting(&OnSensitiveBodyWiped);
  struct Unhook {
    ~Unhook() { kube::SetSensitiveBodyWipedHookForTesting(nullptr); }
  } unhook;
  const std::string token = "bob-token-0123456789";
  auto r = Review(token);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(wiped_bodies.load(), 1);
  EXPECT_EQ(wiped_size.load(), BuildTokenReviewBody(token).size());
  EXPECT_TRUE(wiped_all_zero.load());
  // A request that is not marked sensitive is left alone.
  std::optional<kube::Result<json::Document>> list;
  auto get = [](std::shared_ptr<kube::RestClient> c,
                std::optional<kube::Result<json::Document>>* o) -> boost::asio::awaitable<void> {
    std::string path = "/api/v1/namespaces";
    std::string body = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}})";
    auto r = co_await c->Create(std::move(path), std::move(body));
    o->emplace(std::move(r));
  };
  boost::asio::co_spawn(ctx_, get(client_, &list), boost::asio::use_future).get();
  ASSERT_TRUE(list && list->ok());
  EXPECT_EQ(wiped_bodies.load(), 1);
  // A review that fails (the app cluster refuses connections) wipes it too.
  client_->CloseIdle();
  ASSERT_TRUE(app_->SetRefuseConnections(true).ok());
  auto failed = Review(token);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(wiped_bodies.load(), 2);
  EXPECT_TRUE(wiped_all_zero.load());
}

}  // namespace
}  // namespace apiserver
