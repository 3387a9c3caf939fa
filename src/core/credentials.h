// Parsing what a client presents: the Authorization header (RFC 7235 scheme,
// matched case-insensitively) and HTTP Basic credentials (RFC 7617).
//   AuthorizationHeader h;
//   if (split_authorization("Basic YWxpY2U6cHc=", h) && scheme_equals(h.scheme, "basic")) {
//     BasicCredentials c;  AuthStatus s = parse_basic(h.credentials, c);
//   }
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edge_auth {

// Longest Authorization value / token we parse at all (longer = CredentialTooLong).
inline constexpr std::size_t kMaxCredentialLength = 4096;

struct AuthorizationHeader {
  std::string_view scheme;       // e.g. "Basic", as sent
  std::string_view credentials;  // the rest, leading/trailing spaces removed
};

// Splits "<scheme> <credentials>". false when there is no scheme token
// (empty, starts with a space, or the scheme has non-token characters).
bool split_authorization(std::string_view value, AuthorizationHeader& out);

// ASCII case-insensitive equality, for auth schemes and header names.
bool scheme_equals(std::string_view a, std::string_view b);

// Basic credentials; the destructor wipes both fields.
struct BasicCredentials {
  std::string user;
  std::string password;
  BasicCredentials() = default;
  BasicCredentials(const BasicCredentials&) = delete;
  BasicCredentials& operator=(const BasicCredentials&) = delete;
  ~BasicCredentials();
};

// Decodes token68 strictly (padded base64), splits user and password at the
// first colon. Rejects: bad base64, no colon, empty user, control characters
// (0x00-0x1f, 0x7f) in either part, invalid UTF-8, over kMaxCredentialLength.
// Returns Ok or MalformedCredential / CredentialTooLong.
AuthStatus parse_basic(std::string_view token68, BasicCredentials& out);

// A bearer token / API key as presented: non-empty, at most
// kMaxCredentialLength, only visible ASCII (0x21-0x7e). Ok, MalformedCredential
// or CredentialTooLong.
AuthStatus check_token_syntax(std::string_view token);

// True when the UTF-8 is well formed (no overlongs, no surrogates).
bool is_valid_utf8(std::string_view s);

}  // namespace edge_auth
