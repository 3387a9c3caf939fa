#include "core/http.h"

#include "core/query.h"

namespace edge_auth {

std::string form_urlencode(std::string_view value) {
  // percent_encode leaves only unreserved characters and %XX escapes, so each
  // "%20" in its output is exactly one encoded space.
  std::string encoded = percent_encode(value);
  std::string out;
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded.compare(i, 3, "%20") == 0) {
      out += '+';
      i += 2;
    } else {
      out += encoded[i];
    }
  }
  return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += form_urlencode(name);
    out += '=';
    out += form_urlencode(value);
  }
  return out;
}

}  // namespace edge_auth
