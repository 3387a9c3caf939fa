// Jansson with the limits the core applies to JSON from the network.
//   JsonPtr doc = parse_json(body, 1024 * 1024, error);
//   if (!doc) log(error);  else json_object_get(doc.get(), "access_token") ...
#pragma once

#include <jansson.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace edge_auth {

struct JsonDecref {
  void operator()(json_t* json) const { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

// nullptr, with a short reason in `error`, when the text is larger than
// max_size, is not JSON (invalid UTF-8 and "\u0000" included) or repeats a
// member name. The reason never quotes the input (it may hold secrets).
JsonPtr parse_json(std::string_view text, std::size_t max_size, std::string& error);

// False when containers nest deeper than max_depth ({} and [] are depth 1).
bool json_depth_within(const json_t* json, int max_depth);

// The string value of a member, when it is a string.
std::optional<std::string_view> json_string_member(const json_t* object, const char* name);

}  // namespace edge_auth
