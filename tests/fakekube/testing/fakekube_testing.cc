#include "tests/fakekube/testing/fakekube_testing.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "kube/json.h"

namespace fakekube::testing {

::testing::AssertionResult WaitForRequest(const FakeKube& kube, const RequestPredicate& pred,
                                          std::string_view what, std::chrono::milliseconds timeout,
                                          RecordedRequest* out) {
  if (kube.WaitForRequest(pred, timeout, out)) return ::testing::AssertionSuccess();
  std::ostringstream seen;
  auto all = kube.Requests();
  size_t start = all.size() > 20 ? all.size() - 20 : 0;
  for (size_t i = start; i < all.size(); ++i) {
    const auto& r = all[i];
    seen << "\n  " << r.method << " " << r.path << (r.raw_query.empty() ? "" : "?") << r.raw_query
         << " -> " << r.status << " (user " << r.user << ")";
  }
  return ::testing::AssertionFailure() << "no request matching \"" << what << "\" within "
                                       << timeout.count() << " ms; last requests:" << seen.str();
}

::testing::AssertionResult WaitForObject(const FakeKube& kube, std::string_view group,
                                         std::string_view resource, std::string_view ns,
                                         std::string_view name,
                                         const std::function<bool(const kube::json::Value*)>& pred,
                                         std::string_view what, std::chrono::milliseconds timeout) {
  if (kube.WaitForObject(group, resource, ns, name, pred, timeout)) {
    return ::testing::AssertionSuccess();
  }
  auto obj = kube.Get(group, resource, ns, name);
  return ::testing::AssertionFailure()
         << resource << "." << group << " " << ns << "/" << name << " never became \"" << what
         << "\" within " << timeout.count() << " ms; last state: "
         << (obj.ok() ? kube::json::Serialize(**obj) : "<absent: " + obj.error().message + ">");
}

std::string ConditionStatus(const kube::json::Value& obj, std::string_view type) {
  const kube::json::Value* conds = kube::json::FindPath(obj, "status.conditions");
  if (conds == nullptr || !conds->IsArray()) return "";
  for (const auto& c : conds->GetArray()) {
    if (kube::json::GetString(c, "type") == type) {
      return std::string(kube::json::GetString(c, "status"));
    }
  }
  return "";
}

::testing::AssertionResult WaitForCondition(const FakeKube& kube, std::string_view group,
                                            std::string_view resource, std::string_view ns,
                                            std::string_view name, std::string_view type,
                                            std::string_view status,
                                            std::chrono::milliseconds timeout) {
  std::string t(type), s(status);
  return WaitForObject(
      kube, group, resource, ns, name,
      [&](const kube::json::Value* obj) { return obj && ConditionStatus(*obj, t) == s; },
      "condition " + t + "=" + s, timeout);
}

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  std::string full = command + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "fakekube-test-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  path_ = p ? std::string(p) : std::string();
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Kubectl::Kubectl(std::string kubeconfig, std::string cache_dir)
    : kubeconfig_(std::move(kubeconfig)), cache_dir_(std::move(cache_dir)) {}

CommandResult Kubectl::Run(std::string_view args) const {
  return RunCommand("kubectl --kubeconfig '" + kubeconfig_ + "' --cache-dir '" + cache_dir_ + "' " +
                    std::string(args));
}

}  // namespace fakekube::testing
