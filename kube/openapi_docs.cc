#include "kube/openapi_docs.h"

#include <cctype>
#include <set>

namespace kube::openapi {
namespace {

using json::Allocator;
using json::Value;

constexpr std::string_view kObjectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
constexpr std::string_view kListMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
constexpr std::string_view kStatus = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
constexpr std::string_view kDeleteOptions = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
constexpr std::string_view kPatch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
constexpr std::string_view kWatchEvent = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
constexpr std::string_view kScale = "io.k8s.api.autoscaling.v1.Scale";

constexpr std::string_view kApiVersionDesc =
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#resources";
constexpr std::string_view kKindDesc =
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#types-kinds";
constexpr std::string_view kMetadataDesc =
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

// Which dialect we are writing: swagger 2.0 or OpenAPI 3.0.
struct Dialect {
  bool v3 = false;
  std::string Ref(std::string_view name) const {
    return std::string(v3 ? "#/components/schemas/" : "#/definitions/") + std::string(name);
  }
};

Value S(std::string_view s, Allocator& a) { return json::Str(s, a); }

Value Obj() { return Value(rapidjson::kObjectType); }
Value Arr() { return Value(rapidjson::kArrayType); }

void Put(Value& obj, std::string_view key, Value v, Allocator& a) {
  json::SetMember(obj, key, std::move(v), a);
}
void PutS(Value& obj, std::string_view key, std::string_view v, Allocator& a) {
  json::SetString(obj, key, v, a);
}

Value RefSchema(const Dialect& d, std::string_view name, Allocator& a) {
  Value v = Obj();
  PutS(v, "$ref", d.Ref(name), a);
  return v;
}

Value TypeSchema(std::string_view type, std::string_view description, Allocator& a,
                 std::string_view format = {}) {
  Value v = Obj();
  if (!description.empty()) PutS(v, "description", description, a);
  PutS(v, "type", type, a);
  if (!format.empty()) PutS(v, "format", format, a);
  return v;
}

Value StringArray(std::initializer_list<std::string_view> items, Allocator& a) {
  Value v = Arr();
  for (auto s : items) v.PushBack(S(s, a), a);
  return v;
}

Value GVK(std::string_view group, std::string_view version, std::string_view kind, Allocator& a) {
  Value v = Obj();
  PutS(v, "group", group, a);
  PutS(v, "kind", kind, a);
  PutS(v, "version", version, a);
  return v;
}

Value GVKArray(std::string_view group, std::string_view version, std::string_view kind,
               Allocator& a) {
  Value arr = Arr();
  arr.PushBack(GVK(group, version, kind, a), a);
  return arr;
}

// Swagger 2.0 has no nullable/oneOf/anyOf/not: kube drops them when publishing v2.
void StripForV2(Value& v) {
  if (v.IsObject()) {
    for (std::string_view k : {"nullable", "oneOf", "anyOf", "not"}) json::RemoveMember(v, k);
    for (auto& m : v.GetObject()) StripForV2(m.value);
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) StripForV2(e);
  }
}

// The kind's schema: the CRD's openAPIV3Schema with metadata replaced by ObjectMeta and the
// standard apiVersion/kind descriptions.
Value KindSchema(const APIResource& r, const Dialect& d, Allocator& a) {
  Value schema;
  if (r.schema && r.schema->IsObject()) {
    schema.CopyFrom(*r.schema, a);
  } else {
    schema = Obj();
    PutS(schema, "type", "object", a);
    Put(schema, "x-kubernetes-preserve-unknown-fields", Value(true), a);
  }
  if (!d.v3) StripForV2(schema);
  if (!json::Find(schema, "type")) PutS(schema, "type", "object", a);
  Value& props = json::EnsureObject(schema, "properties", a);
  Value api_version = TypeSchema("string", kApiVersionDesc, a);
  Value kind = TypeSchema("string", kKindDesc, a);
  if (Value* old = json::Find(props, "apiVersion"); old && json::Find(*old, "description")) {
    api_version.CopyFrom(*old, a);
  }
  if (Value* old = json::Find(props, "kind"); old && json::Find(*old, "description")) {
    kind.CopyFrom(*old, a);
  }
  Put(props, "apiVersion", std::move(api_version), a);
  Put(props, "kind", std::move(kind), a);
  Value meta = Obj();
  if (d.v3) {
    Value all_of = Arr();
    all_of.PushBack(RefSchema(d, kObjectMeta, a), a);
    Put(meta, "allOf", std::move(all_of), a);
    PutS(meta, "description", kMetadataDesc, a);
  } else {
    meta = RefSchema(d, kObjectMeta, a);
  }
  Put(props, "metadata", std::move(meta), a);
  Put(schema, "x-kubernetes-group-version-kind", GVKArray(r.group, r.version, r.kind, a), a);
  return schema;
}

Value ListSchema(const APIResource& r, const Dialect& d, Allocator& a) {
  Value schema = Obj();
  PutS(schema, "description", r.list_kind + " is a list of " + r.kind, a);
  Put(schema, "required", StringArray({"items"}, a), a);
  PutS(schema, "type", "object", a);
  Value props = Obj();
  Put(props, "apiVersion", TypeSchema("string", kApiVersionDesc, a), a);
  Value items = Obj();
  PutS(items, "description",
       "List of " + r.resource +
           ". More info: "
           "https://git.k8s.io/community/contributors/devel/"
           "sig-architecture/api-conventions.md",
       a);
  PutS(items, "type", "array", a);
  Put(items, "items", RefSchema(d, DefinitionName(r.group, r.version, r.kind), a), a);
  Put(props, "items", std::move(items), a);
  Put(props, "kind", TypeSchema("string", kKindDesc, a), a);
  Value meta = Obj();
  if (d.v3) {
    Value all_of = Arr();
    all_of.PushBack(RefSchema(d, kListMeta, a), a);
    Put(meta, "allOf", std::move(all_of), a);
    PutS(meta, "description", "Standard list metadata.", a);
  } else {
    meta = RefSchema(d, kListMeta, a);
  }
  Put(props, "metadata", std::move(meta), a);
  Put(schema, "properties", std::move(props), a);
  std::string list_kind = r.list_kind.empty() ? r.kind + "List" : r.list_kind;
  Put(schema, "x-kubernetes-group-version-kind", GVKArray(r.group, r.version, list_kind, a), a);
  return schema;
}

Value StringMap(std::string_view description, Allocator& a) {
  Value v = TypeSchema("object", description, a);
  Put(v, "additionalProperties", TypeSchema("string", "", a), a);
  return v;
}

Value StringList(std::string_view description, Allocator& a) {
  Value v = TypeSchema("array", description, a);
  Put(v, "items", TypeSchema("string", "", a), a);
  return v;
}

// The metav1 types every resource references, in a compact but faithful form.
void AddMetaDefinitions(Value& defs, const Dialect& d, bool with_scale, Allocator& a) {
  {
    Value owner = TypeSchema("object",
                             "OwnerReference contains enough information to let you "
                             "identify an owning object.",
                             a);
    Value p = Obj();
    Put(p, "apiVersion", TypeSchema("string", "API version of the referent.", a), a);
    Put(p, "blockOwnerDeletion",
        TypeSchema("boolean",
                   "If true, the owner cannot be deleted "
                   "before this reference is removed.",
                   a),
        a);
    Put(p, "controller",
        TypeSchema("boolean",
                   "If true, this reference points to the managing "
                   "controller.",
                   a),
        a);
    Put(p, "kind", TypeSchema("string", "Kind of the referent.", a), a);
    Put(p, "name", TypeSchema("string", "Name of the referent.", a), a);
    Put(p, "uid", TypeSchema("string", "UID of the referent.", a), a);
    Put(owner, "properties", std::move(p), a);
    Put(owner, "required", StringArray({"apiVersion", "kind", "name", "uid"}, a), a);
    Value managed = TypeSchema("object",
                               "ManagedFieldsEntry is a workflow-id, a FieldSet and "
                               "the group version of the resource that the fieldset applies to.",
                               a);
    Value mp = Obj();
    Put(mp, "apiVersion", TypeSchema("string", "APIVersion of the fields.", a), a);
    Put(mp, "fieldsType", TypeSchema("string", "The format of fieldsV1: \"FieldsV1\".", a), a);
    Put(mp, "fieldsV1", TypeSchema("object", "The set of fields.", a), a);
    Put(mp, "manager", TypeSchema("string", "The workflow managing these fields.", a), a);
    Put(mp, "operation", TypeSchema("string", "Apply or Update.", a), a);
    Put(mp, "subresource", TypeSchema("string", "The subresource used to update the object.", a),
        a);
    Put(mp, "time", TypeSchema("string", "When the entry was last changed.", a, "date-time"), a);
    Put(managed, "properties", std::move(mp), a);

    Value meta = TypeSchema("object",
                            "ObjectMeta is metadata that all persisted resources "
                            "must have, which includes all objects users must create.",
                            a);
    Value p2 = Obj();
    Put(p2, "annotations",
        StringMap("Annotations is an unstructured key value map stored with "
                  "a resource.",
                  a),
        a);
    Put(p2, "creationTimestamp",
        TypeSchema("string",
                   "CreationTimestamp is a timestamp "
                   "representing the server time when this object was "
                   "created.",
                   a, "date-time"),
        a);
    Put(p2, "deletionGracePeriodSeconds",
        TypeSchema("integer",
                   "Number of seconds allowed for "
                   "this object to gracefully terminate.",
                   a, "int64"),
        a);
    Put(p2, "deletionTimestamp",
        TypeSchema("string",
                   "DeletionTimestamp is RFC 3339 date and "
                   "time at which this resource will be deleted.",
                   a, "date-time"),
        a);
    Put(p2, "finalizers",
        StringList("Must be empty before the object is deleted from the "
                   "registry.",
                   a),
        a);
    Put(p2, "generateName",
        TypeSchema("string",
                   "GenerateName is an optional prefix, used by "
                   "the server, to generate a unique name.",
                   a),
        a);
    Put(p2, "generation",
        TypeSchema("integer",
                   "A sequence number representing a specific "
                   "generation of the desired state.",
                   a, "int64"),
        a);
    Put(p2, "labels",
        StringMap("Map of string keys and values that can be used to organize "
                  "and categorize (scope and select) objects.",
                  a),
        a);
    Value mf = TypeSchema("array",
                          "ManagedFields maps workflow-id and version to the set of "
                          "fields that are managed by that workflow.",
                          a);
    Put(mf, "items", std::move(managed), a);
    Put(p2, "managedFields", std::move(mf), a);
    Put(p2, "name", TypeSchema("string", "Name must be unique within a namespace.", a), a);
    Put(p2, "namespace",
        TypeSchema("string",
                   "Namespace defines the space within which each "
                   "name must be unique.",
                   a),
        a);
    Value owners = TypeSchema("array", "List of objects depended by this object.", a);
    Put(owners, "items", std::move(owner), a);
    Put(p2, "ownerReferences", std::move(owners), a);
    Put(p2, "resourceVersion",
        TypeSchema("string",
                   "An opaque value that represents the "
                   "internal version of this object.",
                   a),
        a);
    Put(p2, "selfLink",
        TypeSchema("string",
                   "Deprecated: selfLink is a legacy read-only "
                   "field that is no longer populated by the system.",
                   a),
        a);
    Put(p2, "uid",
        TypeSchema("string",
                   "UID is the unique in time and space value for this "
                   "object.",
                   a),
        a);
    Put(meta, "properties", std::move(p2), a);
    Put(defs, kObjectMeta, std::move(meta), a);
  }
  {
    Value list_meta = TypeSchema("object",
                                 "ListMeta describes metadata that synthetic "
                                 "resources must have, including lists and various status "
                                 "objects.",
                                 a);
    Value p = Obj();
    Put(p, "continue",
        TypeSchema("string",
                   "continue may be set if the user set a limit on "
                   "the number of items returned.",
                   a),
        a);
    Put(p, "remainingItemCount",
        TypeSchema("integer",
                   "The number of subsequent items in the "
                   "list which are not included in this list response.",
                   a, "int64"),
        a);
    Put(p, "resourceVersion",
        TypeSchema("string",
                   "String that identifies the server's "
                   "internal version of this object.",
                   a),
        a);
    Put(p, "selfLink", TypeSchema("string", "Deprecated.", a), a);
    Put(list_meta, "properties", std::move(p), a);
    Put(defs, kListMeta, std::move(list_meta), a);
  }
  {
    Value status = TypeSchema("object",
                              "Status is a return value for calls that don't return "
                              "other objects.",
                              a);
    Value p = Obj();
    Put(p, "apiVersion", TypeSchema("string", kApiVersionDesc, a), a);
    Put(p, "code", TypeSchema("integer", "Suggested HTTP return code for this status.", a, "int32"),
        a);
    Put(p, "details", TypeSchema("object", "Extended data associated with the reason.", a), a);
    Put(p, "kind", TypeSchema("string", kKindDesc, a), a);
    Put(p, "message",
        TypeSchema("string",
                   "A human-readable description of the status of "
                   "this operation.",
                   a),
        a);
    Put(p, "metadata", RefSchema(d, kListMeta, a), a);
    Put(p, "reason",
        TypeSchema("string",
                   "A machine-readable description of why this "
                   "operation is in the \"Failure\" status.",
                   a),
        a);
    Put(p, "status",
        TypeSchema("string",
                   "Status of the operation. One of: \"Success\" or "
                   "\"Failure\".",
                   a),
        a);
    Put(status, "properties", std::move(p), a);
    Put(status, "x-kubernetes-group-version-kind", GVKArray("", "v1", "Status", a), a);
    Put(defs, kStatus, std::move(status), a);
  }
  {
    Value del = TypeSchema("object",
                           "DeleteOptions may be provided when deleting an API "
                           "object.",
                           a);
    Value p = Obj();
    Put(p, "apiVersion", TypeSchema("string", kApiVersionDesc, a), a);
    Put(p, "dryRun",
        StringList("When present, indicates that modifications should not be "
                   "persisted.",
                   a),
        a);
    Put(p, "gracePeriodSeconds",
        TypeSchema("integer",
                   "The duration in seconds before the "
                   "object should be deleted.",
                   a, "int64"),
        a);
    Put(p, "kind", TypeSchema("string", kKindDesc, a), a);
    Put(p, "preconditions",
        TypeSchema("object",
                   "Must be fulfilled before a deletion is "
                   "carried out.",
                   a),
        a);
    Put(p, "propagationPolicy",
        TypeSchema("string",
                   "Whether and how garbage collection will "
                   "be performed.",
                   a),
        a);
    Put(del, "properties", std::move(p), a);
    Put(defs, kDeleteOptions, std::move(del), a);
  }
  Put(defs, kPatch,
      TypeSchema("object",
                 "Patch is provided to give a concrete name and type "
                 "to the Kubernetes PATCH request body.",
                 a),
      a);
  {
    Value ev = TypeSchema("object", "Event represents a single event to a watched resource.", a);
    Value p = Obj();
    Put(p, "object", TypeSchema("object", "Object is the object of the event.", a), a);
    Put(p, "type", TypeSchema("string", "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.", a), a);
    Put(ev, "properties", std::move(p), a);
    Put(ev, "required", StringArray({"type", "object"}, a), a);
    Put(defs, kWatchEvent, std::move(ev), a);
  }
  if (with_scale) {
    Value scale = TypeSchema("object", "Scale represents a scaling request for a resource.", a);
    Value p = Obj();
    Put(p, "apiVersion", TypeSchema("string", kApiVersionDesc, a), a);
    Put(p, "kind", TypeSchema("string", kKindDesc, a), a);
    Put(p, "metadata", RefSchema(d, kObjectMeta, a), a);
    Value spec = TypeSchema("object",
                            "ScaleSpec describes the attributes of a scale "
                            "subresource.",
                            a);
    Value sp = Obj();
    Put(sp, "replicas", TypeSchema("integer", "Desired number of instances.", a, "int32"), a);
    Put(spec, "properties", std::move(sp), a);
    Put(p, "spec", std::move(spec), a);
    Value st = TypeSchema("object",
                          "ScaleStatus represents the current status of a scale "
                          "subresource.",
                          a);
    Value stp = Obj();
    Put(stp, "replicas", TypeSchema("integer", "Actual number of observed instances.", a, "int32"),
        a);
    Put(stp, "selector", TypeSchema("string", "Label query over pods.", a), a);
    Put(st, "properties", std::move(stp), a);
    Put(p, "status", std::move(st), a);
    Put(scale, "properties", std::move(p), a);
    Put(scale, "x-kubernetes-group-version-kind", GVKArray("autoscaling", "v1", "Scale", a), a);
    Put(defs, kScale, std::move(scale), a);
  }
}

std::string Camel(std::string_view s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '.' || c == '-') {
      up = true;
      continue;
    }
    out.push_back(up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
    up = false;
  }
  return out;
}

