// Why client authentication failed, as a value. Each reason maps to an HTTP
// status, a short text for $edge_auth_error and the error log.
//   AuthStatus s = AuthStatus::BadPassword;
//   int code = http_status(s);  std::string_view why = reason(s);
#pragma once

#include <string_view>

namespace edge_auth {

enum class AuthStatus {
  Ok,
  NoCredential,         // the request carries no credential an enabled method reads
  UnsupportedScheme,    // Authorization uses a scheme no enabled method accepts
  MalformedCredential,  // bad base64, no colon, control characters, empty token ...
  CredentialTooLong,    // over the size limits (a 6 KB header is refused, not parsed)
  UnknownUser,          // Basic user not in the file nor inline
  BadPassword,          // Basic password does not verify
  UnknownToken,         // bearer token / API key not accepted
  UserFileUnavailable,  // htpasswd file cannot be read: deny, never allow
  InvalidToken,         // a JWT (or introspected token) that does not verify; the
                        // precise JOSE reason goes to the log and $edge_auth_error
  Forbidden,            // authenticated, but an edge_auth_require rule fails (403)
  InternalError,        // anything unexpected: deny
};

// Short, stable reason for logs and $edge_auth_error ("unknown user").
std::string_view reason(AuthStatus status);

// 401 for every failure of client authentication, 403 for Forbidden, 500 for InternalError.
int http_status(AuthStatus status);

}  // namespace edge_auth
