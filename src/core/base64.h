// Strict base64 (RFC 4648 §4, padded) and base64url (§5, unpadded, for JOSE).
//   std::string s;
//   if (base64_decode("YWxpY2U6cHc=", s)) ...
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace edge_auth {

std::string base64_encode(std::string_view bytes);
std::string base64url_encode(std::string_view bytes);

// Strict: canonical padding required, no whitespace, no other alphabet, and
// the unused bits of the last character must be zero. false on any violation.
bool base64_decode(std::string_view text, std::string& out);
// The same strict base64, into a caller's buffer (no allocation): false when the
// text is invalid or decodes to more than `capacity` bytes (3/4 of the text's
// length is always enough). On failure `size` is 0 and whatever was written to
// `out` has been wiped.
bool base64_decode(std::string_view text, char* out, std::size_t capacity, std::size_t& size);
// Strict base64url: no padding at all, '-' and '_' alphabet.
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace edge_auth