std::string GroupVersionId(const APIResource& r) {
  return (r.group.empty() ? std::string("Core") : Camel(r.group)) + Camel(r.version);
}

std::string Tag(const APIResource& r) {
  std::string g = r.group.empty() ? "core" : Camel(r.group);
  if (!g.empty()) g[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(g[0])));
  return g + "_" + r.version;
}

Value Param(const Dialect& d, std::string_view name, std::string_view in,
            std::string_view description, std::string_view type, bool required, Allocator& a) {
  Value p = Obj();
  PutS(p, "name", name, a);
  PutS(p, "in", in, a);
  PutS(p, "description", description, a);
  if (required) Put(p, "required", Value(true), a);
  if (d.v3) {
    Value schema = Obj();
    PutS(schema, "type", type, a);
    Put(schema, "uniqueItems", Value(true), a);
    Put(p, "schema", std::move(schema), a);
  } else {
    PutS(p, "type", type, a);
    Put(p, "uniqueItems", Value(true), a);
  }
  return p;
}

enum class Op { kList, kCreate, kDeleteCollection, kRead, kReplace, kPatch, kDelete };

struct OpSpec {
  Op op;
  std::string_view method;
  std::string_view action;   // x-kubernetes-action
  std::string_view verb_id;  // operationId prefix
};

