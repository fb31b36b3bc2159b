// Response translation of single objects, list items, Table rows and watch events without a DOM
// (issue 9, workloads 1, 2 and 4). One validating pass over the text records where the few members
// the translator reads are (an object's metadata name, namespace, labels, annotations, selfLink,
// ownerReferences, managedFields and spec.writeConnectionSecretToRef; a row's cells and object;
// an event's type and object); the output copies every other byte span verbatim.
//
// Anything unusual (escapes or duplicates among the member names it looks at, numbers with an
// exponent or more than 18 characters, deep nesting, malformed text, ERROR events, Table watch
// events) gives kFallback: the caller then runs the DOM path (Translator::*Dom), which defines
// the behaviour. The fast path's output is tested to be the same JSON as the DOM path's.
#pragma once

#include <string>
#include <string_view>

namespace proxy {

class Translator;
struct TableColumns;

namespace fast {

enum class Outcome {
  kTranslated,  // `out` holds the translated text
  kDropped,     // valid JSON, not this cluster's object: drop it
  kFallback,    // use the DOM path
};

// Translator::TranslateItemText without a DOM. `out` is overwritten.
Outcome TranslateItem(const Translator& t, std::string_view text, std::string& out);
// The same, appending to `out`; `out` is unchanged unless kTranslated. With `length`, the item
// is the object at the start of `text` (no leading whitespace), which may go on after it: on
// kTranslated and kDropped its length is stored there, and an item cut short is kFallback.
Outcome AppendItem(const Translator& t, std::string_view text, std::string& out,
                   size_t* length = nullptr);
// A single-object response body (get, create, update, patch) without a DOM: the same as
// Translator::TranslateDocument on it (kDropped where it returns false: the caller answers 404).
// Status, Table and List documents are kFallback: the DOM path handles them.
Outcome TranslateObject(const Translator& t, std::string_view text, std::string& out);
// Translator::TranslateRowText without a DOM.
Outcome TranslateRow(const Translator& t, std::string_view text, const TableColumns& cols,
                     bool keep_object, std::string& out);
// The same, appending to `out` (and `length` as for AppendItem).
Outcome AppendRow(const Translator& t, std::string_view text, const TableColumns& cols,
                  bool keep_object, std::string& out, size_t* length = nullptr);
// Translator::TranslateWatchEvent without a DOM (object events and bookmarks).
Outcome TranslateWatchEvent(const Translator& t, std::string_view text, std::string& out);

// A create request's JSON body made into the object sent to the control plane, without a DOM:
// the same JSON, member order included, as DecodeBody + PrepareObject + Serialize give, in one
// pass that copies every value it does not rewrite (issue 9, workload 4). `out` is overwritten
// and `app_name` set to the name the body asks for. kFallback whenever the DOM path must
// decide: every body it refuses (it writes the Status), generateName (no name yet),
// ownerReferences to keep in an annotation, and the scanner's unusual text. Never kDropped.
// Duplicate member names inside values the connector does not read (most of spec, status) go
// to the control plane as sent, which judges them by its fieldValidation as it would a direct
// request's; the DOM path keeps the last of each. Duplicates where the connector reads
// (top level, metadata, labels, annotations, spec, writeConnectionSecretToRef) are kFallback.
Outcome PrepareCreate(const Translator& t, std::string_view body, std::string_view app_namespace,
                      std::string& out, std::string& app_name);

}  // namespace fast
}  // namespace proxy
