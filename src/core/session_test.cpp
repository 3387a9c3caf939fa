#include "core/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/aead.h"
#include "core/base64.h"
#include "core/crypto.h"
#include "core/oidc.h"

namespace edge_auth {
namespace {

const std::string kKey = derive_key("0123456789abcdef0123456789abcdef", "edge-auth session v1");

Claims claims(std::string_view json) {
  Result<Claims> c = Claims::from_json(json);
  EXPECT_TRUE(c) << c.error();
  return std::move(*c);
}

Session sample() {
  Session s;
  s.id = "id-1";
  s.provider = "idp";
  s.sub = "u1";
  s.user = "u1";
  s.email = "a@example.test";
  s.preferred_username = "alice";
  s.name = "Alice \"A\" Ä";
  s.picture = "https://pics/a.png";
  s.groups = {"admins", "dev"};
  s.sid = "sid-1";
  s.claims = R"({"sub":"u1","x":[1,2]})";
  s.access_token = "at";
  s.refresh_token = "rt";
  s.id_token = "a.b.c";
  s.access_expires_at = 2000;
  s.created_at = 1000;
  s.last_seen = 1100;
  return s;
}

void expect_same(const Session& a, const Session& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.sub, b.sub);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.email, b.email);
  EXPECT_EQ(a.preferred_username, b.preferred_username);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.picture, b.picture);
  EXPECT_EQ(a.groups, b.groups);
  EXPECT_EQ(a.sid, b.sid);
  EXPECT_EQ(a.claims, b.claims);
  EXPECT_EQ(a.access_token, b.access_token);
  EXPECT_EQ(a.refresh_token, b.refresh_token);
  EXPECT_EQ(a.id_token, b.id_token);
  EXPECT_EQ(a.access_expires_at, b.access_expires_at);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.last_seen, b.last_seen);
}

TEST(SessionEncoding, RoundTrip) {
  Session s = sample();
  Result<Session> back = decode_session(encode_session(s));
  ASSERT_TRUE(back) << back.error();
  expect_same(s, *back);
}

TEST(SessionSeal, RoundTrip) {
  Session s = sample();
  std::string sealed = seal_session(kKey, s, "edge_auth_session");
  Result<Session> back = open_session(kKey, sealed, "edge_auth_session");
  ASSERT_TRUE(back) << back.error();
  expect_same(s, *back);
  EXPECT_FALSE(open_session(kKey, sealed, "other"));
}

TEST(SessionFromIdentity, OidcMerge) {
  Claims id = claims(R"({"sub":"u1","sid":"s1","email":"a@x.test","groups":["g1"]})");
  Claims info = claims(R"({"sub":"u1","name":"Alice","email":"b@x.test","picture":"p"})");
  TokenSetResult tokens;
  tokens.ok = true;
  tokens.access_token = "at";
  tokens.expires_at = 5000;
  Session s = session_from_identity(&id, &info, "groups", tokens, 1000, "idp");
  EXPECT_EQ(s.id.size(), 43u);
  EXPECT_EQ(s.sub, "u1");
  EXPECT_EQ(s.user, "u1");
  EXPECT_EQ(s.email, "a@x.test");
  EXPECT_EQ(s.name, "Alice");
  EXPECT_EQ(s.picture, "p");
  EXPECT_EQ(s.sid, "s1");
  EXPECT_EQ(s.groups, std::vector<std::string>{"g1"});
  EXPECT_EQ(s.access_token, "at");
  EXPECT_EQ(s.access_expires_at, 5000);
  EXPECT_EQ(s.created_at, 1000);
  EXPECT_EQ(s.last_seen, 1000);
  EXPECT_EQ(s.provider, "idp");
}

TEST(Cookies, ParseAndJoin) {
  auto cookies = parse_cookies("a=1; edge_auth_session_0=AB;edge_auth_session_1=CD");
  ASSERT_EQ(cookies.size(), 3u);
  EXPECT_EQ(join_chunks(cookies, "edge_auth_session"), "ABCD");
  EXPECT_EQ(join_chunks(cookies, "a"), "1");
  EXPECT_FALSE(join_chunks(cookies, "b"));
}

TEST(ConnectJwt, Signature) {
  Session s = sample();
  std::string jwt = connect_jwt(s, "k", 100, 300);
  std::size_t dot = jwt.rfind('.');
  Digest d = hmac_sha256("k", jwt.substr(0, dot));
  EXPECT_EQ(jwt.substr(dot + 1),
            base64url_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())));
}

// ---- lifetime policy ----