void AddQueryParams(Value& params, const Dialect& d, Op op, Allocator& a) {
  auto q = [&](std::string_view name, std::string_view desc, std::string_view type) {
    params.PushBack(Param(d, name, "query", desc, type, false, a), a);
  };
  switch (op) {
    case Op::kList:
    case Op::kDeleteCollection:
      q("allowWatchBookmarks",
        "allowWatchBookmarks requests watch events with type "
        "\"BOOKMARK\".",
        "boolean");
      q("continue",
        "The continue option should be set when retrieving more results from the "
        "server.",
        "string");
      q("fieldSelector",
        "A selector to restrict the list of returned objects by their "
        "fields.",
        "string");
      q("labelSelector",
        "A selector to restrict the list of returned objects by their "
        "labels.",
        "string");
      q("limit", "limit is a maximum number of responses to return for a list call.", "integer");
      q("resourceVersion",
        "resourceVersion sets a constraint on what resource versions a "
        "request may be served from.",
        "string");
      q("resourceVersionMatch",
        "resourceVersionMatch determines how resourceVersion is "
        "applied to list calls.",
        "string");
      q("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`.",
        "boolean");
      q("timeoutSeconds", "Timeout for the list/watch call.", "integer");
      if (op == Op::kList) {
        q("watch",
          "Watch for changes to the described resources and return them as a stream "
          "of add, update, and remove notifications.",
          "boolean");
      } else {
        q("dryRun", "When present, indicates that modifications should not be persisted.",
          "string");
        q("gracePeriodSeconds", "The duration in seconds before the object should be deleted.",
          "integer");
        q("propagationPolicy", "Whether and how garbage collection will be performed.", "string");
      }
      break;
    case Op::kCreate:
    case Op::kReplace:
    case Op::kPatch:
      q("dryRun", "When present, indicates that modifications should not be persisted.", "string");
      q("fieldManager",
        "fieldManager is a name associated with the actor or entity that is "
        "making these changes.",
        "string");
      q("fieldValidation",
        "fieldValidation instructs the server on how to handle objects in "
        "the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, "
        "Strict.",
        "string");
      if (op == Op::kPatch) {
        q("force", "Force is going to \"force\" Apply requests.", "boolean");
      }
      break;
    case Op::kDelete:
      q("dryRun", "When present, indicates that modifications should not be persisted.", "string");
      q("gracePeriodSeconds", "The duration in seconds before the object should be deleted.",
        "integer");
      q("propagationPolicy", "Whether and how garbage collection will be performed.", "string");
      break;
    case Op::kRead:
      q("resourceVersion",
        "resourceVersion sets a constraint on what resource versions a "
        "request may be served from.",
        "string");
      break;
  }
}

