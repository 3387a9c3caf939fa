#include "core/json.h"

namespace edge_auth {

JsonPtr parse_json(std::string_view text, std::size_t max_size, std::string& error) {
  if (text.size() > max_size) {
    error = "larger than " + std::to_string(max_size) + " bytes";
    return nullptr;
  }
  json_error_t detail;
  JsonPtr json(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &detail));
  if (!json) {
    // detail.text may quote the input ("... near 'secret'"), so only the
    // position is reported.
    error = "not valid JSON (line " + std::to_string(detail.line) + ", column " +
            std::to_string(detail.column) + ")";
    if (json_error_code(&detail) == json_error_duplicate_key) error = "duplicate member name";
  }
  return json;
}

bool json_depth_within(const json_t* json, int max_depth) {
  if (json_is_object(json)) {
    if (max_depth <= 0) return false;
    const char* key;
    json_t* value;
    // jansson's macro takes a non-const object; iteration does not modify it.
    json_object_foreach(const_cast<json_t*>(json), key, value) {
      if (!json_depth_within(value, max_depth - 1)) return false;
    }
  } else if (json_is_array(json)) {
    if (max_depth <= 0) return false;
    std::size_t i;
    json_t* value;
    json_array_foreach(json, i, value) {
      if (!json_depth_within(value, max_depth - 1)) return false;
    }
  }
  return true;
}

std::optional<std::string_view> json_string_member(const json_t* object, const char* name) {
  const json_t* value = json_object_get(object, name);
  if (!json_is_string(value)) return std::nullopt;
  return std::string_view(json_string_value(value), json_string_length(value));
}

}  // namespace edge_auth
