// Server-side printing (meta.k8s.io Table) as kube-apiserver's table convertors do it
// (apiextensions-apiserver pkg/registry/customresource/tableconvertor for CRs, the internal
// printers for built-ins), PartialObjectMetadata, and the small JSONPath evaluator the printer
// columns need (k8s.io/client-go/util/jsonpath subset: fields, ['quoted'], [n], [*],
// [?(@.a.b=='x')] / != / existence filters).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/api_resource.h"
#include "kube/json.h"

namespace fakekube {

// Evaluates a kube JSONPath (".status.conditions[?(@.type=='Ready')].status", optionally in
// braces) on `obj`. Returns the matching values (empty when the path selects nothing).
std::vector<const kube::json::Value*> EvalJsonPath(const kube::json::Value& obj,
                                                   std::string_view path);

// apimachinery duration.HumanDuration ("5s", "3m20s", "2d4h", ...).
std::string HumanDuration(std::chrono::seconds d);

enum class IncludeObject { kNone, kMetadata, kObject };

struct TableOptions {
  IncludeObject include = IncludeObject::kMetadata;
  bool no_headers = false;  // columnDefinitions omitted (watch events after the first)
  std::string api_version = "meta.k8s.io/v1";  // or meta.k8s.io/v1beta1
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

// The column definitions: Name first, then the resource's printer columns.
kube::json::Value ColumnDefinitions(const kube::APIResource& r, kube::json::Allocator& a);

// One Table row for `obj` ({"cells": [...], "object": ...}).
kube::json::Value TableRow(const kube::APIResource& r, const kube::json::Value& obj,
                           const TableOptions& opts, kube::json::Allocator& a);

// A whole Table (list metadata copied from the arguments).
kube::json::Document RenderTable(const kube::APIResource& r,
                                 const std::vector<const kube::json::Value*>& objects,
                                 const TableOptions& opts, std::string_view resource_version,
                                 std::string_view continue_token = {},
                                 std::optional<int64_t> remaining_item_count = std::nullopt);

// {"kind":"PartialObjectMetadata","apiVersion":<api_version>,"metadata":{...}}.
kube::json::Value PartialObjectMetadata(const kube::json::Value& obj, kube::json::Allocator& a,
                                        std::string_view api_version = "meta.k8s.io/v1");

}  // namespace fakekube