Value Response(const Dialect& d, std::string_view description, std::string_view schema_name,
               Allocator& a) {
  Value resp = Obj();
  PutS(resp, "description", description, a);
  if (d.v3) {
    Value content = Obj();
    for (std::string_view mt : {"application/json", "application/yaml"}) {
      Value m = Obj();
      Put(m, "schema", RefSchema(d, schema_name, a), a);
      Put(content, mt, std::move(m), a);
    }
    Put(resp, "content", std::move(content), a);
  } else {
    Put(resp, "schema", RefSchema(d, schema_name, a), a);
  }
  return resp;
}

Value Operation(const APIResource& r, const Dialect& d, const OpSpec& spec, bool all_namespaces,
                std::string_view subresource, Allocator& a) {
  std::string kind_def = DefinitionName(r.group, r.version, r.kind);
  std::string list_kind = r.list_kind.empty() ? r.kind + "List" : r.list_kind;
  std::string list_def = DefinitionName(r.group, r.version, list_kind);
  bool scale = subresource == "scale";
  std::string object_def = scale ? std::string(kScale) : kind_def;

  Value op = Obj();
  std::string what = subresource.empty() ? "the specified " + r.kind
                                         : std::string(subresource) + " of the specified " + r.kind;
  std::string description;
  switch (spec.op) {
    case Op::kList:
      description = "list or watch objects of kind " + r.kind;
      break;
    case Op::kCreate:
      description = "create a " + r.kind;
      break;
    case Op::kDeleteCollection:
      description = "delete collection of " + r.kind;
      break;
    case Op::kRead:
      description = "read " + what;
      break;
    case Op::kReplace:
      description = "replace " + what;
      break;
    case Op::kPatch:
      description = "partially update " + what;
      break;
    case Op::kDelete:
      description = "delete a " + r.kind;
      break;
  }
  PutS(op, "description", description, a);
  if (!d.v3) {
    if (spec.op == Op::kPatch) {
      Put(op, "consumes",
          StringArray({"application/json-patch+json", "application/merge-patch+json",
                       "application/apply-patch+yaml"},
                      a),
          a);
    } else {
      Put(op, "consumes", StringArray({"*/*"}, a), a);
    }
    if (spec.op == Op::kList) {
      Put(op, "produces",
          StringArray({"application/json", "application/yaml", "application/json;stream=watch"}, a),
          a);
    } else {
      Put(op, "produces", StringArray({"application/json", "application/yaml"}, a), a);
    }
    Put(op, "schemes", StringArray({"https"}, a), a);
  }
  Value tags = Arr();
  tags.PushBack(S(Tag(r), a), a);
  Put(op, "tags", std::move(tags), a);
  std::string id = std::string(spec.verb_id) + GroupVersionId(r) +
                   (r.namespaced && !all_namespaces ? "Namespaced" : "") + r.kind +
                   (all_namespaces ? "ForAllNamespaces" : "") + Camel(subresource);
  PutS(op, "operationId", id, a);

  Value params = Arr();
  AddQueryParams(params, d, spec.op, a);
  bool has_body = spec.op == Op::kCreate || spec.op == Op::kReplace || spec.op == Op::kPatch;
  std::string body_def = spec.op == Op::kPatch ? std::string(kPatch) : object_def;
  if (has_body && !d.v3) {
    Value body = Obj();
    PutS(body, "name", "body", a);
    PutS(body, "in", "body", a);
    Put(body, "required", Value(true), a);
    Put(body, "schema", RefSchema(d, body_def, a), a);
    params.PushBack(std::move(body), a);
  }
  if (spec.op == Op::kDelete || spec.op == Op::kDeleteCollection) {
    if (!d.v3) {
      Value body = Obj();
      PutS(body, "name", "body", a);
      PutS(body, "in", "body", a);
      Put(body, "schema", RefSchema(d, kDeleteOptions, a), a);
      params.PushBack(std::move(body), a);
    }
  }
  Put(op, "parameters", std::move(params), a);
  if (d.v3 && (has_body || spec.op == Op::kDelete || spec.op == Op::kDeleteCollection)) {
    Value rb = Obj();
    Value content = Obj();
    std::vector<std::string_view> media;
    if (spec.op == Op::kPatch) {
      media = {"application/json-patch+json", "application/merge-patch+json",
               "application/apply-patch+yaml"};
    } else {
      media = {"*/*"};
    }
    for (auto mt : media) {
      Value m = Obj();
      Put(m, "schema", RefSchema(d, has_body ? std::string_view(body_def) : kDeleteOptions, a), a);
      Put(content, mt, std::move(m), a);
    }
    Put(rb, "content", std::move(content), a);
    if (has_body) Put(rb, "required", Value(true), a);
    Put(op, "requestBody", std::move(rb), a);
  }

  Value responses = Obj();
  switch (spec.op) {
    case Op::kList:
      Put(responses, "200", Response(d, "OK", list_def, a), a);
      break;
    case Op::kCreate:
      Put(responses, "200", Response(d, "OK", object_def, a), a);
      Put(responses, "201", Response(d, "Created", object_def, a), a);
      Put(responses, "202", Response(d, "Accepted", object_def, a), a);
      break;
    case Op::kReplace:
    case Op::kPatch:
      Put(responses, "200", Response(d, "OK", object_def, a), a);
      Put(responses, "201", Response(d, "Created", object_def, a), a);
      break;
    case Op::kRead:
      Put(responses, "200", Response(d, "OK", object_def, a), a);
      break;
    case Op::kDelete:
      Put(responses, "200", Response(d, "OK", kStatus, a), a);
      Put(responses, "202", Response(d, "Accepted", kStatus, a), a);
      break;
    case Op::kDeleteCollection:
      Put(responses, "200", Response(d, "OK", kStatus, a), a);
      break;
  }
  Value unauthorized = Obj();
  PutS(unauthorized, "description", "Unauthorized", a);
  Put(responses, "401", std::move(unauthorized), a);
  Put(op, "responses", std::move(responses), a);
  PutS(op, "x-kubernetes-action", spec.action, a);
  if (scale) {
    Put(op, "x-kubernetes-group-version-kind", GVK("autoscaling", "v1", "Scale", a), a);
  } else {
    Put(op, "x-kubernetes-group-version-kind",
        GVK(r.group, r.version, spec.op == Op::kList ? r.kind : r.kind, a), a);
  }
  return op;
}

