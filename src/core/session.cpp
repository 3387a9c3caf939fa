#include "core/session.h"

#include <algorithm>
#include <stdexcept>

#include "core/aead.h"
#include "core/base64.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/text.h"

namespace edge_auth {
namespace {

// A session with every token fits in well under this (the cookie store
// allows 32 chunks of 4000 bytes, sealed and base64url-encoded).
constexpr std::size_t kMaxSessionJson = 256 * 1024;
constexpr std::size_t kMaxChunks = 32;
constexpr std::int64_t kTimeLimit = std::int64_t{1} << 40;
constexpr const char* kInvalidSession = "session cookie invalid";
constexpr const char* kInvalidState = "state cookie invalid";

std::string_view view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// A JSON string; the session's text comes from jansson or from tokens that
// were checked to be visible ASCII, so invalid UTF-8 is a programming error.
json_t* json_text(std::string_view s) {
  json_t* value = json_stringn(s.data(), s.size());
  if (value == nullptr) throw std::invalid_argument("session text is not UTF-8");
  return value;
}

void set_member(json_t* object, const char* name, json_t* value) {
  if (json_object_set_new(object, name, value) != 0) throw std::bad_alloc();
}

std::string dump(const json_t* object) {
  std::size_t size = json_dumpb(object, nullptr, 0, JSON_COMPACT);
  if (size == 0) throw std::bad_alloc();
  std::string out(size, '\0');
  json_dumpb(object, out.data(), size, JSON_COMPACT);
  return out;
}

// Reads members of a decoded object, remembering the first one of the
// wrong type (missing members keep their defaults).
class MemberReader {
 public:
  explicit MemberReader(const json_t* object) : object_(object) {}

  void text(const char* name, std::string& out) {
    const json_t* value = json_object_get(object_, name);
    if (value == nullptr) return;
    if (!json_is_string(value)) return wrong(name);
    out.assign(json_string_value(value), json_string_length(value));
  }
  // Times in seconds, within ±2^40 (about 35,000 years): nothing this module
  // writes is larger, and session_state / open_state add and subtract them
  // without overflowing.
  void integer(const char* name, std::int64_t& out) {
    const json_t* value = json_object_get(object_, name);
    if (value == nullptr) return;
    if (!json_is_integer(value)) return wrong(name);
    json_int_t v = json_integer_value(value);
    if (v < -kTimeLimit || v > kTimeLimit) return fail(name, " is out of range");
    out = v;
  }
  void texts(const char* name, std::vector<std::string>& out) {
    const json_t* value = json_object_get(object_, name);
    if (value == nullptr) return;
    if (!json_is_array(value)) return wrong(name);
    std::size_t i;
    const json_t* item;
    json_array_foreach(value, i, item) {
      if (!json_is_string(item)) return wrong(name);
      out.emplace_back(json_string_value(item), json_string_length(item));
    }
  }
  void object(const char* name, std::string& out) {
    const json_t* value = json_object_get(object_, name);
    if (value == nullptr) return;
    if (!json_is_object(value)) return wrong(name);
    out = dump(value);
  }
  const std::string& error() const { return error_; }

