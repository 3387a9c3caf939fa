// Login sessions: what a session holds, its lifetime policy, its encrypted
// encoding (for the cookie store, and at rest in shm/Redis), the state cookie
// of a login in progress, and the Cookie / Set-Cookie plumbing (chunking).
//   Session s = session_from_identity(id_claims, userinfo, "groups", tokens, now, policy);
//   std::string sealed = seal_session(key, s, "edge_auth_session");   // base64url
//   Result<Session> back = open_session(key, sealed, "edge_auth_session");
//   std::vector<std::string> set_cookie = session_set_cookies(attrs, sealed, present_names);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/claims.h"
#include "core/oidc.h"
#include "core/result.h"

namespace edge_auth {

struct Session {
  std::string id;          // 43 base64url chars (256 random bits): shm/redis key, refresh lock
  std::string provider;    // the provider NAME it was made by (a cookie of another is refused)
  std::string sub;         // OIDC sub; github: the numeric user id
  std::string user;        // $edge_auth_user: sub for OIDC, login for github
  std::string email;
  std::string preferred_username;  // OIDC preferred_username; github: login
  std::string name;
  std::string picture;     // avatar URL
  std::vector<std::string> groups;  // from groups_claim
  std::string sid;         // the OP's session id (back-channel logout), may be empty
  std::string claims;      // JSON object: ID-token claims merged with userinfo ("{}" if none)
  std::string access_token;
  std::string refresh_token;
  std::string id_token;    // kept for RP-initiated logout's id_token_hint; may be empty
  std::int64_t access_expires_at = 0;  // seconds; 0 = unknown
  std::int64_t access_obtained_at = 0; // seconds; when the access token arrived (0 = unknown)
  std::int64_t created_at = 0;         // seconds
  std::int64_t last_seen = 0;          // seconds (session_idle)
};

struct SessionPolicy {
  std::int64_t lifetime = 8 * 3600;  // absolute, seconds from created_at
  std::int64_t idle = 0;             // seconds without a request; 0 = no idle limit
  std::int64_t refresh_before = 60;  // refresh the access token this long before it expires
};

enum class SessionState {
  Valid,         // use it
  Touch,         // valid; last_seen is old enough to be rewritten (idle sliding)
  NeedsRefresh,  // valid but the access token expires within refresh_before (has a refresh token)
  Expired,       // lifetime or idle exceeded, or access token expired without a refresh token
};
// Touch when idle > 0 and now - last_seen >= max(idle / 10, 1 s) (so a busy
// session rewrites its cookie at most every tenth of the idle window);
// NeedsRefresh wins over Touch. The refresh window is refresh_before, or half
// the token's life when that is shorter (access_obtained_at known), so a
// 2-second token is not refreshed the moment it arrives. An access token expiry only matters when the
// session has a refresh token or `access_expiry_ends_session` is set (plain
// OAuth2 providers often issue non-expiring tokens: expires_at 0 = never).
SessionState session_state(const Session& s, std::int64_t now, const SessionPolicy& policy,
                           bool access_expiry_ends_session = false);

// The identity part of a new session. id_claims: the verified ID token's
// claims (nullptr for plain OAuth2); userinfo: userinfo / github /user claims
// (nullptr when not fetched). Members of userinfo fill what the ID token lacks
// (email, name, picture, preferred_username, groups); sub comes from the ID
// token. groups: Claims::values(groups_claim). user = sub, or for plain OAuth2
// "login" (github) falling back to "id"/"sub". claims = merged JSON object.
// An email whose "email_verified" is false is not taken (it would pass
// allowed_email_domains on the user's word); github's email may be null:
// the caller fills it from github_primary_email.
// id is a fresh random id; created_at = last_seen = now.
Session session_from_identity(const Claims* id_claims, const Claims* userinfo,
                              std::string_view groups_claim, const TokenSetResult& tokens,
                              std::int64_t now, std::string_view provider);

// After a refresh grant: new access token and expiry; refresh/id token
// replaced only when the answer has them (RFC 6749 §6: rotation is optional).
void apply_refresh(Session& s, const TokenSetResult& tokens, std::int64_t now);

// allowed_users (matches user, email or preferred_username exactly),
// allowed_email_domains (the part after the last '@' of email, ASCII
// case-insensitive; "*" = anyone, even without an email), allowed_groups (one group in common). An empty
// list admits everyone. "" when admitted, else the reason ("user not allowed",
// "email domain not allowed", "no allowed group").
std::string check_allowed(const Session& s, const std::vector<std::string>& users,
                          const std::vector<std::string>& email_domains,
                          const std::vector<std::string>& groups);

// JSON encoding (compact, jansson) and back; decode rejects anything but an
// object of the expected member types (missing members default).
std::string encode_session(const Session& s);
Result<Session> decode_session(std::string_view json);

// AES-256-GCM (core/aead.h) with `key` (32 bytes, derive_key(secret,
// "edge-auth session v1")) and `aad` (the cookie name: a value moved to
// another cookie name does not open), base64url. open_session: "" or garbage
// or a tampered value fails without detail ("session cookie invalid").
std::string seal_session(std::string_view key, const Session& s, std::string_view aad);
Result<Session> open_session(std::string_view key, std::string_view sealed, std::string_view aad);

// The state cookie of one login attempt, sealed the same way with a key for
// "edge-auth state v1"; aad = the state cookie's name. open_state also checks
// issued_at + max_age > now (state cookies live 10 minutes).
std::string seal_state(std::string_view key, const LoginRequest& login, std::string_view aad);
Result<LoginRequest> open_state(std::string_view key, std::string_view sealed,
                                std::string_view aad, std::int64_t now,
                                std::int64_t max_age = 600);

// State cookies are named <cookie_name>_st_<first 20 chars of state>: the time
// prefix of the state orders them, so the oldest can be evicted without
// decrypting anything.
std::string state_cookie_name(std::string_view cookie_name, std::string_view state);

// The Cookie request header(s): name=value pairs split on ';' (RFC 6265 §5.4
// leniency: optional spaces, a pair without '=' is skipped; values are not
// decoded; a quoted value loses its quotes). Several Cookie headers are
// passed one after another, joined with "; " (as nginx joins them).
std::vector<std::pair<std::string_view, std::string_view>> parse_cookies(std::string_view header);

// The session cookie's value from the request's cookies: NAME alone, or the
// chunks NAME_0, NAME_1, ... concatenated in order (stops at the first
// missing index; at most 32 chunks). nullopt when neither is present. When
// both are sent, NAME wins (the chunks are used only when NAME is absent);
// of repeated names the first is taken.
std::optional<std::string> join_chunks(
    const std::vector<std::pair<std::string_view, std::string_view>>& cookies,
    std::string_view name);

// Attributes of a Set-Cookie header.
struct CookieAttributes {
  std::string name;
  std::string path = "/";
  std::string domain;            // empty = host-only
  bool secure = true;
  bool http_only = true;
  std::string same_site = "Lax";  // "Lax", "Strict", "None" or "" (not sent)
  std::int64_t max_age = -1;      // -1 = session cookie; 0 = delete
};
// "NAME=VALUE; Path=/; Domain=...; Max-Age=...; Secure; HttpOnly; SameSite=Lax".
// max_age 0 also sets Expires=Thu, 01 Jan 1970 00:00:00 GMT.
std::string set_cookie_header(const CookieAttributes& attrs, std::string_view value);

// The Set-Cookie values for a session cookie `value`: one NAME cookie when
// name=value fits in `max_size` bytes (default 4000), else NAME_0, NAME_1, ...
// of at most max_size bytes each. Every other cookie of this session that the
// browser sent (`present`: the names among the request's cookies equal to NAME
// or NAME_<digits>) and that the new set does not overwrite is deleted
// (Max-Age=0), so no stale chunk survives. An empty `value` deletes them all.
// A value needing more than 32 chunks throws std::length_error.
std::vector<std::string> session_set_cookies(const CookieAttributes& attrs, std::string_view value,
                                             const std::vector<std::string_view>& present,
                                             std::size_t max_size = 4000);

// Connect headers (go-zoox style): X-Connect-Token is an HS256 JWT of
// {"id": sub, "username": preferred_username or user, "email", "nickname": name,
//  "avatar": picture, "exp": now + expires, "iat": now}, signed with `secret`
// through HMAC-SHA256 (core/crypto.h).
std::string connect_jwt(const Session& s, std::string_view secret, std::int64_t now,
                        std::int64_t expires);

}  // namespace edge_auth
