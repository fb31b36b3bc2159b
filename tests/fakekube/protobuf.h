// Decoding of the Kubernetes protobuf envelope ("k8s\0" + runtime.Unknown) for the few built-in
// types kubectl sends as protobuf (`kubectl create namespace|secret|configmap`). Responses are
// always JSON (clients that send protobuf also accept JSON).
#pragma once

#include <string_view>

#include "kube/json.h"
#include "kube/result.h"

namespace fakekube {

// Decodes a protobuf request body into the JSON object kube would have decoded. 415-style errors
// (as a BadRequest) for kinds fakekube cannot decode.
kube::Result<kube::json::Document> DecodeProtobuf(std::string_view body);

}  // namespace fakekube
