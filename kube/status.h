// metav1.Status errors with kube-apiserver's codes, reasons and messages
// (k8s.io/apimachinery/pkg/api/errors).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kube {

struct GroupResource {
  std::string group;
  std::string resource;
  // "resource.group", or "resource" for the core group (as errors.go prints it).
  std::string String() const;
};

struct StatusCause {
  std::string type;  // e.g. "FieldValueInvalid", "FieldValueRequired"
  std::string message;
  std::string field;
};

struct Status {
  int code = 500;
  std::string reason;  // metav1.StatusReason: "NotFound", "AlreadyExists", ...
  std::string message;
  // details
  std::string name;
  std::string group;
  std::string kind;  // the resource (plural) as kube puts it in details.kind
  std::vector<StatusCause> causes;
  std::optional<int> retry_after_seconds;
  // A stable token naming the place that produced a locally generated reply; it is logged in the
  // access log, never sent to the client (Envoy's "response code details").
  std::string details_token;

  // The JSON body: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}.
  std::string ToJson() const;
  // Parses a Status body returned by an API server; nullopt when it is not a Status.
  static std::optional<Status> FromJson(std::string_view body);
};

// Constructors mirroring k8s.io/apimachinery/pkg/api/errors.
Status NewNotFound(const GroupResource& gr, std::string_view name);
Status NewAlreadyExists(const GroupResource& gr, std::string_view name);
Status NewConflict(const GroupResource& gr, std::string_view name, std::string_view err);
Status NewInvalid(
    std::string_view kind_group, std::string_view name,
    std::vector<StatusCause> causes);  // kind_group e.g. "KubernetesCluster.k8s.starter.org"
Status NewBadRequest(std::string_view reason);
Status NewUnauthorized(std::string_view reason);
Status NewForbidden(const GroupResource& gr, std::string_view name, std::string_view err);
Status NewMethodNotSupported(const GroupResource& gr, std::string_view action);
Status NewGone(std::string_view message);             // 410 reason "Gone"
Status NewResourceExpired(std::string_view message);  // 410 reason "Expired"
Status NewRequestEntityTooLarge(std::string_view message);
Status NewUnsupportedMediaType(std::string_view content_type);
Status NewNotAcceptable(std::string_view message);                             // 406
Status NewServiceUnavailable(std::string_view reason);                         // 503
Status NewTimeout(std::string_view message, int retry_after_seconds);          // 504 "Timeout"
Status NewTooManyRequests(std::string_view message, int retry_after_seconds);  // 429
Status NewInternalError(std::string_view err);
Status NewRequestHeaderFieldsTooLarge();  // 431

}  // namespace kube
