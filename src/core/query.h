// Editing a raw query string (r->args) for upstream injection and stripping.
//   query_set("a=1&key=x", "key", "v w") == "a=1&key=v%20w"
//   query_remove("a=1&key=x&b=2", "key") == "a=1&b=2"
// Parameter names are compared after percent-decoding ("k%65y" is "key").
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace edge_auth {

// RFC 3986: everything but unreserved characters is %XX-encoded (uppercase).
std::string percent_encode(std::string_view value);
// Decodes %XX and '+' (as space); invalid escapes are kept as they are.
std::string percent_decode(std::string_view value);

// Replaces every occurrence of `name` with one `name=<encoded value>` at the
// place of the first occurrence, or appends it. `name` is encoded too.
std::string query_set(std::string_view args, std::string_view name, std::string_view value);
// Removes every occurrence of `name` (with or without '=').
std::string query_remove(std::string_view args, std::string_view name);
// The decoded value of the first occurrence of `name`.
std::optional<std::string> query_get(std::string_view args, std::string_view name);

// query_set / query_remove writing into a caller's buffer (e.g. nginx pool
// memory) instead of a new string; they return the length written. The buffer
// needs query_set_bound(...) bytes for query_set_to, args.size() for
// query_remove_to.
//   char* p = alloc(query_set_bound(args, "key", v));
//   size_t n = query_set_to(p, args, "key", v);
std::size_t query_set_bound(std::string_view args, std::string_view name, std::string_view value);
std::size_t query_set_to(char* out, std::string_view args, std::string_view name,
                         std::string_view value);
std::size_t query_remove_to(char* out, std::string_view args, std::string_view name);

// A request line ("GET /p?a=1&key=s3cret HTTP/1.1") with the value of `name`
// in its query replaced by "REDACTED", for access logs ($request); nullopt when
// the query has no such parameter.
std::optional<std::string> redact_request_line(std::string_view line, std::string_view name);

}  // namespace edge_auth
