#include "apiserver/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Options, Defaults) {
  Options o;
  bool help = false;
  EXPECT_FALSE(ParseOptions({}, o, help).has_value());
  EXPECT_EQ(o.bind_address, "0.0.0.0");
  EXPECT_EQ(o.secure_port, 8443);
  EXPECT_EQ(o.max_requests_inflight, 400);
  EXPECT_EQ(o.request_timeout, std::chrono::seconds(60));
  EXPECT_EQ(o.watch_start_timeout, std::chrono::seconds(60));
  EXPECT_EQ(o.io_threads, 2);
}

TEST(Options, IoThreads) {
  Options o;
  bool help = false;
  ASSERT_FALSE(ParseOptions({"--io-threads", "1"}, o, help).has_value());
  EXPECT_EQ(o.io_threads, 1);
  ASSERT_FALSE(ParseOptions({"--io-threads=64"}, o, help).has_value());
  EXPECT_EQ(o.io_threads, 64);
  for (const char* bad : {"--io-threads=0", "--io-threads=65", "--io-threads=-1"}) {
    Options p;
    auto err = ParseOptions({bad}, p, help);
    ASSERT_TRUE(err.has_value()) << bad;
    EXPECT_THAT(*err, HasSubstr("must be 1..64")) << bad;
    EXPECT_THAT(*err, HasSubstr("for flag --io-threads")) << bad;
    EXPECT_EQ(p.io_threads, 2) << bad;
  }
  EXPECT_THAT(*ParseOptions({"--io-threads=two"}, o, help), HasSubstr("invalid value \"two\""));
  EXPECT_THAT(*ParseOptions({"--io-threads=2x"}, o, help), HasSubstr("invalid value"));
  EXPECT_THAT(*ParseOptions({"--io-threads"}, o, help), HasSubstr("needs an argument"));
}

TEST(Options, ParsesEveryForm) {
  Options o;
  bool help = false;
  auto err = ParseOptions(
      {"--secure-port=0", "--bind-address", "127.0.0.1", "--cluster-id=abc",
       "--max-requests-inflight", "3", "--request-timeout=1m30s", "--shutdown-grace-period=500ms",
       "--watch-start-timeout=2m",
       "--insecure-skip-tls-verify", "--requestheader-allowed-names=front-proxy-client, aggregator",
       "-v=4", "--claim-namespace", "claims"},
      o, help);
  ASSERT_FALSE(err.has_value()) << *err;
  EXPECT_EQ(o.secure_port, 0);
  EXPECT_EQ(o.bind_address, "127.0.0.1");
  EXPECT_EQ(o.cluster_id, "abc");
  EXPECT_EQ(o.max_requests_inflight, 3);
  EXPECT_EQ(o.request_timeout, std::chrono::seconds(90));
  EXPECT_EQ(o.watch_start_timeout, std::chrono::minutes(2));
  EXPECT_EQ(o.shutdown_grace_period, std::chrono::milliseconds(500));
  EXPECT_TRUE(o.insecure_skip_tls_verify);
  EXPECT_THAT(*o.requestheader_allowed_names, ElementsAre("front-proxy-client", "aggregator"));
  EXPECT_EQ(o.verbosity, 4);
  EXPECT_EQ(o.claim_namespace, "claims");
}

TEST(Options, Errors) {
  Options o;
  bool help = false;
  EXPECT_THAT(*ParseOptions({"--bogus"}, o, help), HasSubstr("unknown flag: --bogus"));
  EXPECT_THAT(*ParseOptions({"--secure-port=x"}, o, help), HasSubstr("invalid value"));
  EXPECT_THAT(*ParseOptions({"--kubeconfig"}, o, help), HasSubstr("needs an argument"));
  EXPECT_THAT(*ParseOptions({"--tls-cert-file=a"}, o, help), HasSubstr("together"));
  EXPECT_THAT(*ParseOptions({"--request-timeout=5x"}, o, help), HasSubstr("invalid duration"));
  EXPECT_FALSE(ParseOptions({"--help"}, o, help).has_value());
  EXPECT_TRUE(help);
}

TEST(Options, HelpListsEveryFlag) {
  std::string h = OptionsHelp();
  for (const char* f : {"--bind-address",
                        "--secure-port",
                        "--cert-dir",
                        "--tls-cert-file",
                        "--tls-private-key-file",
                        "--kubeconfig",
                        "--control-plane-kubeconfig",
                        "--spaces-host",
                        "--spaces-group",
                        "--control-plane-name",
                        "--token-file",
                        "--insecure-skip-tls-verify",
                        "--cluster-id",
                        "--claim-namespace",
                        "--service-namespace",
                        "--service-name",
                        "--api-file",
                        "--max-requests-inflight",
                        "--max-watches",
                        "--request-timeout",
                        "--watch-start-timeout",
                        "--shutdown-grace-period",
                        "--io-threads N",
                        "--v "}) {
    EXPECT_THAT(h, HasSubstr(f));
  }
}

TEST(Options, Durations) {
  EXPECT_EQ(ParseDuration("10"), std::chrono::seconds(10));
  EXPECT_EQ(ParseDuration("2h"), std::chrono::hours(2));
  EXPECT_EQ(ParseDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_FALSE(ParseDuration("").has_value());
  EXPECT_FALSE(ParseDuration("s").has_value());
}

}  // namespace
}  // namespace apiserver