 private:
  void wrong(const char* name) { fail(name, " has the wrong type"); }
  void fail(const char* name, const char* why) {
    if (error_.empty()) error_ = std::string("member ") + name + why;
  }
  const json_t* object_;
  std::string error_;
};

// JSON text -> sealed, base64url; and back. The plaintext holds tokens, so
// it is wiped on every path.
std::string seal_text(std::string_view key, std::string plaintext, std::string_view aad) {
  WipeOnExit guard(plaintext);
  return base64url_encode(seal(key, plaintext, aad));
}

std::optional<std::string> open_text(std::string_view key, std::string_view sealed,
                                     std::string_view aad) {
  std::string box;
  if (sealed.empty() || !base64url_decode(sealed, box)) return std::nullopt;
  Result<std::string> plain = open(key, box, aad);
  if (!plain) return std::nullopt;
  return std::move(*plain);
}

// "NAME_<digits>" (a chunk of NAME's value).
bool is_chunk_name(std::string_view candidate, std::string_view name) {
  if (candidate.size() <= name.size() + 1 || candidate.substr(0, name.size()) != name ||
      candidate[name.size()] != '_') {
    return false;
  }
  std::string_view digits = candidate.substr(name.size() + 1);
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

}  // namespace

// ---- lifetime policy ----

SessionState session_state(const Session& s, std::int64_t now, const SessionPolicy& policy,
                           bool access_expiry_ends_session) {
  if (now >= s.created_at + policy.lifetime) return SessionState::Expired;
  if (policy.idle > 0 && now - s.last_seen >= policy.idle) return SessionState::Expired;
  if (s.access_expires_at > 0) {
    if (!s.refresh_token.empty()) {
      std::int64_t window = policy.refresh_before;
      std::int64_t life = s.access_expires_at - s.access_obtained_at;
      if (s.access_obtained_at > 0 && life > 0) window = std::min(window, life / 2);
      if (now >= s.access_expires_at - window) return SessionState::NeedsRefresh;
    } else if (access_expiry_ends_session && now >= s.access_expires_at) {
      return SessionState::Expired;
    }
  }
  if (policy.idle > 0 && now - s.last_seen >= std::max<std::int64_t>(policy.idle / 10, 1)) {
    return SessionState::Touch;
  }
  return SessionState::Valid;
}

// ---- a new session ----

Session session_from_identity(const Claims* id_claims, const Claims* userinfo,
                              std::string_view groups_claim, const TokenSetResult& tokens,
                              std::int64_t now, std::string_view provider) {
  // The ID token first, userinfo for what it lacks.
  auto first = [&](std::string_view path) -> std::string {
    for (const Claims* c : {id_claims, userinfo}) {
      if (c == nullptr) continue;
      if (std::optional<std::string> v = c->get(path); v && !v->empty()) return *v;
    }
    return "";
  };
  auto from_userinfo = [&](std::string_view path) -> std::string {
    if (userinfo == nullptr) return "";
    return userinfo->get(path).value_or("");
  };

  Session s;
  s.id = base64url_encode(random_bytes(32));
  s.provider = std::string(provider);
  if (id_claims != nullptr) {
    s.sub = id_claims->get("sub").value_or("");
    s.user = s.sub;
    s.sid = id_claims->get("sid").value_or("");
  } else {
    // Plain OAuth2: GitHub's /user has a numeric id and a login; Feishu's
    // userinfo has a sub.
    s.sub = from_userinfo("sub");
    if (s.sub.empty()) s.sub = from_userinfo("id");
    s.user = from_userinfo("login");
    if (s.user.empty()) s.user = s.sub;
  }
  // An address the OP says is unverified is not an identity (allowed_email_domains).
  if (first("email_verified") != "false") s.email = first("email");
  s.preferred_username = first("preferred_username");
  if (s.preferred_username.empty()) s.preferred_username = from_userinfo("login");
  s.name = first("name");
  s.picture = first("picture");
  if (s.picture.empty()) s.picture = first("avatar_url");
  if (!groups_claim.empty()) {
    for (const Claims* c : {id_claims, userinfo}) {
      if (c != nullptr && s.groups.empty()) s.groups = c->values(groups_claim);
    }
  }

  // jansson's update functions take non-const objects but only add
  // references to the members; neither source is changed.
  JsonPtr merged(json_object());
  if (id_claims != nullptr && json_is_object(id_claims->json())) {
    json_object_update(merged.get(), const_cast<json_t*>(id_claims->json()));
  }
  if (userinfo != nullptr && json_is_object(userinfo->json())) {
    json_object_update_missing(merged.get(), const_cast<json_t*>(userinfo->json()));
  }
  // One-time values of the login, of no use to a session's rules or headers.
  for (const char* spent : {"nonce", "at_hash", "c_hash"}) json_object_del(merged.get(), spent);
  s.claims = dump(merged.get());

  s.access_token = tokens.access_token;
  s.refresh_token = tokens.refresh_token;
  s.id_token = tokens.id_token;
  s.access_expires_at = tokens.expires_at;
  s.access_obtained_at = now;
  s.created_at = now;
  s.last_seen = now;
  return s;
}

void apply_refresh(Session& s, const TokenSetResult& tokens, std::int64_t now) {
  s.access_token = tokens.access_token;
  s.access_expires_at = tokens.expires_at;
  s.access_obtained_at = now;
  if (!tokens.refresh_token.empty()) s.refresh_token = tokens.refresh_token;
  if (!tokens.id_token.empty()) s.id_token = tokens.id_token;
}

std::string check_allowed(const Session& s, const std::vector<std::string>& users,
                          const std::vector<std::string>& email_domains,
                          const std::vector<std::string>& groups) {
  if (!users.empty()) {
    bool admitted = std::any_of(users.begin(), users.end(), [&](const std::string& u) {
      return !u.empty() && (u == s.user || u == s.email || u == s.preferred_username);
    });
    if (!admitted) return "user not allowed";
  }
  if (!email_domains.empty() &&
      std::find(email_domains.begin(), email_domains.end(), "*") == email_domains.end()) {
    std::size_t at = s.email.rfind('@');
    std::string_view domain =
        at == std::string::npos ? std::string_view() : std::string_view(s.email).substr(at + 1);
    bool admitted =
        !domain.empty() && std::any_of(email_domains.begin(), email_domains.end(),
                                       [&](const std::string& d) { return iequals(d, domain); });
    if (!admitted) return "email domain not allowed";
  }
  if (!groups.empty()) {
    bool admitted = std::any_of(groups.begin(), groups.end(), [&](const std::string& g) {
      return std::find(s.groups.begin(), s.groups.end(), g) != s.groups.end();
    });
    if (!admitted) return "no allowed group";
  }
  return "";
}

// ---- encoding ----

namespace {

// The identity members an OIDC session repeats from its claims.
struct IdentityMember {
  const char* name;
  std::string Session::*field;
};
constexpr IdentityMember kIdentityMembers[] = {
    {"sub", &Session::sub},   {"email", &Session::email},     {"preferred_username", &Session::preferred_username},
    {"name", &Session::name}, {"picture", &Session::picture}, {"sid", &Session::sid},
};

// What decode_session puts in an identity member the encoding left out: the
// claim of the same name when it is a string, else "".
std::string_view implied_member(const json_t* claims, const char* name) {
  const json_t* c = json_object_get(claims, name);
  if (!json_is_string(c)) return {};
  return {json_string_value(c), json_string_length(c)};
}

}  // namespace

std::string encode_session(const Session& s) {
  // Only what decode_session cannot restore is written: the cookie store
  // carries this with every request. Left out: an identity member equal to
  // the claim of its name (or empty when there is none), `user` equal to
  // `sub`, empty tokens and groups, zero times.
  std::string why;
  JsonPtr claims = parse_json(s.claims.empty() ? "{}" : s.claims, kMaxSessionJson, why);
  if (!claims || !json_is_object(claims.get())) claims.reset(json_object());
  JsonPtr root(json_object());
  set_member(root.get(), "id", json_text(s.id));
  set_member(root.get(), "provider", json_text(s.provider));
  for (const IdentityMember& m : kIdentityMembers) {
    const std::string& value = s.*m.field;
    if (value != implied_member(claims.get(), m.name)) set_member(root.get(), m.name, json_text(value));
  }
  if (s.user != s.sub) set_member(root.get(), "user", json_text(s.user));
  if (!s.groups.empty()) {
    json_t* groups = json_array();
    set_member(root.get(), "groups", groups);
    for (const std::string& g : s.groups) {
      if (json_array_append_new(groups, json_text(g)) != 0) throw std::bad_alloc();
    }
  }
  // The claims stay an object (not a string holding JSON): no escaping.
  set_member(root.get(), "claims", claims.release());
  auto text = [&](const char* name, const std::string& value) {
    if (!value.empty()) set_member(root.get(), name, json_text(value));
  };
  text("access_token", s.access_token);
  text("refresh_token", s.refresh_token);
  text("id_token", s.id_token);
  auto integer = [&](const char* name, std::int64_t value) {
    if (value != 0) set_member(root.get(), name, json_integer(value));
  };
  integer("access_expires_at", s.access_expires_at);
  integer("access_obtained_at", s.access_obtained_at);
  integer("created_at", s.created_at);
  integer("last_seen", s.last_seen);
  return dump(root.get());
}

Result<Session> decode_session(std::string_view json) {
  using R = Result<Session>;
  std::string why;
  JsonPtr root = parse_json(json, kMaxSessionJson, why);
  if (!root) return R::failure("session " + why);
  if (!json_is_object(root.get())) return R::failure("session is not a JSON object");
  Session s;
  s.claims = "{}";
  MemberReader in(root.get());
  in.text("id", s.id);
  in.text("provider", s.provider);
  const json_t* claims = json_object_get(root.get(), "claims");
  for (const IdentityMember& m : kIdentityMembers) {
    if (json_object_get(root.get(), m.name) != nullptr) {
      in.text(m.name, s.*m.field);
    } else if (json_is_object(claims)) {
      s.*m.field = implied_member(claims, m.name);
    }
  }
  s.user = s.sub;
  in.text("user", s.user);
  in.texts("groups", s.groups);
  in.object("claims", s.claims);
  in.text("access_token", s.access_token);
  in.text("refresh_token", s.refresh_token);
  in.text("id_token", s.id_token);
  in.integer("access_expires_at", s.access_expires_at);
  in.integer("access_obtained_at", s.access_obtained_at);
  in.integer("created_at", s.created_at);
  in.integer("last_seen", s.last_seen);
  if (!in.error().empty()) return R::failure("session " + in.error());
  return s;
}

std::string seal_session(std::string_view key, const Session& s, std::string_view aad) {
  return seal_text(key, encode_session(s), aad);
}

Result<Session> open_session(std::string_view key, std::string_view sealed, std::string_view aad) {
  std::optional<std::string> plain = open_text(key, sealed, aad);
  if (!plain) return Result<Session>::failure(kInvalidSession);
  WipeOnExit guard(*plain);
  Result<Session> s = decode_session(*plain);
  if (!s) return Result<Session>::failure(kInvalidSession);
  return s;
}

// ---- the state cookie ----

std::string seal_state(std::string_view key, const LoginRequest& login, std::string_view aad) {
  JsonPtr root(json_object());
  set_member(root.get(), "state", json_text(login.state));
  set_member(root.get(), "nonce", json_text(login.nonce));
  set_member(root.get(), "verifier", json_text(login.verifier));
  set_member(root.get(), "return_to", json_text(login.return_to));
  set_member(root.get(), "issued_at", json_integer(login.issued_at));
  return seal_text(key, dump(root.get()), aad);
}

Result<LoginRequest> open_state(std::string_view key, std::string_view sealed, std::string_view aad,
                                std::int64_t now, std::int64_t max_age) {
  using R = Result<LoginRequest>;
  std::optional<std::string> plain = open_text(key, sealed, aad);
  if (!plain) return R::failure(kInvalidState);
  WipeOnExit guard(*plain);
  std::string why;
  JsonPtr root = parse_json(*plain, kMaxSessionJson, why);
  if (!root || !json_is_object(root.get())) return R::failure(kInvalidState);
  LoginRequest login;
  MemberReader in(root.get());
  in.text("state", login.state);
  in.text("nonce", login.nonce);
  in.text("verifier", login.verifier);
  in.text("return_to", login.return_to);
  in.integer("issued_at", login.issued_at);
  if (!in.error().empty() || login.state.empty()) return R::failure(kInvalidState);
  if (login.issued_at + max_age <= now) return R::failure("state cookie expired");
  return login;
}

std::string state_cookie_name(std::string_view cookie_name, std::string_view state) {
  return std::string(cookie_name) + "_st_" + std::string(state.substr(0, 20));
}

// ---- Cookie and Set-Cookie ----

std::vector<std::pair<std::string_view, std::string_view>> parse_cookies(std::string_view header) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!header.empty()) {
    std::size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    header.remove_prefix(end == std::string_view::npos ? header.size() : end + 1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = trim_ows(pair.substr(0, eq));
    std::string_view value = trim_ows(pair.substr(eq + 1));
    if (name.empty()) continue;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    out.emplace_back(name, value);
  }
  return out;
}

std::optional<std::string> join_chunks(
    const std::vector<std::pair<std::string_view, std::string_view>>& cookies,
    std::string_view name) {
  auto find = [&](std::string_view wanted) -> const std::string_view* {
    for (const auto& [n, v] : cookies) {
      if (n == wanted) return &v;
    }
    return nullptr;
  };
  if (const std::string_view* whole = find(name)) return std::string(*whole);
  std::optional<std::string> joined;
  for (std::size_t i = 0; i < kMaxChunks; ++i) {
    const std::string_view* chunk = find(std::string(name) + '_' + std::to_string(i));
    if (chunk == nullptr) break;
    if (!joined) joined.emplace();
    joined->append(*chunk);
  }
  return joined;
}

std::string set_cookie_header(const CookieAttributes& attrs, std::string_view value) {
  std::string out = attrs.name;
  out += '=';
  out += value;
  if (!attrs.path.empty()) out += "; Path=" + attrs.path;
  if (!attrs.domain.empty()) out += "; Domain=" + attrs.domain;
  if (attrs.max_age >= 0) out += "; Max-Age=" + std::to_string(attrs.max_age);
  if (attrs.max_age == 0) out += "; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
  if (attrs.secure) out += "; Secure";
  if (attrs.http_only) out += "; HttpOnly";
  if (!attrs.same_site.empty()) out += "; SameSite=" + attrs.same_site;
  return out;
}

std::vector<std::string> session_set_cookies(const CookieAttributes& attrs, std::string_view value,
                                             const std::vector<std::string_view>& present,
                                             std::size_t max_size) {
  const std::string& name = attrs.name;
  std::vector<std::string> out;
  std::vector<std::string> written;  // names set by this answer
  auto emit = [&](std::string cookie_name, std::string_view part) {
    CookieAttributes a = attrs;
    a.name = std::move(cookie_name);
    out.push_back(set_cookie_header(a, part));
    written.push_back(a.name);
  };

  if (!value.empty()) {
    if (name.size() + 1 + value.size() <= max_size) {
      emit(name, value);
    } else {
      // Each chunk's "NAME_i=" counts against max_size too.
      std::size_t index = 0;
      while (!value.empty()) {
        std::string chunk_name = name + '_' + std::to_string(index);
        if (index >= kMaxChunks || chunk_name.size() + 1 >= max_size) {
          throw std::length_error("session cookie too large for " + std::to_string(kMaxChunks) +
                                  " chunks");
        }
        std::size_t room = max_size - chunk_name.size() - 1;
        emit(std::move(chunk_name), value.substr(0, room));
        value.remove_prefix(std::min(room, value.size()));
        ++index;
      }
    }
  }

  CookieAttributes gone = attrs;
  gone.max_age = 0;
  for (std::string_view old : present) {
    if (old != name && !is_chunk_name(old, name)) continue;  // not this session's
    if (std::find(written.begin(), written.end(), old) != written.end()) continue;
    gone.name = std::string(old);
    written.push_back(gone.name);  // each name deleted once
    out.push_back(set_cookie_header(gone, ""));
  }
  return out;
}

// ---- connect headers ----

std::string connect_jwt(const Session& s, std::string_view secret, std::int64_t now,
                        std::int64_t expires) {
  JsonPtr payload(json_object());
  set_member(payload.get(), "id", json_text(s.sub));
  set_member(payload.get(), "username",
             json_text(s.preferred_username.empty() ? s.user : s.preferred_username));
  set_member(payload.get(), "email", json_text(s.email));
  set_member(payload.get(), "nickname", json_text(s.name));
  set_member(payload.get(), "avatar", json_text(s.picture));
  set_member(payload.get(), "exp", json_integer(now + expires));
  set_member(payload.get(), "iat", json_integer(now));
  std::string input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + '.' +
                      base64url_encode(dump(payload.get()));
  Digest signature = hmac_sha256(secret, input);
  return input + '.' + base64url_encode(view(signature));
}

}  // namespace edge_auth