bool HasVerb(const APIResource& r, std::string_view verb) {
  for (const auto& v : r.verbs) {
    if (v == verb) return true;
  }
  return false;
}

std::string_view MethodKey(std::string_view method) { return method; }

void AddPathParams(Value& path_item, const Dialect& d, bool name, bool ns, Allocator& a) {
  Value params = Arr();
  if (name) {
    params.PushBack(Param(d, "name", "path", "name of the resource", "string", true, a), a);
  }
  if (ns) {
    params.PushBack(Param(d, "namespace", "path",
                          "object name and auth scope, such as for "
                          "teams and projects",
                          "string", true, a),
                    a);
  }
  params.PushBack(Param(d, "pretty", "query", "If 'true', then the output is pretty printed.",
                        "string", false, a),
                  a);
  Put(path_item, "parameters", std::move(params), a);
}

void AddPaths(Value& paths, const APIResource& r, const Dialect& d, Allocator& a) {
  std::string base = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  std::string collection = base + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.resource;
  std::string item = collection + "/{name}";

  const OpSpec list{Op::kList, "get", "list", "list"};
  const OpSpec create{Op::kCreate, "post", "post", "create"};
  const OpSpec delete_collection{Op::kDeleteCollection, "delete", "deletecollection",
                                 "deleteCollection"};
  const OpSpec read{Op::kRead, "get", "get", "read"};
  const OpSpec replace{Op::kReplace, "put", "put", "replace"};
  const OpSpec patch{Op::kPatch, "patch", "patch", "patch"};
  const OpSpec del{Op::kDelete, "delete", "delete", "delete"};

  {
    Value pi = Obj();
    if (HasVerb(r, "list")) Put(pi, MethodKey("get"), Operation(r, d, list, false, "", a), a);
    if (HasVerb(r, "create")) Put(pi, "post", Operation(r, d, create, false, "", a), a);
    if (HasVerb(r, "deletecollection")) {
      Put(pi, "delete", Operation(r, d, delete_collection, false, "", a), a);
    }
    if (pi.MemberCount() > 0) {
      AddPathParams(pi, d, false, r.namespaced, a);
      Put(paths, collection, std::move(pi), a);
    }
  }
  {
    Value pi = Obj();
    if (HasVerb(r, "get")) Put(pi, "get", Operation(r, d, read, false, "", a), a);
    if (HasVerb(r, "update")) Put(pi, "put", Operation(r, d, replace, false, "", a), a);
    if (HasVerb(r, "patch")) Put(pi, "patch", Operation(r, d, patch, false, "", a), a);
    if (HasVerb(r, "delete")) Put(pi, "delete", Operation(r, d, del, false, "", a), a);
    if (pi.MemberCount() > 0) {
      AddPathParams(pi, d, true, r.namespaced, a);
      Put(paths, item, std::move(pi), a);
    }
  }
  for (std::string_view sub : {"status", "scale"}) {
    if (sub == "status" ? !r.has_status : !r.has_scale) continue;
    Value pi = Obj();
    Put(pi, "get", Operation(r, d, read, false, sub, a), a);
    Put(pi, "put", Operation(r, d, replace, false, sub, a), a);
    Put(pi, "patch", Operation(r, d, patch, false, sub, a), a);
    AddPathParams(pi, d, true, r.namespaced, a);
    Put(paths, item + "/" + std::string(sub), std::move(pi), a);
  }
  if (r.namespaced && HasVerb(r, "list")) {
    Value pi = Obj();
    Put(pi, "get", Operation(r, d, list, true, "", a), a);
    AddPathParams(pi, d, false, false, a);
    Put(paths, base + "/" + r.resource, std::move(pi), a);
  }
}

