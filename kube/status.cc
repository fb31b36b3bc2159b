// metav1.Status constructors and (de)serialization; messages follow
// k8s.io/apimachinery/pkg/api/errors/errors.go and apiserver's negotiation errors.
#include "kube/status.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <set>

#include "kube/json.h"

namespace kube {
namespace {

// Go's strconv.Quote (what fmt's %q prints) for the strings that appear in names and messages.
std::string GoQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[5];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

Status Make(int code, std::string_view reason, std::string message) {
  Status s;
  s.code = code;
  s.reason = std::string(reason);
  s.message = std::move(message);
  return s;
}

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace

std::string GroupResource::String() const {
  if (group.empty()) return resource;
  return resource + "." + group;
}

std::string Status::ToJson() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("kind");
  w.String("Status");
  w.Key("apiVersion");
  w.String("v1");
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  w.Key("status");
  w.String(code >= 200 && code < 300 ? "Success" : "Failure");
  if (!message.empty()) {
    w.Key("message");
    WriteString(w, message);
  }
  if (!reason.empty()) {
    w.Key("reason");
    WriteString(w, reason);
  }
  bool has_details = !name.empty() || !group.empty() || !kind.empty() || !causes.empty() ||
                     retry_after_seconds.has_value();
  if (has_details) {
    w.Key("details");
    w.StartObject();
    if (!name.empty()) {
      w.Key("name");
      WriteString(w, name);
    }
    if (!group.empty()) {
      w.Key("group");
      WriteString(w, group);
    }
    if (!kind.empty()) {
      w.Key("kind");
      WriteString(w, kind);
    }
    if (!causes.empty()) {
      w.Key("causes");
      w.StartArray();
      for (const StatusCause& c : causes) {
        w.StartObject();
        if (!c.type.empty()) {
          w.Key("reason");
          WriteString(w, c.type);
        }
        if (!c.message.empty()) {
          w.Key("message");
          WriteString(w, c.message);
        }
        if (!c.field.empty()) {
          w.Key("field");
          WriteString(w, c.field);
        }
        w.EndObject();
      }
      w.EndArray();
    }
    if (retry_after_seconds && *retry_after_seconds != 0) {
      w.Key("retryAfterSeconds");
      w.Int(*retry_after_seconds);
    }
    w.EndObject();
  }
  w.Key("code");
  w.Int(code);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::optional<Status> Status::FromJson(std::string_view body) {
  auto doc = json::Parse(body);
  if (!doc || !doc->IsObject()) return std::nullopt;
  if (json::GetString(*doc, "kind") != "Status") return std::nullopt;
  Status s;
  s.code = static_cast<int>(json::GetInt(*doc, "code").value_or(0));
  s.reason = std::string(json::GetString(*doc, "reason"));
  s.message = std::string(json::GetString(*doc, "message"));
  if (const json::Value* d = json::Find(*doc, "details"); d && d->IsObject()) {
    s.name = std::string(json::GetString(*d, "name"));
    s.group = std::string(json::GetString(*d, "group"));
    s.kind = std::string(json::GetString(*d, "kind"));
    if (auto ra = json::GetInt(*d, "retryAfterSeconds"))
      s.retry_after_seconds = static_cast<int>(*ra);
    if (const json::Value* cs = json::Find(*d, "causes"); cs && cs->IsArray()) {
      for (const json::Value& c : cs->GetArray()) {
        if (!c.IsObject()) continue;
        s.causes.push_back({std::string(json::GetString(c, "reason")),
                            std::string(json::GetString(c, "message")),
                            std::string(json::GetString(c, "field"))});
      }
    }
  }
  return s;
}

Status NewNotFound(const GroupResource& gr, std::string_view name) {
  Status s = Make(404, "NotFound", gr.String() + " " + GoQuote(name) + " not found");
  s.group = gr.group;
  s.kind = gr.resource;
  s.name = std::string(name);
  return s;
}

Status NewAlreadyExists(const GroupResource& gr, std::string_view name) {
  Status s = Make(409, "AlreadyExists", gr.String() + " " + GoQuote(name) + " already exists");
  s.group = gr.group;
  s.kind = gr.resource;
  s.name = std::string(name);
  return s;
}

Status NewConflict(const GroupResource& gr, std::string_view name, std::string_view err) {
  Status s = Make(409, "Conflict",
                  "Operation cannot be fulfilled on " + gr.String() + " " + GoQuote(name) + ": " +
                      std::string(err));
  s.group = gr.group;
  s.kind = gr.resource;
  s.name = std::string(name);
  return s;
}

Status NewInvalid(std::string_view kind_group, std::string_view name,
                  std::vector<StatusCause> causes) {
  // kind_group is schema.GroupKind.String(): "Kind.group" or "Kind" for the core group.
  std::string_view kind = kind_group;
  std::string_view group;
  if (auto dot = kind_group.find('.'); dot != std::string_view::npos) {
    kind = kind_group.substr(0, dot);
    group = kind_group.substr(dot + 1);
  }
  std::string message = std::string(kind_group) + " " + GoQuote(name) + " is invalid";
  // field.ErrorList.ToAggregate(): duplicates dropped; one error printed bare, more in [a, b].
  std::vector<std::string> msgs;
  std::set<std::string> seen;
  for (const StatusCause& c : causes) {
    std::string m = c.field.empty() ? c.message : c.field + ": " + c.message;
    if (seen.insert(m).second) msgs.push_back(std::move(m));
  }
  if (msgs.size() == 1) {
    message += ": " + msgs[0];
  } else if (msgs.size() > 1) {
    message += ": [";
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (i) message += ", ";
      message += msgs[i];
    }
    message += "]";
  }
  Status s = Make(422, "Invalid", std::move(message));
  s.group = std::string(group);
  s.kind = std::string(kind);
  s.name = std::string(name);
  s.causes = std::move(causes);
  return s;
}

Status NewBadRequest(std::string_view reason) {
  return Make(400, "BadRequest", std::string(reason));
}

Status NewUnauthorized(std::string_view reason) {
  return Make(401, "Unauthorized", reason.empty() ? "not authorized" : std::string(reason));
}

Status NewForbidden(const GroupResource& gr, std::string_view name, std::string_view err) {
  std::string message;
  if (gr.group.empty() && gr.resource.empty()) {
    message = "forbidden: " + std::string(err);
  } else if (name.empty()) {
    message = gr.String() + " is forbidden: " + std::string(err);
  } else {
    message = gr.String() + " " + GoQuote(name) + " is forbidden: " + std::string(err);
  }
  Status s = Make(403, "Forbidden", std::move(message));
  s.group = gr.group;
  s.kind = gr.resource;
  s.name = std::string(name);
  return s;
}

Status NewMethodNotSupported(const GroupResource& gr, std::string_view action) {
  Status s =
      Make(405, "MethodNotAllowed",
           std::string(action) + " is not supported on resources of kind " + GoQuote(gr.String()));
  s.group = gr.group;
  s.kind = gr.resource;
  return s;
}

Status NewGone(std::string_view message) { return Make(410, "Gone", std::string(message)); }

Status NewResourceExpired(std::string_view message) {
  return Make(410, "Expired", std::string(message));
}

Status NewRequestEntityTooLarge(std::string_view message) {
  return Make(413, "RequestEntityTooLarge", "Request entity too large: " + std::string(message));
}

// negotiation.NewUnsupportedMediaTypeError(accepted): the argument is the list of accepted media
// types, already joined with ", " (e.g. the patch types a resource supports).
Status NewUnsupportedMediaType(std::string_view content_type) {
  return Make(415, "UnsupportedMediaType",
              "the body of the request was in an unknown format - accepted media types include: " +
                  std::string(content_type));
}

Status NewNotAcceptable(std::string_view message) {
  return Make(406, "NotAcceptable", std::string(message));
}

Status NewServiceUnavailable(std::string_view reason) {
  return Make(503, "ServiceUnavailable", std::string(reason));
}

Status NewTimeout(std::string_view message, int retry_after_seconds) {
  Status s = Make(504, "Timeout", "Timeout: " + std::string(message));
  s.retry_after_seconds = retry_after_seconds;
  return s;
}

Status NewTooManyRequests(std::string_view message, int retry_after_seconds) {
  Status s = Make(429, "TooManyRequests", std::string(message));
  s.retry_after_seconds = retry_after_seconds;
  return s;
}

Status NewInternalError(std::string_view err) {
  Status s = Make(500, "InternalError", "Internal error occurred: " + std::string(err));
  s.causes.push_back({"", std::string(err), ""});
  return s;
}

// Go's net/http answers 431 itself, before any handler; we give it a Status body for clients
// that decode one. metav1 has no reason for it, so the reason stays empty (omitted).
Status NewRequestHeaderFieldsTooLarge() { return Make(431, "", "Request Header Fields Too Large"); }

}  // namespace kube
