#include "core/credentials.h"

#include "core/base64.h"
#include "core/crypto.h"
#include "core/header_value.h"
#include "core/text.h"

namespace edge_auth {

bool split_authorization(std::string_view value, AuthorizationHeader& out) {
  std::size_t n = 0;
  while (n < value.size() && is_tchar(value[n])) ++n;
  if (n == 0) return false;
  std::string_view rest = value.substr(n);
  // RFC 7235: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
  // Anything glued to the scheme ("Basic/x", "Basic\tx") is not this grammar.
  if (!rest.empty() && rest.front() != ' ') return false;
  out.scheme = value.substr(0, n);
  out.credentials = trim_ows(rest);
  return true;
}

bool scheme_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

BasicCredentials::~BasicCredentials() {
  wipe(user);
  wipe(password);
}

AuthStatus parse_basic(std::string_view token68, BasicCredentials& out) {
  // The limit on the text also bounds the decoded size (3/4 of it), and it is
  // checked before any work so an oversized header costs nothing.
  if (token68.size() > kMaxCredentialLength) return AuthStatus::CredentialTooLong;

  // Decoded on the stack (no allocation per request), wiped on every path.
  char decoded[kMaxCredentialLength / 4 * 3];
  std::size_t size = 0;
  struct Wipe {
    char* p;
    const std::size_t& n;
    ~Wipe() { wipe_bytes(p, n); }
  } guard{decoded, size};

  if (!base64_decode(token68, decoded, sizeof decoded, size)) return AuthStatus::MalformedCredential;
  std::string_view all(decoded, size);
  std::size_t colon = all.find(':');
  if (colon == std::string_view::npos) return AuthStatus::MalformedCredential;
  std::string_view user = all.substr(0, colon);
  std::string_view password = all.substr(colon + 1);
  // Empty credentials are refused outright: "", ":" and "user:" must never
  // reach a password check that could match an empty hash or password.
  if (user.empty() || password.empty()) return AuthStatus::MalformedCredential;
  if (has_control_chars(all) || !is_valid_utf8(all)) return AuthStatus::MalformedCredential;

  wipe(out.user);
  wipe(out.password);
  out.user.assign(user);
  out.password.assign(password);
  return AuthStatus::Ok;
}

AuthStatus check_token_syntax(std::string_view token) {
  if (token.size() > kMaxCredentialLength) return AuthStatus::CredentialTooLong;
  if (token.empty()) return AuthStatus::MalformedCredential;
  for (unsigned char c : token) {
    if (c < 0x21 || c > 0x7e) return AuthStatus::MalformedCredential;
  }
  return AuthStatus::Ok;
}

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Lead byte: sequence length and the smallest code point it may encode
    // (anything below is an overlong form of a shorter sequence).
    std::size_t len;
    char32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;  // a continuation byte without a lead, or 0xf8..0xff
    }
    if (s.size() - i < len) return false;  // truncated
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace edge_auth
