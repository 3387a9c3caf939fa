#include "core/status.h"

namespace edge_auth {

// These strings end up in $edge_auth_error and in log lines that people grep
// and alert on: keep them short and never change them lightly.
std::string_view reason(AuthStatus status) {
  switch (status) {
    case AuthStatus::Ok:
      return "ok";
    case AuthStatus::NoCredential:
      return "no credentials";
    case AuthStatus::UnsupportedScheme:
      return "unsupported scheme";
    case AuthStatus::MalformedCredential:
      return "malformed credentials";
    case AuthStatus::CredentialTooLong:
      return "credentials too long";
    case AuthStatus::UnknownUser:
      return "unknown user";
    case AuthStatus::BadPassword:
      return "password mismatch";
    case AuthStatus::UnknownToken:
      return "unknown token";
    case AuthStatus::UserFileUnavailable:
      return "user file unavailable";
    case AuthStatus::InvalidToken:
      return "invalid token";
    case AuthStatus::Forbidden:
      return "claim rule failed";
    case AuthStatus::InternalError:
      return "internal error";
  }
  return "internal error";  // a value outside the enum: treat as the worst case
}

int http_status(AuthStatus status) {
  switch (status) {
    case AuthStatus::Ok:
      return 200;
    case AuthStatus::InternalError:
      return 500;
    case AuthStatus::Forbidden:
      return 403;
    case AuthStatus::InvalidToken:
    case AuthStatus::NoCredential:
    case AuthStatus::UnsupportedScheme:
    case AuthStatus::MalformedCredential:
    case AuthStatus::CredentialTooLong:
    case AuthStatus::UnknownUser:
    case AuthStatus::BadPassword:
    case AuthStatus::UnknownToken:
    case AuthStatus::UserFileUnavailable:
      return 401;
  }
  return 500;
}

}  // namespace edge_auth
