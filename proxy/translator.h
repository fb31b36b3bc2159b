// The pure translation layer between the app side (what the user wrote: name, namespace,
// ownerReferences, connection secret name) and the control plane (claim-<hash> in the claim
// namespace with origin labels). No I/O: every rule here is unit-tested without a network.
//
// Control-plane representation of an app object (app namespace N, name X, cluster C):
//   metadata.name       claim-<hash(X,N,C)> (nxr- for namespaced XRs), namespace = claim ns
//   metadata.labels     + the three origin labels (naming/); users may not set mcp-connector.*
//   metadata.annotations+ naming's long-name annotation when X does not fit a label,
//                       + kOwnerReferencesAnnotation (JSON array) instead of ownerReferences,
//                       + kConnectionSecretAnnotation (the name the user wrote)
//   spec.writeConnectionSecretToRef.name = ConnectionSecretName(name, N, C)
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/api_resource.h"
#include "kube/http.h"
#include "kube/json.h"
#include "kube/result.h"
#include "kube/status.h"
#include "proxy/content.h"
#include "proxy/proxy.h"

namespace proxy {

inline constexpr std::string_view kReservedPrefix = "mcp-connector.upbound.io/";
inline constexpr std::string_view kOwnerReferencesAnnotation =
    "mcp-connector.upbound.io/owner-references";
inline constexpr std::string_view kConnectionSecretAnnotation =
    "mcp-connector.upbound.io/connection-secret-name";

// Is `key` (a label or annotation key) reserved for the connector?
bool IsReservedKey(std::string_view key);

// The control-plane name of a connection secret the user named `secret` in app namespace `ns`:
// "conn-" + the first 16 hex characters of SHA-256("<secret>-x-<ns>-x-<clusterID>"), the same
// rule as object names, so two app namespaces never collide in the one claim namespace.
std::string ConnectionSecretName(std::string_view secret, std::string_view ns,
                                 std::string_view cluster_id);

// Where a Table's cells show translated values.
struct TableColumns {
  int name = 0;                        // the Name column (-1: none)
  std::vector<int> connection_secret;  // columns showing spec.writeConnectionSecretToRef.name
};

// The app-side identity of one object.
struct AppRef {
  std::string namespace_;
  std::string name;
};

struct Scope {
  std::string cluster_id;
  std::string claim_namespace;
  Kind kind = Kind::kClaim;
  const kube::APIResource* resource = nullptr;  // not owned; outlives the Translator
};

// What a write request addresses.
struct WriteTarget {
  std::string verb;  // create, update, patch
  std::string app_namespace;
  std::string name;         // from the path (empty for create)
  std::string subresource;  // "" or "status"
};

class Translator {
 public:
  explicit Translator(Scope scope) : scope_(std::move(scope)) {}
  const Scope& scope() const { return scope_; }

  // --- names and paths
  std::string ControlPlaneName(std::string_view app_ns, std::string_view app_name) const;
  // /apis/<g>/<v>/namespaces/<claim ns>/<resource>
  std::string CollectionPath() const;
  // CollectionPath()/<cp name>[/<subresource>]
  std::string ObjectPath(std::string_view cp_name, std::string_view subresource = {}) const;
  // The app-side path of an object (for selfLink).
  std::string AppObjectPath(const AppRef& ref) const;
  kube::GroupResource Gr() const { return {scope_.resource->group, scope_.resource->resource}; }

  // --- queries
  // The query to send upstream for `verb` (list, watch, deletecollection, get, create, ...):
  // known parameters passed through, labelSelector ANDed with this cluster's (and, when
  // app_ns is set, that namespace's) labels, fieldSelector metadata.name/namespace translated.
  // A user requirement on a reserved label key is a 400 BadRequest: those labels do not exist
  // on the app side, so no user selector may mention them.
  kube::Result<kube::http::Query> TranslateQuery(const kube::http::Query& in, std::string_view verb,
                                                 std::string_view app_ns) const;

  // --- request bodies
  // JSON (or YAML for kYaml / kApplyPatch) into a document; 400 when malformed. Duplicate
  // member names keep the last one (as the API server's decoder does) so what we check is
  // what the control plane sees.
  static kube::Result<kube::json::Document> DecodeBody(std::string_view body, BodyType type);

  // A whole object for create / update / apply: checks apiVersion, kind, name and namespace
  // like kube-apiserver (400 / 422), rejects reserved labels/annotations (422), then rewrites
  // it for the control plane. For create without a name, call ResolveGenerateName first.
  // `current` (update/apply of an existing object) lets the connector keep what it needs.
  kube::Outcome PrepareObject(kube::json::Document& obj, const WriteTarget& t) const;
  // Sets metadata.name from metadata.generateName (kube's rule); false when there is none.
  static bool ResolveGenerateName(kube::json::Document& obj);
  // The app name a create request body asks for (after ResolveGenerateName).
  static std::string BodyName(const kube::json::Value& obj);