Value InfoValue(const Info& info, Allocator& a) {
  Value v = Obj();
  PutS(v, "title", info.title, a);
  PutS(v, "version", info.version, a);
  return v;
}

Value Security(Allocator& a) {
  Value sec = Arr();
  Value bt = Obj();
  Put(bt, "BearerToken", Arr(), a);
  sec.PushBack(std::move(bt), a);
  return sec;
}

Value SecurityScheme(const Dialect& d, Allocator& a) {
  Value schemes = Obj();
  Value bt = Obj();
  PutS(bt, "description", "Bearer Token authentication", a);
  PutS(bt, "type", "apiKey", a);
  PutS(bt, "name", "authorization", a);
  PutS(bt, "in", "header", a);
  Put(schemes, "BearerToken", std::move(bt), a);
  return schemes;
}

void AddDefinitions(Value& defs, const std::vector<const APIResource*>& resources, const Dialect& d,
                    Allocator& a) {
  bool with_scale = false;
  for (const APIResource* r : resources) {
    with_scale = with_scale || r->has_scale;
    Put(defs, DefinitionName(r->group, r->version, r->kind), KindSchema(*r, d, a), a);
    std::string list_kind = r->list_kind.empty() ? r->kind + "List" : r->list_kind;
    Put(defs, DefinitionName(r->group, r->version, list_kind), ListSchema(*r, d, a), a);
  }
  AddMetaDefinitions(defs, d, with_scale, a);
}

}  // namespace

