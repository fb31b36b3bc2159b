// Content negotiation for proxied requests: which representation to ask the control plane for
// (Accept) and how a request body is encoded (Content-Type).
#pragma once

#include <string>
#include <string_view>

#include "kube/result.h"

namespace proxy {

// What the response body holds, as the translator must read it.
enum class Representation { kObject, kTable, kPartialObjectMetadata, kPartialObjectMetadataList };

struct Negotiated {
  Representation representation = Representation::kObject;
  std::string upstream_accept;  // the Accept header to send to the control plane
};

// Picks the first (highest q) media range we can serve as JSON. Protobuf and other types are
// skipped when a JSON alternative is listed; nothing acceptable -> 406 NotAcceptable with kube's
// message. An empty header means JSON.
kube::Result<Negotiated> NegotiateAccept(std::string_view accept);

enum class BodyType { kJson, kYaml, kMergePatch, kJsonPatch, kApplyPatch };

// Request Content-Type for the verb: create/update accept JSON (and YAML, converted to JSON);
// patch accepts json-patch, merge-patch and apply-patch+yaml (strategic merge patch is not
// supported for custom resources, as kube-apiserver answers). Others -> 415.
kube::Result<BodyType> CheckContentType(std::string_view verb, std::string_view content_type);

// Media type without parameters, lower-cased: "application/json".
std::string MediaType(std::string_view header_value);

}  // namespace proxy
