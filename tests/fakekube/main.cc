// build/fakekube: a fake kube-apiserver for tests and the local demo (see README.md).
//
//   fakekube --bind-address 127.0.0.1 --secure-port 0 --write-kubeconfig PATH [--aggregator]
//            [--token-file F] [--policy-file F] [--data-file F] [--fixtures DIR] [--cert-dir D]
//            [--availability-interval SECONDS] [--anonymous-auth=false] [-v N]
//
// Prints "port: <n>" and "url: https://..." on stdout once serving; SIGTERM/SIGINT stop it.
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "tests/fakekube/server.h"

namespace {

void Usage(std::ostream& out) {
  out << "usage: fakekube [--bind-address ADDR] [--secure-port PORT] [--write-kubeconfig PATH]\n"
         "                [--aggregator] [--token-file FILE] [--policy-file FILE]\n"
         "                [--data-file FILE] [--fixtures DIR] [--cert-dir DIR]\n"
         "                [--availability-interval SECONDS] [--anonymous-auth=true|false]\n"
         "                [-v LEVEL]\n";
}

}  // namespace

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  fakekube::FakeKubeOptions opts;
  std::string kubeconfig;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) {
        std::cerr << "fakekube: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      Usage(std::cout);
      return 0;
    } else if (arg == "--bind-address") {
      opts.bind_address = next();
    } else if (arg == "--secure-port") {
      opts.port = static_cast<uint16_t>(std::stoi(next()));
    } else if (arg == "--write-kubeconfig") {
      kubeconfig = next();
    } else if (arg == "--aggregator") {
      opts.aggregator = !has_value || value == "true";
    } else if (arg == "--token-file") {
      opts.token_file = next();
    } else if (arg == "--policy-file") {
      opts.policy_file = next();
    } else if (arg == "--data-file") {
      opts.data_file = next();
    } else if (arg == "--fixtures") {
      opts.fixtures_dir = next();
    } else if (arg == "--cert-dir") {
      opts.cert_dir = next();
    } else if (arg == "--availability-interval") {
      opts.availability_interval =
          std::chrono::milliseconds(static_cast<int64_t>(std::stod(next()) * 1000));
    } else if (arg == "--anonymous-auth") {
      opts.anonymous_auth = !has_value || value == "true";
    } else if (arg == "-v" || arg == "--v") {
      FLAGS_v = std::stoi(next());
    } else {
      std::cerr << "fakekube: unknown flag " << argv[i] << "\n";
      Usage(std::cerr);
      return 2;
    }
  }

  // Block the stop signals before any thread starts, then wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  fakekube::FakeKube kube(opts);
  if (auto r = kube.Start(); !r.ok()) {
    std::cerr << "fakekube: " << r.error().message << "\n";
    return 1;
  }
  if (!kubeconfig.empty()) {
    if (auto r = kube.WriteKubeconfig(kubeconfig); !r.ok()) {
      std::cerr << "fakekube: writing kubeconfig: " << r.error().message << "\n";
      return 1;
    }
  }
  std::cout << "port: " << kube.port() << "\nurl: " << kube.url() << "\n";
  if (!kubeconfig.empty()) std::cout << "kubeconfig: " << kubeconfig << "\n";
  std::cout.flush();
  LOG(INFO) << "fakekube serving on " << kube.url() << (opts.aggregator ? " (aggregator)" : "");

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LOG(INFO) << "fakekube: signal " << sig << ", stopping";
  kube.Stop();
  return 0;
}
