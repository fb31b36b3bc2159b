// Name and label validation with the messages of k8s.io/apimachinery/pkg/util/validation
// (Kubernetes 1.32). Each check returns the list of problems; empty when the value is valid.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kube::validation {

// validation.IsDNS1123Label: at most 63 lower-case alphanumerics or '-', alphanumeric at both ends.
std::vector<std::string> IsDNS1123Label(std::string_view value);
// validation.IsDNS1123Subdomain: at most 253 characters, dot-separated DNS-1123 labels.
std::vector<std::string> IsDNS1123Subdomain(std::string_view value);
// validation.IsQualifiedName (label and annotation keys): `[prefix/]name`.
std::vector<std::string> IsQualifiedName(std::string_view value);
// validation.IsValidLabelValue: empty, or at most 63 characters of the qualified-name alphabet.
std::vector<std::string> IsValidLabelValue(std::string_view value);

// Go's %q (strconv.Quote) for the mostly-ASCII strings validation messages print.
std::string GoQuote(std::string_view s);

}  // namespace kube::validation