std::string DefinitionName(std::string_view group, std::string_view version,
                           std::string_view kind) {
  std::string out;
  if (group.empty()) {
    out = "io.k8s.api.core";
  } else {
    // Reverse the DNS labels of the group: "k8s.starter.org" -> "org.starter.k8s".
    std::string_view g = group;
    while (!g.empty()) {
      size_t dot = g.rfind('.');
      std::string_view label = dot == std::string_view::npos ? g : g.substr(dot + 1);
      if (!out.empty()) out.push_back('.');
      out.append(label);
      g = dot == std::string_view::npos ? std::string_view() : g.substr(0, dot);
    }
  }
  out.push_back('.');
  out.append(version);
  out.push_back('.');
  out.append(kind);
  return out;
}

std::string V3PathKey(std::string_view group, std::string_view version) {
  if (group.empty()) return "api/" + std::string(version);
  return "apis/" + std::string(group) + "/" + std::string(version);
}

std::string RenderV2(const std::vector<APIResource>& resources, const Info& info) {
  Dialect d{false};
  json::Document doc(rapidjson::kObjectType);
  Allocator& a = doc.GetAllocator();
  PutS(doc, "swagger", "2.0", a);
  Put(doc, "info", InfoValue(info, a), a);
  Value paths = Obj();
  std::vector<const APIResource*> all;
  for (const auto& r : resources) {
    all.push_back(&r);
    AddPaths(paths, r, d, a);
  }
  Put(doc, "paths", std::move(paths), a);
  Value defs = Obj();
  AddDefinitions(defs, all, d, a);
  Put(doc, "definitions", std::move(defs), a);
  Put(doc, "securityDefinitions", SecurityScheme(d, a), a);
  Put(doc, "security", Security(a), a);
  return json::Serialize(doc);
}