  // A merge patch: same metadata rules. `current` is the object as stored in the control plane
  // (needed to turn `labels: null` / `annotations: null` into removals of the user's keys only).
  kube::Outcome PrepareMergePatch(kube::json::Document& patch, const WriteTarget& t,
                                  const kube::json::Value* current) const;
  // A JSON patch: operations touching metadata.name/namespace, reserved labels/annotations or
  // ownerReferences are rejected (422); connection secret names translated.
  kube::Outcome PrepareJsonPatch(kube::json::Document& ops, const WriteTarget& t,
                                 const kube::json::Value* current) const;

  // --- responses
  // Is this stored control-plane object one of this cluster's, and whose is it?
  std::optional<AppRef> Owner(const kube::json::Value& obj) const;
  // The same from the stored metadata's namespace, name, labels and annotations (the one rule
  // both the DOM path and the fast path (proxy/fast_translate.h) apply).
  std::optional<AppRef> OwnerOf(std::string_view ns, std::string_view name,
                                const naming::Lookup& labels,
                                const naming::Lookup& annotations) const;
  // Rewrites a control-plane object (full or PartialObjectMetadata) in place into what the app
  // side wrote. Returns false (object untouched) when it is not this cluster's.
  bool TranslateObject(kube::json::Value& obj, kube::json::Allocator& a) const;
  // One list item / Table row / watch event text -> translated text, nullopt to drop it.
  // Usually without a DOM (proxy/fast_translate.h); unusual text takes the *Dom path, which
  // defines the behaviour (and is what the fast path is tested against).
  kube::Result<std::optional<std::string>> TranslateItemText(std::string_view text) const;
  kube::Result<std::optional<std::string>> TranslateItemTextDom(std::string_view text) const;
  // The same, appending the translated item to `out` (a list relay's output buffer: no copy per
  // item); false, with `out` unchanged, drops it.
  kube::Result<bool> AppendItemText(std::string_view text, std::string& out) const;
  // The Table's columns that need translation (from columnDefinitions and the CRD's printer
  // columns); a missing definition list means kube's default (Name first).
  TableColumns ColumnsOf(const kube::json::Value* column_definitions) const;
  // A Table row (cells + object): the Name cell and connection-secret cells rewritten, the row
  // dropped (false) unless its object proves it is this cluster's; `keep_object` false removes
  // row.object after translation (the user asked includeObject=None).
  bool TranslateTableRow(kube::json::Value& row, kube::json::Allocator& a, const TableColumns& cols,
                         bool keep_object) const;
  kube::Result<std::optional<std::string>> TranslateRowText(std::string_view text,
                                                            const TableColumns& cols,
                                                            bool keep_object) const;
  kube::Result<std::optional<std::string>> TranslateRowTextDom(std::string_view text,
                                                               const TableColumns& cols,
                                                               bool keep_object) const;
  kube::Result<bool> AppendRowText(std::string_view text, const TableColumns& cols,
                                   bool keep_object, std::string& out) const;
  // A list relay's one-pass fast path (ListSplitter::TryElementFn): the item (`key` "items") or
  // Table row ("rows") at the start of `rest`, which may go on after it, translated into `out`
  // (kept) or dropped; its length, or 0 when it is cut short or needs the *Text path above.
  size_t TryAppendListElement(std::string_view key, std::string_view rest, const TableColumns& cols,
                              bool keep_object, std::string& out, bool& kept) const;
  // A whole response document (object, List, Table, Status); false when it is a single object
  // that is not this cluster's.
  bool TranslateDocument(kube::json::Document& doc, bool keep_table_objects = true) const;
  // A watch event ({"type","object"}) -> text to forward, nullopt to drop it.
  kube::Result<std::optional<std::string>> TranslateWatchEvent(std::string_view text,
                                                               bool keep_table_objects) const;
  kube::Result<std::optional<std::string>> TranslateWatchEventDom(std::string_view text,
                                                                  bool keep_table_objects) const;

  // An error Status from the control plane: names the user's object, never claim-<hash>.
  kube::Status TranslateStatus(kube::Status s, const AppRef* target) const;
  // The Status JSON body of an upstream error response, translated.
  std::string TranslateStatusBody(int http_status, std::string_view body,
                                  const AppRef* target) const;

 private:
  kube::Outcome CheckTypeMeta(kube::json::Value& obj, kube::json::Allocator& a,
                              std::string_view name, bool fill_defaults) const;
  kube::Outcome CheckLabelsAndAnnotations(const kube::json::Value& meta, std::string_view name,
                                          bool allow_null_values) const;
  void AddOriginMetadata(kube::json::Value& meta, kube::json::Allocator& a,
                         const AppRef& ref) const;
  std::string KindGroup() const;
  kube::Status Invalid(std::string_view name, std::string_view field, std::string_view type,
                       std::string_view message) const;

  Scope scope_;
};

}  // namespace proxy