TEST(SessionState, Table) {
  SessionPolicy policy;
  policy.lifetime = 1000;
  policy.idle = 100;
  policy.refresh_before = 60;
  Session s;
  s.created_at = 10'000;
  s.last_seen = 10'000;
  s.refresh_token = "rt";
  s.access_expires_at = 10'500;
  struct Case {
    std::int64_t now;
    std::int64_t last_seen;
    std::int64_t access_expires_at;
    const char* refresh_token;
    bool ends;
    SessionState want;
    const char* why;
  } cases[] = {
      {10'000, 10'000, 10'500, "rt", false, SessionState::Valid, "fresh"},
      {10'009, 10'000, 10'500, "rt", false, SessionState::Valid, "below idle/10"},
      {10'010, 10'000, 10'500, "rt", false, SessionState::Touch, "idle/10 passed"},
      {10'099, 10'000, 10'500, "rt", false, SessionState::Touch, "just inside idle"},
      {10'100, 10'000, 10'500, "rt", false, SessionState::Expired, "idle reached"},
      {10'999, 10'950, 11'500, "rt", false, SessionState::Touch, "just inside lifetime"},
      {11'000, 10'990, 11'500, "rt", false, SessionState::Expired, "lifetime reached"},
      {10'439, 10'439, 10'500, "rt", false, SessionState::Valid, "before refresh window"},
      {10'440, 10'440, 10'500, "rt", false, SessionState::NeedsRefresh, "refresh window"},
      {10'440, 10'400, 10'500, "rt", false, SessionState::NeedsRefresh, "refresh beats touch"},
      {10'550, 10'540, 10'500, "rt", false, SessionState::NeedsRefresh, "expired, refreshable"},
      {10'550, 10'545, 10'500, "", false, SessionState::Valid, "no refresh token"},
      {10'550, 10'540, 10'500, "", true, SessionState::Expired, "no refresh token, ends"},
      {10'499, 10'490, 10'500, "", true, SessionState::Valid, "ends, not yet"},
      {10'550, 10'545, 0, "rt", true, SessionState::Valid, "expiry unknown"},
  };
  for (const Case& c : cases) {
    s.last_seen = c.last_seen;
    s.access_expires_at = c.access_expires_at;
    s.refresh_token = c.refresh_token;
    EXPECT_EQ(session_state(s, c.now, policy, c.ends), c.want) << c.why;
  }
}

// A token shorter-lived than twice refresh_before refreshes at half-life, not
// the moment it arrives (a 2 s token with refresh_before 60 s).
TEST(SessionState, ShortTokenRefreshesAtHalfLife) {
  SessionPolicy policy;
  policy.refresh_before = 60;
  Session s;
  s.created_at = 1000;
  s.last_seen = 1000;
  s.refresh_token = "rt";
  s.access_obtained_at = 1000;
  s.access_expires_at = 1010;
  EXPECT_EQ(session_state(s, 1000, policy), SessionState::Valid);
  EXPECT_EQ(session_state(s, 1004, policy), SessionState::Valid);
  EXPECT_EQ(session_state(s, 1005, policy), SessionState::NeedsRefresh);
  s.access_obtained_at = 0;  // unknown: refresh_before alone
  EXPECT_EQ(session_state(s, 1000, policy), SessionState::NeedsRefresh);
}

TEST(SessionState, NoIdleLimitNeverTouches) {
  SessionPolicy policy;  // 8 h, idle 0
  Session s;
  s.created_at = 0;
  s.last_seen = 0;
  EXPECT_EQ(session_state(s, 8 * 3600 - 1, policy), SessionState::Valid);
  EXPECT_EQ(session_state(s, 8 * 3600, policy), SessionState::Expired);
}

TEST(SessionState, TinyIdleTouchesEverySecond) {
  SessionPolicy policy;
  policy.idle = 5;  // idle / 10 = 0: at least one second
  Session s;
  s.created_at = 100;
  s.last_seen = 100;
  EXPECT_EQ(session_state(s, 100, policy), SessionState::Valid);
  EXPECT_EQ(session_state(s, 101, policy), SessionState::Touch);
  EXPECT_EQ(session_state(s, 105, policy), SessionState::Expired);
}

// ---- a new session: more ----

TEST(SessionFromIdentity, IdTokenWinsAndClaimsAreMerged) {
  Claims id = claims(R"({"sub":"u1","email":"a@x.test","name":"From ID"})");
  Claims info = claims(R"({"sub":"u1","name":"From userinfo","preferred_username":"alice",)"
                       R"("groups":"g1 g2","locale":"de"})");
  Session s = session_from_identity(&id, &info, "groups", TokenSetResult{}, 7, "idp");
  EXPECT_EQ(s.name, "From ID");
  EXPECT_EQ(s.preferred_username, "alice");
  EXPECT_EQ(s.groups, (std::vector<std::string>{"g1", "g2"}));  // space-separated string
  Claims merged = claims(s.claims);
  EXPECT_EQ(merged.get("name"), "From ID");
  EXPECT_EQ(merged.get("locale"), "de");
  EXPECT_EQ(merged.get("email"), "a@x.test");
  EXPECT_EQ(s.sid, "");
}

TEST(SessionFromIdentity, GroupsFromACustomClaimPath) {
  Claims id = claims(R"({"sub":"u1","realm_access":{"roles":["admin","user"]},)"
                     R"("https://example.com/groups":["x"]})");
  Session a = session_from_identity(&id, nullptr, "realm_access.roles", TokenSetResult{}, 1, "k");
  EXPECT_EQ(a.groups, (std::vector<std::string>{"admin", "user"}));
  Session b =
      session_from_identity(&id, nullptr, "https://example.com/groups", TokenSetResult{}, 1, "k");
  EXPECT_EQ(b.groups, std::vector<std::string>{"x"});
  Session c = session_from_identity(&id, nullptr, "", TokenSetResult{}, 1, "k");
  EXPECT_TRUE(c.groups.empty());
  Session d = session_from_identity(&id, nullptr, "groups", TokenSetResult{}, 1, "k");
  EXPECT_TRUE(d.groups.empty());
}

TEST(SessionFromIdentity, GitHub) {
  Claims user = claims(R"({"login":"octocat","id":583231,"name":"The Octocat",)"
                       R"("avatar_url":"https://avatars.example/u/583231","email":null})");
  TokenSetResult tokens;
  tokens.access_token = "gho_x";
  Session s = session_from_identity(nullptr, &user, "groups", tokens, 50, "gh");
  EXPECT_EQ(s.sub, "583231");
  EXPECT_EQ(s.user, "octocat");
  EXPECT_EQ(s.preferred_username, "octocat");
  EXPECT_EQ(s.name, "The Octocat");
  EXPECT_EQ(s.picture, "https://avatars.example/u/583231");
  EXPECT_EQ(s.email, "");  // null: the caller asks /user/emails
  EXPECT_EQ(s.access_token, "gho_x");
  EXPECT_EQ(s.access_expires_at, 0);
  EXPECT_EQ(claims(s.claims).get("login"), "octocat");
}

TEST(SessionFromIdentity, PlainOAuth2WithoutLogin) {
  Claims feishu = claims(R"({"sub":"ou_1","name":"Li","email":"li@x.test"})");
  Session s = session_from_identity(nullptr, &feishu, "groups", TokenSetResult{}, 1, "fs");
  EXPECT_EQ(s.sub, "ou_1");
  EXPECT_EQ(s.user, "ou_1");
  Claims only_id = claims(R"({"id":42})");
  Session t = session_from_identity(nullptr, &only_id, "groups", TokenSetResult{}, 1, "x");
  EXPECT_EQ(t.sub, "42");
  EXPECT_EQ(t.user, "42");
}

TEST(SessionFromIdentity, NothingKnown) {
  Session s = session_from_identity(nullptr, nullptr, "groups", TokenSetResult{}, 1, "x");
  EXPECT_EQ(s.claims, "{}");
  EXPECT_EQ(s.user, "");
  EXPECT_EQ(s.id.size(), 43u);
  EXPECT_NE(s.id, session_from_identity(nullptr, nullptr, "", TokenSetResult{}, 1, "x").id);
}

// Regression: an unverified address must not pass allowed_email_domains.
TEST(SessionFromIdentity, UnverifiedEmailIsNotTaken) {
  Claims id = claims(R"({"sub":"u","email":"boss@corp.test","email_verified":false})");
  EXPECT_EQ(session_from_identity(&id, nullptr, "", TokenSetResult{}, 1, "x").email, "");
  Claims ok = claims(R"({"sub":"u","email":"boss@corp.test","email_verified":true})");
  EXPECT_EQ(session_from_identity(&ok, nullptr, "", TokenSetResult{}, 1, "x").email,
            "boss@corp.test");
  Claims info = claims(R"({"sub":"u","email":"boss@corp.test","email_verified":"false"})");
  Claims plain = claims(R"({"sub":"u"})");
  EXPECT_EQ(session_from_identity(&plain, &info, "", TokenSetResult{}, 1, "x").email, "");
}

TEST(ApplyRefresh, RotationIsOptional) {
  Session s = sample();
  TokenSetResult t;
  t.ok = true;
  t.access_token = "at2";
  t.expires_at = 9000;
  apply_refresh(s, t, 8000);
  EXPECT_EQ(s.access_token, "at2");
  EXPECT_EQ(s.access_expires_at, 9000);
  EXPECT_EQ(s.refresh_token, "rt");
  EXPECT_EQ(s.id_token, "a.b.c");
  t.refresh_token = "rt2";
  t.id_token = "d.e.f";
  apply_refresh(s, t, 8000);
  EXPECT_EQ(s.refresh_token, "rt2");
  EXPECT_EQ(s.id_token, "d.e.f");
}

// ---- access lists ----

TEST(CheckAllowed, EachList) {
  Session s = sample();  // user u1, email a@example.test, alice, groups admins dev
  EXPECT_EQ(check_allowed(s, {}, {}, {}), "");
  EXPECT_EQ(check_allowed(s, {"u1"}, {}, {}), "");
  EXPECT_EQ(check_allowed(s, {"a@example.test"}, {}, {}), "");
  EXPECT_EQ(check_allowed(s, {"bob", "alice"}, {}, {}), "");
  EXPECT_EQ(check_allowed(s, {"Alice"}, {}, {}), "user not allowed");
  EXPECT_EQ(check_allowed(s, {"bob"}, {}, {}), "user not allowed");
  EXPECT_EQ(check_allowed(s, {}, {"example.test"}, {}), "");
  EXPECT_EQ(check_allowed(s, {}, {"EXAMPLE.Test"}, {}), "");
  EXPECT_EQ(check_allowed(s, {}, {"other.test", "*"}, {}), "");
  EXPECT_EQ(check_allowed(s, {}, {"test"}, {}), "email domain not allowed");
  EXPECT_EQ(check_allowed(s, {}, {"sub.example.test"}, {}), "email domain not allowed");
  EXPECT_EQ(check_allowed(s, {}, {}, {"dev"}), "");
  EXPECT_EQ(check_allowed(s, {}, {}, {"ops", "admins"}), "");
  EXPECT_EQ(check_allowed(s, {}, {}, {"Dev"}), "no allowed group");
  EXPECT_EQ(check_allowed(s, {"u1"}, {"example.test"}, {"ops"}), "no allowed group");
  EXPECT_EQ(check_allowed(s, {"zed"}, {"example.test"}, {"dev"}), "user not allowed");
}

TEST(CheckAllowed, EmailEdgeCases) {
  Session s = sample();
  s.email = "";
  s.preferred_username = "";
  EXPECT_EQ(check_allowed(s, {}, {"example.test"}, {}), "email domain not allowed");
  EXPECT_EQ(check_allowed(s, {}, {"*"}, {}), "");
  EXPECT_EQ(check_allowed(s, {""}, {}, {}), "user not allowed");  // "" matches no one
  s.email = "odd@name@corp.test";
  EXPECT_EQ(check_allowed(s, {}, {"corp.test"}, {}), "");
  s.email = "no-at-sign";
  EXPECT_EQ(check_allowed(s, {}, {"no-at-sign"}, {}), "email domain not allowed");
  s.email = "trailing@";
  EXPECT_EQ(check_allowed(s, {}, {""}, {}), "email domain not allowed");
}

// ---- encoding: more ----

// The encoding leaves out what decode_session restores (the cookie store
// carries it with every request): identity members equal to their claims,
// user equal to sub, empty tokens, zero times.
TEST(SessionEncoding, LeavesOutWhatTheClaimsSay) {
  Session s;
  s.id = "id-1";
  s.provider = "idp";
  s.sub = s.user = "u1";
  s.email = "a@x.test";
  s.preferred_username = "alice";
  s.name = "Alice";
  s.sid = "s1";
  s.groups = {"g1"};
  s.claims = R"({"sub":"u1","email":"a@x.test","preferred_username":"alice","name":"Alice","sid":"s1","groups":["g1"]})";
  s.refresh_token = "rt";
  s.created_at = s.last_seen = 1000;
  std::string json = encode_session(s);
  auto count = [&json](std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = json.find(what); at != std::string::npos; at = json.find(what, at + 1)) ++n;
    return n;
  };
  // once, in the claims
  for (const char* once : {R"("sub":"u1")", R"("email":"a@x.test")", R"("name":"Alice")", R"("sid":"s1")",
                           R"("preferred_username":"alice")"}) {
    EXPECT_EQ(count(once), 1u) << once << " in " << json;
  }
  for (const char* gone : {R"("user")", R"("picture")", R"("access_token")", R"("id_token")",
                           R"("access_expires_at")"}) {
    EXPECT_EQ(count(gone), 0u) << gone << " in " << json;
  }
  EXPECT_NE(json.find(R"("refresh_token":"rt")"), std::string::npos) << json;
  Result<Session> back = decode_session(json);
  ASSERT_TRUE(back) << back.error();
  expect_same(s, *back);
}

TEST(SessionEncoding, KeepsWhatDiffersFromTheClaims) {
  Session s = sample();
  // an unverified email is not taken although the claims have one; user is
  // GitHub's login, sub its numeric id; the name differs; picture has no claim
  s.claims = R"({"sub":12,"email":"a@x.test","email_verified":false,"name":"Other","login":"octo"})";
  s.sub = "12";
  s.user = "octo";
  s.email = "";
  s.name = "Alice";
  s.preferred_username = "";
  Result<Session> back = decode_session(encode_session(s));
  ASSERT_TRUE(back) << back.error();
  expect_same(s, *back);
  EXPECT_EQ(back->email, "");
}

TEST(SessionEncoding, ReadsTheEarlierFullForm) {
  // every member written, as sessions made before the compact encoding are
  Result<Session> s = decode_session(
      R"({"id":"i","provider":"p","sub":"u","user":"login","email":"","preferred_username":"pu",)"
      R"("name":"n","picture":"","groups":[],"sid":"","claims":{"sub":"u","email":"e@x.test","name":"claimed"},)"
      R"("access_token":"","refresh_token":"rt","id_token":"","access_expires_at":0,)"
      R"("access_obtained_at":0,"created_at":5,"last_seen":6})");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->user, "login");
  EXPECT_EQ(s->email, "") << "an explicit member wins over the claim";
  EXPECT_EQ(s->name, "n");
  EXPECT_EQ(s->refresh_token, "rt");
  EXPECT_EQ(s->last_seen, 6);
}

TEST(SessionFromIdentity, LeavesOutTheLoginsOneTimeClaims) {
  Claims id = claims(R"({"sub":"u1","nonce":"n-123","at_hash":"h","c_hash":"c","auth_time":7})");
  Session s = session_from_identity(&id, nullptr, "groups", TokenSetResult{}, 1000, "idp");
  EXPECT_EQ(s.claims.find("nonce"), std::string::npos) << s.claims;
  EXPECT_EQ(s.claims.find("at_hash"), std::string::npos) << s.claims;
  EXPECT_EQ(s.claims.find("c_hash"), std::string::npos) << s.claims;
  EXPECT_NE(s.claims.find("auth_time"), std::string::npos) << s.claims;
}

TEST(SessionEncoding, MissingMembersDefault) {
  Result<Session> s = decode_session(R"({"sub":"u"})");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->sub, "u");
  EXPECT_EQ(s->claims, "{}");
  EXPECT_EQ(s->created_at, 0);
  EXPECT_TRUE(s->groups.empty());
  ASSERT_TRUE(decode_session("{}"));
  // Unknown members are ignored (a newer writer).
  EXPECT_TRUE(decode_session(R"({"future":[1]})"));
}

TEST(SessionEncoding, TypeErrors) {
  EXPECT_EQ(decode_session(R"({"sub":1})").error(), "session member sub has the wrong type");
  EXPECT_EQ(decode_session(R"({"groups":"a"})").error(),
            "session member groups has the wrong type");
  EXPECT_EQ(decode_session(R"({"groups":["a",1]})").error(),
            "session member groups has the wrong type");
  EXPECT_EQ(decode_session(R"({"claims":"{}"})").error(),
            "session member claims has the wrong type");
  EXPECT_EQ(decode_session(R"({"created_at":"1"})").error(),
            "session member created_at has the wrong type");
  EXPECT_EQ(decode_session(R"({"last_seen":1.5})").error(),
            "session member last_seen has the wrong type");
  EXPECT_EQ(decode_session(R"({"access_token":null})").error(),
            "session member access_token has the wrong type");
  EXPECT_EQ(decode_session("[]").error(), "session is not a JSON object");
  EXPECT_FALSE(decode_session(""));
  EXPECT_FALSE(decode_session("{"));
  EXPECT_FALSE(decode_session(R"({"sub":"a","sub":"b"})"));  // duplicate member
}

// Fuzzing (session_decode): created_at 2^63-1 decoded, then session_state's
// created_at + lifetime overflowed (UB); likewise a state's issued_at + max_age.
TEST(SessionEncoding, TimesBeyond2To40SecondsAreRefusedNotOverflowed) {
  EXPECT_EQ(decode_session(R"({"created_at":9223372036854775807})").error(),
            "session member created_at is out of range");
  EXPECT_EQ(decode_session(R"({"last_seen":-9223372036854775808})").error(),
            "session member last_seen is out of range");
  EXPECT_FALSE(decode_session(R"({"access_expires_at":1099511627777})"));
  EXPECT_FALSE(decode_session(R"({"access_obtained_at":-1099511627777})"));
  Result<Session> edge = decode_session(R"({"created_at":1099511627776,"last_seen":-1099511627776})");
  ASSERT_TRUE(edge) << edge.error();
  SessionPolicy idle;
  idle.idle = 600;
  EXPECT_EQ(session_state(*edge, 0, idle), SessionState::Expired);

  const std::string key = derive_key("0123456789abcdef0123456789abcdef", "edge-auth state v1");
  std::string sealed = base64url_encode(
      seal(key, R"({"state":"s","issued_at":9223372036854775807})", "edge_auth_st"));
  EXPECT_EQ(open_state(key, sealed, "edge_auth_st", 1000).error(), "state cookie invalid");
}

TEST(SessionEncoding, EmptyOrBadClaimsBecomeAnEmptyObject) {
  Session s = sample();
  s.claims = "";
  EXPECT_EQ(decode_session(encode_session(s))->claims, "{}");
  s.claims = "not json";
  EXPECT_EQ(decode_session(encode_session(s))->claims, "{}");
}

// ---- sealing ----

TEST(SessionSeal, TamperedWrongKeyAndGarbage) {
  Session s = sample();
  std::string sealed = seal_session(kKey, s, "edge_auth_session");
  EXPECT_EQ(sealed.find(s.access_token + "\""), std::string::npos);
  EXPECT_EQ(sealed.find('='), std::string::npos);  // base64url, unpadded
  std::string raw;
  ASSERT_TRUE(base64url_decode(sealed, raw));
  for (std::size_t at : {std::size_t{0}, std::size_t{20}, raw.size() - 1}) {
    std::string tampered = raw;
    tampered[at] = static_cast<char>(tampered[at] ^ 1);
    Result<Session> r = open_session(kKey, base64url_encode(tampered), "edge_auth_session");
    ASSERT_FALSE(r) << at;
    EXPECT_EQ(r.error(), "session cookie invalid");
  }
  const std::string other_key =
      derive_key("another secret, also 32 bytes long", "edge-auth session v1");
  EXPECT_EQ(open_session(other_key, sealed, "edge_auth_session").error(), "session cookie invalid");
  EXPECT_EQ(open_session(kKey, sealed, "edge_auth_session_0").error(), "session cookie invalid");
  EXPECT_EQ(open_session(kKey, "", "edge_auth_session").error(), "session cookie invalid");
  EXPECT_EQ(open_session(kKey, "garbage!", "edge_auth_session").error(), "session cookie invalid");
  EXPECT_EQ(open_session(kKey, "AAAA", "edge_auth_session").error(), "session cookie invalid");
  EXPECT_EQ(open_session(kKey, sealed.substr(0, sealed.size() - 4), "edge_auth_session").error(),
            "session cookie invalid");
  // A sealed value that is not a session (valid AEAD, bad JSON) fails alike.
  std::string not_session = base64url_encode(seal(kKey, "[1,2]", "edge_auth_session"));
  EXPECT_EQ(open_session(kKey, not_session, "edge_auth_session").error(), "session cookie invalid");
}

TEST(StateSeal, RoundTripAndExpiry) {
  const std::string key = derive_key("0123456789abcdef0123456789abcdef", "edge-auth state v1");
  LoginRequest login;
  login.state = "65000000abcdefghijklmnopqrstuvwxyz012345";
  login.nonce = "n";
  login.verifier = "v";
  login.return_to = "/after?x=1";
  login.issued_at = 1000;
  const std::string name = state_cookie_name("edge_auth_session", login.state);
  std::string sealed = seal_state(key, login, name);
  Result<LoginRequest> back = open_state(key, sealed, name, 1599);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->state, login.state);
  EXPECT_EQ(back->nonce, "n");
  EXPECT_EQ(back->verifier, "v");
  EXPECT_EQ(back->return_to, "/after?x=1");
  EXPECT_EQ(back->issued_at, 1000);
  EXPECT_EQ(open_state(key, sealed, name, 1600).error(), "state cookie expired");
  EXPECT_TRUE(open_state(key, sealed, name, 1609, 610));
  EXPECT_EQ(open_state(key, sealed, "edge_auth_session_st_other", 1001).error(),
            "state cookie invalid");
  EXPECT_EQ(open_state(kKey, sealed, name, 1001).error(), "state cookie invalid");
  EXPECT_EQ(open_state(key, "", name, 1001).error(), "state cookie invalid");
  // A session sealed with the state key is not a state.
  EXPECT_FALSE(open_state(key, seal_session(key, sample(), name), name, 1001));
}

TEST(StateCookieName, First20CharsOfState) {
  EXPECT_EQ(state_cookie_name("edge_auth_session", "65000000abcdefghijklmnopqrstuvwxyz012345"),
            "edge_auth_session_st_65000000abcdefghijkl");
  EXPECT_EQ(state_cookie_name("s", "short"), "s_st_short");
  // Names sort by the login's time.
  EXPECT_LT(state_cookie_name("s", new_login("/", 0x60000000).state),
            state_cookie_name("s", new_login("/", 0x60000001).state));
}

// ---- Cookie header ----

TEST(ParseCookies, Leniency) {
  auto c = parse_cookies(" a=1;b = 2 ;  c=\"quoted value\";flag; =novalue; d=; e=x=y;;\tf=\"\"");
  std::vector<std::pair<std::string, std::string>> got(c.begin(), c.end());
  std::vector<std::pair<std::string, std::string>> want = {
      {"a", "1"}, {"b", "2"}, {"c", "quoted value"}, {"d", ""}, {"e", "x=y"}, {"f", ""}};
  EXPECT_EQ(got, want);
  EXPECT_TRUE(parse_cookies("").empty());
  EXPECT_TRUE(parse_cookies(";;;").empty());
  auto lone_quote = parse_cookies("q=\"");
  ASSERT_EQ(lone_quote.size(), 1u);
  EXPECT_EQ(lone_quote[0].second, "\"");
}

TEST(ParseCookies, SeveralHeadersJoined) {
  // nginx joins repeated Cookie headers with "; ".
  const std::string joined = std::string("a=1; b=2") + "; " + "edge_auth_session=S; c=3";
  auto c = parse_cookies(joined);  // views into `joined`
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(join_chunks(c, "edge_auth_session"), "S");
  EXPECT_EQ(c[3].first, "c");
}

TEST(JoinChunks, Cases) {
  auto one = parse_cookies("x=1; s=WHOLE");
  EXPECT_EQ(join_chunks(one, "s"), "WHOLE");
  auto chunks = parse_cookies("s_1=B; x=1; s_0=A; s_2=C");
  EXPECT_EQ(join_chunks(chunks, "s"), "ABC");
  auto gap = parse_cookies("s_0=A; s_2=C");
  EXPECT_EQ(join_chunks(gap, "s"), "A");  // stops at the first missing index
  auto no_first = parse_cookies("s_1=B; s_2=C");
  EXPECT_FALSE(join_chunks(no_first, "s"));
  auto both = parse_cookies("s_0=A; s=WHOLE; s_1=B");
  EXPECT_EQ(join_chunks(both, "s"), "WHOLE");  // NAME wins over chunks
  auto prefix = parse_cookies("ss=1; s_x=2; s_00=3");
  EXPECT_FALSE(join_chunks(prefix, "s"));
  auto empty = parse_cookies("s=");
  EXPECT_EQ(join_chunks(empty, "s"), "");
  auto repeated = parse_cookies("s=first; s=second");
  EXPECT_EQ(join_chunks(repeated, "s"), "first");
  // At most 32 chunks are read.
  std::string many;
  for (int i = 0; i < 40; ++i) many += "s_" + std::to_string(i) + "=x; ";
  EXPECT_EQ(join_chunks(parse_cookies(many), "s")->size(), 32u);
}

// ---- Set-Cookie ----

TEST(SetCookieHeader, AllAttributes) {
  CookieAttributes a;
  a.name = "edge_auth_session";
  a.domain = ".example.test";
  a.max_age = 3600;
  a.same_site = "Strict";
  EXPECT_EQ(set_cookie_header(a, "V"),
            "edge_auth_session=V; Path=/; Domain=.example.test; Max-Age=3600; Secure; HttpOnly; "
            "SameSite=Strict");
  CookieAttributes plain;
  plain.name = "n";
  plain.path = "";
  plain.secure = false;
  plain.http_only = false;
  plain.same_site = "";
  EXPECT_EQ(set_cookie_header(plain, "v"), "n=v");
  CookieAttributes defaults;
  defaults.name = "n";
  EXPECT_EQ(set_cookie_header(defaults, "v"), "n=v; Path=/; Secure; HttpOnly; SameSite=Lax");
}

TEST(SetCookieHeader, Delete) {
  CookieAttributes a;
  a.name = "n";
  a.max_age = 0;
  EXPECT_EQ(set_cookie_header(a, ""),
            "n=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; "
            "SameSite=Lax");
}

CookieAttributes session_cookie() {
  CookieAttributes a;
  a.name = "edge_auth_session";
  return a;
}

// The "NAME=VALUE" part of a Set-Cookie value.
std::string_view pair_of(std::string_view set_cookie) {
  return set_cookie.substr(0, set_cookie.find(';'));
}

bool is_deletion(std::string_view set_cookie) {
  return set_cookie.find("; Max-Age=0;") != std::string_view::npos;
}

TEST(SessionSetCookies, FitsInOneAndDeletesStaleChunks) {
  std::vector<std::string> out = session_set_cookies(
      session_cookie(), "VALUE", {"edge_auth_session_0", "edge_auth_session_1", "other"});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "edge_auth_session=VALUE; Path=/; Secure; HttpOnly; SameSite=Lax");
  EXPECT_EQ(pair_of(out[1]), "edge_auth_session_0=");
  EXPECT_TRUE(is_deletion(out[1]));
  EXPECT_EQ(pair_of(out[2]), "edge_auth_session_1=");
  EXPECT_TRUE(is_deletion(out[2]));
  // The same cookie present: overwritten, not deleted.
  EXPECT_EQ(session_set_cookies(session_cookie(), "V", {"edge_auth_session"}).size(), 1u);
}

TEST(SessionSetCookies, ExactlyMaxSizeFitsInOne) {
  const std::string name = "edge_auth_session";
  std::string value(4000 - name.size() - 1, 'v');
  EXPECT_EQ(session_set_cookies(session_cookie(), value, {}).size(), 1u);
  value += 'v';
  EXPECT_EQ(session_set_cookies(session_cookie(), value, {}).size(), 2u);
}

TEST(SessionSetCookies, ChunksOfAtMostMaxSize) {
  std::string value;
  for (int i = 0; i < 6 * 1024; ++i) value += static_cast<char>('A' + i % 26);
  std::vector<std::string> out =
      session_set_cookies(session_cookie(), value, {"edge_auth_session"});
  ASSERT_EQ(out.size(), 3u);  // two chunks + delete the single cookie
  std::string header;
  for (std::size_t i = 0; i < 2; ++i) {
    std::string_view pair = pair_of(out[i]);
    EXPECT_LE(pair.size(), 4000u);
    EXPECT_EQ(pair.substr(0, pair.find('=')), "edge_auth_session_" + std::to_string(i));
    EXPECT_FALSE(is_deletion(out[i]));
    if (!header.empty()) header += "; ";
    header += pair;
  }
  EXPECT_EQ(pair_of(out[0]).size(), 4000u);  // the first chunk is full
  EXPECT_EQ(pair_of(out[2]), "edge_auth_session=");
  EXPECT_TRUE(is_deletion(out[2]));
  // What the browser sends back joins to the value.
  EXPECT_EQ(join_chunks(parse_cookies(header), "edge_auth_session"), value);
}

TEST(SessionSetCookies, SmallMaxSize) {
  std::vector<std::string> out = session_set_cookies(session_cookie(), "abcdefghij", {}, 24);
  // "edge_auth_session_0=" is 20 bytes: 4 of value per chunk.
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(pair_of(out[0]), "edge_auth_session_0=abcd");
  EXPECT_EQ(pair_of(out[1]), "edge_auth_session_1=efgh");
  EXPECT_EQ(pair_of(out[2]), "edge_auth_session_2=ij");
  EXPECT_THROW(session_set_cookies(session_cookie(), std::string(1000, 'x'), {}, 24),
               std::length_error);  // more than 32 chunks
  EXPECT_THROW(session_set_cookies(session_cookie(), "abcdefghijklmnopqrstuvwxyz", {}, 20),
               std::length_error);  // no room for any value
}

TEST(SessionSetCookies, FewerChunksThanBefore) {
  std::string value(5000, 'x');
  std::vector<std::string> out = session_set_cookies(
      session_cookie(), value,
      {"edge_auth_session_0", "edge_auth_session_1", "edge_auth_session_2", "edge_auth_session_3",
       "edge_auth_session_3", "edge_auth_session_st_abc", "edge_auth_session_x"});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_FALSE(is_deletion(out[0]));
  EXPECT_FALSE(is_deletion(out[1]));
  EXPECT_EQ(pair_of(out[2]), "edge_auth_session_2=");
  EXPECT_TRUE(is_deletion(out[2]));
  EXPECT_EQ(pair_of(out[3]), "edge_auth_session_3=");  // once, though sent twice
  EXPECT_TRUE(is_deletion(out[3]));
}

TEST(SessionSetCookies, EmptyValueDeletesAll) {
  std::vector<std::string> out = session_set_cookies(
      session_cookie(), "", {"edge_auth_session", "edge_auth_session_0", "unrelated"});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(pair_of(out[0]), "edge_auth_session=");
  EXPECT_EQ(pair_of(out[1]), "edge_auth_session_0=");
  EXPECT_TRUE(is_deletion(out[0]));
  EXPECT_TRUE(is_deletion(out[1]));
  EXPECT_TRUE(session_set_cookies(session_cookie(), "", {}).empty());
  CookieAttributes scoped = session_cookie();
  scoped.domain = ".example.test";
  scoped.max_age = 3600;
  // Deletions keep Path and Domain (or the browser would not match them).
  EXPECT_EQ(session_set_cookies(scoped, "", {"edge_auth_session"})[0],
            "edge_auth_session=; Path=/; Domain=.example.test; Max-Age=0; Expires=Thu, 01 Jan "
            "1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax");
}

// ---- connect headers ----

// The decoded payload of a compact JWS.
Claims payload_of(const std::string& jwt) {
  std::size_t first = jwt.find('.');
  std::size_t last = jwt.rfind('.');
  std::string payload;
  EXPECT_TRUE(base64url_decode(jwt.substr(first + 1, last - first - 1), payload));
  return claims(payload);
}

TEST(ConnectJwt, Claims) {
  Session s = sample();
  std::string jwt = connect_jwt(s, "k", 100, 300);
  ASSERT_EQ(std::count(jwt.begin(), jwt.end(), '.'), 2);
  std::string header;
  ASSERT_TRUE(base64url_decode(jwt.substr(0, jwt.find('.')), header));
  EXPECT_EQ(header, R"({"alg":"HS256","typ":"JWT"})");
  Claims c = payload_of(jwt);
  EXPECT_EQ(c.get("id"), "u1");
  EXPECT_EQ(c.get("username"), "alice");
  EXPECT_EQ(c.get("email"), "a@example.test");
  EXPECT_EQ(c.get("nickname"), "Alice \"A\" Ä");
  EXPECT_EQ(c.get("avatar"), "https://pics/a.png");
  EXPECT_EQ(c.get("exp"), "400");
  EXPECT_EQ(c.get("iat"), "100");
  // Another secret, another signature.
  std::size_t last = jwt.rfind('.');
  EXPECT_NE(jwt.substr(last), connect_jwt(s, "k2", 100, 300).substr(last));
  s.preferred_username = "";
  EXPECT_EQ(payload_of(connect_jwt(s, "k", 100, 300)).get("username"), "u1");  // falls back to user
}

}  // namespace
}  // namespace edge_auth