std::string RenderV3(std::string_view group, std::string_view version,
                     const std::vector<APIResource>& resources, const Info& info) {
  Dialect d{true};
  json::Document doc(rapidjson::kObjectType);
  Allocator& a = doc.GetAllocator();
  PutS(doc, "openapi", "3.0.0", a);
  Put(doc, "info", InfoValue(info, a), a);
  Value paths = Obj();
  std::vector<const APIResource*> selected;
  for (const auto& r : resources) {
    if (r.group != group || r.version != version) continue;
    selected.push_back(&r);
    AddPaths(paths, r, d, a);
  }
  Put(doc, "paths", std::move(paths), a);
  Value components = Obj();
  Value schemas = Obj();
  AddDefinitions(schemas, selected, d, a);
  Put(components, "schemas", std::move(schemas), a);
  Put(components, "securitySchemes", SecurityScheme(d, a), a);
  Put(doc, "components", std::move(components), a);
  Put(doc, "security", Security(a), a);
  return json::Serialize(doc);
}

std::string RenderV2(const std::vector<APIResource>& resources) {
  return RenderV2(resources, Info{});
}

std::string RenderV3(std::string_view group, std::string_view version,
                     const std::vector<APIResource>& resources) {
  return RenderV3(group, version, resources, Info{});
}

std::string RenderV3Index(const std::vector<std::pair<std::string, std::string>>& entries) {
  json::Document doc(rapidjson::kObjectType);
  Allocator& a = doc.GetAllocator();
  Value paths = Obj();
  for (const auto& [key, hash] : entries) {
    Value e = Obj();
    PutS(e, "serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash, a);
    Put(paths, key, std::move(e), a);
  }
  Put(doc, "paths", std::move(paths), a);
  return json::Serialize(doc);
}

}  // namespace kube::openapi
