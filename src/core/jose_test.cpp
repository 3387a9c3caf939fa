#include "core/jose.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/jose_testing.h"

namespace edge_auth {

// Prints the reason, not a number, when an expectation fails (found by ADL).
void PrintTo(JwtStatus status, std::ostream* os) { *os << reason(status); }

namespace {

using testing::b64u;
using testing::TestKey;

constexpr std::int64_t kNow = 1'700'000'000;

const AlgSet& all_algs() {
  static const AlgSet algs = AlgSet::of({
      JwsAlg::HS256,
      JwsAlg::HS384,
      JwsAlg::HS512,
      JwsAlg::RS256,
      JwsAlg::RS384,
      JwsAlg::RS512,
      JwsAlg::PS256,
      JwsAlg::PS384,
      JwsAlg::PS512,
      JwsAlg::ES256,
      JwsAlg::ES384,
      JwsAlg::ES512,
      JwsAlg::EdDSA,
  });
  return algs;
}

KeySet keys_from(std::string_view text) {
  Result<LoadedKeys> loaded = load_keys(text);
  EXPECT_TRUE(loaded) << loaded.error();
  return loaded ? loaded->keys : KeySet();
}

// Claims valid at kNow, with more members appended.
std::string claims(std::string_view extra = "") {
  return R"({"sub":"alice","exp":)" + std::to_string(kNow + 3600) + std::string(extra) + "}";
}

JwtStatus verify(std::string_view token, const KeySet& keys, const AlgSet& algs = all_algs(),
                 const JwtPolicy& policy = JwtPolicy(), std::int64_t now = kNow) {
  VerifiedJwt out;
  return verify_jwt(token, keys, algs, policy, now, out);
}

JwtStatus verify_raw(std::string_view token, const KeySet& keys, std::string* payload = nullptr,
                     const AlgSet& algs = all_algs()) {
  VerifiedJws out;
  JwtStatus status = verify_jws(token, keys, algs, JwtPolicy(), out);
  if (payload != nullptr) *payload = out.payload;
  return status;
}

std::string with_part(std::string_view token, int index, std::string_view part) {
  std::size_t first = token.find('.');
  std::size_t second = token.find('.', first + 1);
  std::string parts[3] = {std::string(token.substr(0, first)),
                          std::string(token.substr(first + 1, second - first - 1)),
                          std::string(token.substr(second + 1))};
  parts[index] = std::string(part);
  return parts[0] + "." + parts[1] + "." + parts[2];
}

std::string part_of(std::string_view token, int index) {
  std::size_t first = token.find('.');
  std::size_t second = token.find('.', first + 1);
  if (index == 0) return std::string(token.substr(0, first));
  if (index == 1) return std::string(token.substr(first + 1, second - first - 1));
  return std::string(token.substr(second + 1));
}

std::string signature_of(std::string_view token) {
  std::string sig;
  EXPECT_TRUE(base64url_decode(part_of(token, 2), sig));
  return sig;
}

std::string flip_signature_bit(std::string_view token, std::size_t byte, int bit) {
  std::string sig = signature_of(token);
  sig[byte % sig.size()] ^= static_cast<char>(1 << bit);
  return with_part(token, 2, b64u(sig));
}

// ---- RFC vectors ----------------------------------------------------------
// Copied from the RFC texts (RFC 7515 appendix A, RFC 8037 appendix A, RFC 7520
// section 4); the split lines follow the RFCs' own line breaks.
// clang-format off

// RFC 7515 A.1-A.3 sign the same JWT claims, whose JSON has CRLF line breaks:
// {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
constexpr char kRfc7515Payload[] =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
constexpr std::int64_t kRfc7515Exp = 1300819380;

// A.1: HS256 with a 64-byte oct key; the header is {"typ":"JWT",\r\n "alg":"HS256"}.
constexpr char kRfc7515A1Key[] =
    R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})";
constexpr char kRfc7515A1Header[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
constexpr char kRfc7515A1Signature[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

// A.2: RS256 with a 2048-bit RSA key.
constexpr char kRfc7515A2Key[] =
    R"({"kty":"RSA","e":"AQAB","n":")"
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4Ql"
    "L-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUs"
    "LA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoud"
    "F8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"}";
constexpr char kRfc7515A2Header[] = "eyJhbGciOiJSUzI1NiJ9";
constexpr char kRfc7515A2Signature[] =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujG"
    "bds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6"
    "LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

// A.3: ES256 (P-256).
constexpr char kRfc7515A3Key[] =
    R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
constexpr char kRfc7515A3Header[] = "eyJhbGciOiJFUzI1NiJ9";
constexpr char kRfc7515A3Signature[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// A.4: ES512 (P-521) over the payload "Payload" (not JSON).
constexpr char kRfc7515A4Key[] =
    R"({"kty":"EC","crv":"P-521",)"
    R"("x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",)"
    R"("y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"})";
constexpr char kRfc7515A4Token[] =
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA."
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq"
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp"
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

// RFC 8037 A.4: EdDSA (Ed25519) over "Example of Ed25519 signing".
constexpr char kRfc8037Key[] =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
constexpr char kRfc8037Token[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

// RFC 7520 §3: the keys of the signature examples (the EC and the RSA key share a kid).
constexpr char kRfc7520Keys[] =
    R"({"keys":[)"
    R"({"kty":"EC","kid":"bilbo.baggins@hobbiton.example","use":"sig","crv":"P-521",)"
    R"("x":"AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9)"
    R"(A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",)"
    R"("y":"AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVy)"
    R"(SsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"},)"
    R"({"kty":"RSA","kid":"bilbo.baggins@hobbiton.example","use":"sig","e":"AQAB",)"
    R"("n":"n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT)"
    R"(-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV)"
    R"(wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-)"
    R"(oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde)"
    R"(3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC)"
    R"(LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g)"
    R"(HdrNP5zw"},)"
    R"({"kty":"oct","kid":"018c0ae5-4d9b-471b-bfd6-eef314bc7037","use":"sig","alg":"HS256",)"
    R"("k":"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}]})";

// RFC 7520 §4: the payload (Figure 8) and the signed examples.
constexpr char kRfc7520Payload[] =
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH"
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk"
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm"
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4";
constexpr char kRfc7520Plaintext[] =
    "It\xe2\x80\x99s a dangerous business, Frodo, going out your door. You step onto the road, and "
    "if you don't keep your feet, there\xe2\x80\x99s no knowing where you might be swept off to.";

// 4.1 RS256
constexpr char kRfc7520Rs256Header[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX"
    "hhbXBsZSJ9";
constexpr char kRfc7520Rs256Signature[] =
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK"
    "ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J"
    "IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w"
    "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP"
    "xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f"
    "cIe8u9ipH84ogoree7vjbU5y18kDquDg";
// 4.2 PS384 (PSS is randomized: this is the RFC's own signature)
constexpr char kRfc7520Ps384Header[] =
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX"
    "hhbXBsZSJ9";
constexpr char kRfc7520Ps384Signature[] =
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2I"
    "pN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXU"
    "vdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRX"
    "e8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT"
    "0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a"
    "6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw";
// 4.3 ES512
constexpr char kRfc7520Es512Header[] =
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX"
    "hhbXBsZSJ9";
constexpr char kRfc7520Es512Signature[] =
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvb"
    "u9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kv"
    "AD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2";
// 4.4 HS256
constexpr char kRfc7520Hs256Header[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LW"
    "VlZjMxNGJjNzAzNyJ9";
constexpr char kRfc7520Hs256Signature[] = "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";
// clang-format on

std::string compact(std::string_view header, std::string_view payload, std::string_view sig) {
  return std::string(header) + "." + std::string(payload) + "." + std::string(sig);
}

JwtPolicy policy_without_exp_requirement() {
  JwtPolicy policy;
  policy.require_exp = false;
  return policy;
}

TEST(JwsRfcVectors, Rfc7515A1Hs256) {
  KeySet keys = keys_from(kRfc7515A1Key);
  std::string token = compact(kRfc7515A1Header, kRfc7515Payload, kRfc7515A1Signature);
  VerifiedJwt out;
  ASSERT_EQ(
      verify_jwt(token, keys, AlgSet::of({JwsAlg::HS256}), JwtPolicy(), kRfc7515Exp - 60, out),
      JwtStatus::Ok);
  EXPECT_EQ(out.alg, JwsAlg::HS256);
  EXPECT_EQ(out.kid, "");
  EXPECT_EQ(out.exp, kRfc7515Exp);
  EXPECT_EQ(out.claims.get("iss"), "joe");
  EXPECT_EQ(out.claims.get("http://example.com/is_root"), "true");
  std::string payload;
  ASSERT_EQ(verify_raw(token, keys, &payload), JwtStatus::Ok);
  EXPECT_EQ(payload,
            "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
  // The same token later: expired once the leeway has passed.
  EXPECT_EQ(verify(token, keys, all_algs(), JwtPolicy(), kRfc7515Exp + 29), JwtStatus::Ok);
  EXPECT_EQ(verify(token, keys, all_algs(), JwtPolicy(), kRfc7515Exp + 30), JwtStatus::Expired);
}

TEST(JwsRfcVectors, Rfc7515A2Rs256) {
  KeySet keys = keys_from(kRfc7515A2Key);
  std::string token = compact(kRfc7515A2Header, kRfc7515Payload, kRfc7515A2Signature);
  EXPECT_EQ(verify(token, keys, AlgSet(), JwtPolicy(), kRfc7515Exp - 60), JwtStatus::Ok);
  EXPECT_EQ(
      verify(flip_signature_bit(token, 100, 3), keys, AlgSet(), JwtPolicy(), kRfc7515Exp - 60),
      JwtStatus::SignatureMismatch);
}

TEST(JwsRfcVectors, Rfc7515A3Es256) {
  KeySet keys = keys_from(kRfc7515A3Key);
  std::string token = compact(kRfc7515A3Header, kRfc7515Payload, kRfc7515A3Signature);
  EXPECT_EQ(verify(token, keys, AlgSet(), JwtPolicy(), kRfc7515Exp - 60), JwtStatus::Ok);
  EXPECT_EQ(verify(flip_signature_bit(token, 40, 0), keys, AlgSet(), JwtPolicy(), kRfc7515Exp - 60),
            JwtStatus::SignatureMismatch);
}

TEST(JwsRfcVectors, Rfc7515A4Es512OverPlainText) {
  KeySet keys = keys_from(kRfc7515A4Key);
  std::string payload;
  ASSERT_EQ(verify_raw(kRfc7515A4Token, keys, &payload), JwtStatus::Ok);
  EXPECT_EQ(payload, "Payload");
  // "Payload" is not a JWT claims set; the signature is checked first.
  EXPECT_EQ(verify(kRfc7515A4Token, keys), JwtStatus::PayloadMalformed);
  EXPECT_EQ(verify_raw(flip_signature_bit(kRfc7515A4Token, 131, 7), keys),
            JwtStatus::SignatureMismatch);
}

TEST(JwsRfcVectors, Rfc8037A4Ed25519) {
  KeySet keys = keys_from(kRfc8037Key);
  std::string payload;
  ASSERT_EQ(verify_raw(kRfc8037Token, keys, &payload), JwtStatus::Ok);
  EXPECT_EQ(payload, "Example of Ed25519 signing");
  EXPECT_EQ(verify_raw(flip_signature_bit(kRfc8037Token, 0, 0), keys),
            JwtStatus::SignatureMismatch);
  EXPECT_EQ(verify_raw(kRfc8037Token, keys, nullptr, AlgSet()), JwtStatus::AlgNotAllowed);
}

TEST(JwsRfcVectors, Rfc7520Signatures) {
  KeySet keys = keys_from(kRfc7520Keys);
  ASSERT_EQ(keys.size(), 3u);
  struct Case {
    const char* header;
    const char* signature;
    JwsAlg alg;
    const char* kid;
  } cases[] = {
      {kRfc7520Rs256Header, kRfc7520Rs256Signature, JwsAlg::RS256,
       "bilbo.baggins@hobbiton.example"},
      {kRfc7520Ps384Header, kRfc7520Ps384Signature, JwsAlg::PS384,
       "bilbo.baggins@hobbiton.example"},
      {kRfc7520Es512Header, kRfc7520Es512Signature, JwsAlg::ES512,
       "bilbo.baggins@hobbiton.example"},
      {kRfc7520Hs256Header, kRfc7520Hs256Signature, JwsAlg::HS256,
       "018c0ae5-4d9b-471b-bfd6-eef314bc7037"},
  };
  for (const Case& c : cases) {
    std::string token = compact(c.header, kRfc7520Payload, c.signature);
    VerifiedJws out;
    ASSERT_EQ(verify_jws(token, keys, all_algs(), JwtPolicy(), out), JwtStatus::Ok) << c.header;
    EXPECT_EQ(out.payload, kRfc7520Plaintext);
    EXPECT_EQ(out.alg, c.alg);
    EXPECT_EQ(out.kid, c.kid);
    EXPECT_EQ(verify_raw(flip_signature_bit(token, 7, 5), keys), JwtStatus::SignatureMismatch);
    // A tampered payload (one character) fails too.
    std::string payload = kRfc7520Payload;
    payload[5] = payload[5] == 'A' ? 'B' : 'A';
    EXPECT_EQ(verify_raw(compact(c.header, payload, c.signature), keys),
              JwtStatus::SignatureMismatch);
    // Only the allowed algorithm is accepted.
    EXPECT_EQ(verify_raw(token, keys, nullptr, AlgSet::of({JwsAlg::EdDSA})),
              JwtStatus::AlgNotAllowed);
  }
}

TEST(JwsRfcVectors, Rfc7520Ps384SignatureIsNotPkcs1OrOtherHash) {
  KeySet keys = keys_from(kRfc7520Keys);
  // The PS384 signature under a header that says RS384 or PS256 does not verify.
  for (const char* alg : {"RS384", "PS256", "PS512"}) {
    std::string header =
        b64u(std::string(R"({"alg":")") + alg + R"(","kid":"bilbo.baggins@hobbiton.example"})");
    EXPECT_EQ(verify_raw(compact(header, kRfc7520Payload, kRfc7520Ps384Signature), keys),
              JwtStatus::SignatureMismatch)
        << alg;
  }
}

// ---- generated keys: every algorithm both ways -----------------------------

struct AlgCase {
  JwsAlg alg;
  const TestKey* key;
};

std::vector<AlgCase> every_alg() {
  static const TestKey hmac = TestKey::hmac(std::string(64, 'k'));
  return {
      {JwsAlg::HS256, &hmac},
      {JwsAlg::HS384, &hmac},
      {JwsAlg::HS512, &hmac},
      {JwsAlg::RS256, &testing::rsa2048()},
      {JwsAlg::RS384, &testing::rsa2048()},
      {JwsAlg::RS512, &testing::rsa2048()},
      {JwsAlg::PS256, &testing::rsa2048()},
      {JwsAlg::PS384, &testing::rsa2048()},
      {JwsAlg::PS512, &testing::rsa2048()},
      {JwsAlg::ES256, &testing::p256()},
      {JwsAlg::ES384, &testing::p384()},
      {JwsAlg::ES512, &testing::p521()},
      {JwsAlg::EdDSA, &testing::ed25519()},
  };
}

std::string header_for(JwsAlg alg, std::string_view extra = "") {
  return R"({"alg":")" + std::string(alg_name(alg)) + "\"" + std::string(extra) + "}";
}

TEST(JwsGenerated, EveryAlgorithmVerifiesAndOneFlippedBitFails) {
  for (const AlgCase& c : every_alg()) {
    SCOPED_TRACE(alg_name(c.alg));
    KeySet keys = keys_from(c.key->jwks(R"(,"kid":"k1")"));
    std::string token =
        c.key->sign(c.alg, header_for(c.alg, R"(,"kid":"k1","typ":"JWT")"), claims());
    VerifiedJwt out;
    ASSERT_EQ(verify_jwt(token, keys, all_algs(), JwtPolicy(), kNow, out), JwtStatus::Ok);
    EXPECT_EQ(out.alg, c.alg);
    EXPECT_EQ(out.kid, "k1");
    EXPECT_EQ(out.claims.get("sub"), "alice");
    EXPECT_EQ(out.exp, kNow + 3600);
    std::size_t size = signature_of(token).size();
    for (std::size_t byte : {std::size_t{0}, size / 2, size - 1}) {
      EXPECT_EQ(verify(flip_signature_bit(token, byte, 0), keys), JwtStatus::SignatureMismatch)
          << "byte " << byte;
    }
    // Another payload under the same signature.
    EXPECT_EQ(verify(with_part(token, 1, b64u(claims(R"(,"admin":true)"))), keys),
              JwtStatus::SignatureMismatch);
    // Also without a kid in the token: every key of the right type is tried.
    EXPECT_EQ(verify(c.key->sign(c.alg, header_for(c.alg), claims()), keys), JwtStatus::Ok);
  }
}

TEST(JwsGenerated, PemKeysVerifyToo) {
  for (const AlgCase& c : every_alg()) {
    if (c.key->pkey() == nullptr) continue;
    SCOPED_TRACE(alg_name(c.alg));
    std::string token = c.key->sign(c.alg, header_for(c.alg), claims());
    EXPECT_EQ(verify(token, keys_from(c.key->public_pem())), JwtStatus::Ok);
    EXPECT_EQ(verify(token, keys_from(c.key->certificate_pem())), JwtStatus::Ok);
  }
  std::string rs = testing::rsa2048().sign(JwsAlg::RS256, header_for(JwsAlg::RS256), claims());
  EXPECT_EQ(verify(rs, keys_from(testing::rsa2048().rsa_public_pem_pkcs1())), JwtStatus::Ok);
}

TEST(JwsGenerated, HmacSecretFromConfiguration) {
  std::string secret = "0123456789abcdef0123456789abcdef";
  Result<KeySet> keys = load_hmac_secret(secret);
  ASSERT_TRUE(keys) << keys.error();
  TestKey signer = TestKey::hmac(secret);
  for (JwsAlg alg : {JwsAlg::HS256, JwsAlg::HS384, JwsAlg::HS512}) {
    std::string token = signer.sign(alg, header_for(alg, R"(,"kid":"any")"), claims());
    EXPECT_EQ(verify(token, *keys), JwtStatus::Ok) << alg_name(alg);
    EXPECT_EQ(verify(token, *keys, AlgSet()), JwtStatus::AlgNotAllowed);
  }
  TestKey other = TestKey::hmac("0123456789abcdef0123456789abcdeF");
  EXPECT_EQ(verify(other.sign(JwsAlg::HS256, header_for(JwsAlg::HS256), claims()), *keys),
            JwtStatus::SignatureMismatch);
}

TEST(JwsGenerated, TheRightKeyAmongManyWithoutKid) {
  KeySet keys;
  keys.add_all(keys_from(testing::rsa2048_other().public_pem()));
  keys.add_all(keys_from(testing::p256().public_pem()));
  keys.add_all(keys_from(testing::rsa2048().public_pem()));
  std::string token = testing::rsa2048().sign(JwsAlg::RS256, header_for(JwsAlg::RS256), claims());
  EXPECT_EQ(verify(token, keys), JwtStatus::Ok);
}

TEST(JwsGenerated, KeySetIsUsableFromSeveralThreads) {
  auto keys =
      std::make_shared<const KeySet>(keys_from("{\"keys\":[{" + testing::p256().jwk_members() +
                                               "},{" + testing::rsa2048().jwk_members() + "}]}"));
  std::string es = testing::p256().sign(JwsAlg::ES256, header_for(JwsAlg::ES256), claims());
  std::string rs = testing::rsa2048().sign(JwsAlg::RS256, header_for(JwsAlg::RS256), claims());
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        VerifiedJwt out;
        if (verify_jwt(t % 2 ? es : rs, *keys, AlgSet(), JwtPolicy(), kNow, out) != JwtStatus::Ok) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// ---- attacks ---------------------------------------------------------------

TEST(JoseAttacks, AlgNoneInAnyCaseIsNeverAccepted) {
  KeySet keys = keys_from(testing::rsa2048().jwks());
  for (const char* none : {"none", "None", "NONE", "nOnE"}) {
    std::string header = b64u(std::string(R"({"alg":")") + none + R"("})");
    std::string body = b64u(claims());
    // Stripped signature: the token is not even three non-empty parts.
    EXPECT_EQ(verify(header + "." + body + ".", keys), JwtStatus::Malformed) << none;
    // With any signature at all, the header decides.
    EXPECT_EQ(verify(header + "." + body + "." + b64u("sig"), keys), JwtStatus::AlgNone) << none;
    EXPECT_EQ(verify(header + "." + body + "." + b64u("sig"), KeySet()), JwtStatus::AlgNone);
  }
  // RFC 7515 A.5's unsecured JWS exactly.
  EXPECT_EQ(verify(std::string("eyJhbGciOiJub25lIn0.") + kRfc7515Payload + ".", keys),
            JwtStatus::Malformed);
}

TEST(JoseAttacks, AllowListIsCheckedBeforeAnyKey) {
  TestKey hs = TestKey::hmac(std::string(32, 'h'));
  std::string token =
      hs.sign(JwsAlg::HS256, header_for(JwsAlg::HS256, R"(,"kid":"nope")"), claims());
  // No keys at all, a wrong kid: still "not allowed", as nothing else is looked at.
  EXPECT_EQ(verify(token, KeySet(), AlgSet()), JwtStatus::AlgNotAllowed);
  VerifiedJwt out;
  EXPECT_EQ(verify_jwt(token, KeySet(), AlgSet(), JwtPolicy(), kNow, out),
            JwtStatus::AlgNotAllowed);
  EXPECT_EQ(out.alg, JwsAlg::HS256);  // for the log line
  EXPECT_EQ(verify(token, KeySet(), AlgSet::of({JwsAlg::HS384})), JwtStatus::AlgNotAllowed);
  EXPECT_EQ(verify(token, KeySet(), AlgSet::of({})), JwtStatus::AlgNotAllowed);
}

// An HS256 token whose HMAC key is the text of the RSA public key the verifier
// trusts (the classic algorithm confusion): never accepted, whatever the
// configuration, because an RSA key is never an HMAC key.
TEST(JoseAttacks, Hs256SignedWithTheRsaPublicKeyPem) {
  const TestKey& rsa = testing::rsa2048();
  std::string pem = rsa.public_pem();
  TestKey forger = TestKey::hmac(pem);
  std::string forged = forger.sign(JwsAlg::HS256, header_for(JwsAlg::HS256), claims());
  std::string forged_kid =
      forger.sign(JwsAlg::HS256, header_for(JwsAlg::HS256, R"(,"kid":"rsa1")"), claims());

  KeySet from_pem = keys_from(pem);
  KeySet from_jwks = keys_from(rsa.jwks(R"(,"kid":"rsa1")"));
  EXPECT_EQ(verify(forged, from_pem, AlgSet()), JwtStatus::AlgNotAllowed);  // default list
  AlgSet careless = AlgSet::of({JwsAlg::RS256, JwsAlg::HS256});
  EXPECT_EQ(verify(forged, from_pem, careless), JwtStatus::NoKeyForAlg);
  EXPECT_EQ(verify(forged, from_jwks, careless), JwtStatus::NoKeyForAlg);
  EXPECT_EQ(verify(forged_kid, from_jwks, careless), JwtStatus::KeyAlgMismatch);
  EXPECT_EQ(verify(forged_kid, from_pem, careless), JwtStatus::UnknownKid);
  // With a real HMAC secret configured as well, the forged MAC is just wrong.
  KeySet both = from_pem;
  both.add_all(*load_hmac_secret(std::string(32, 'z')));
  EXPECT_EQ(verify(forged, both, careless), JwtStatus::SignatureMismatch);
  // The same with the JWK's n||e bytes or the DER key as the secret.
  std::string n = testing::bn_param(rsa.pkey(), OSSL_PKEY_PARAM_RSA_N);
  TestKey forger_n = TestKey::hmac(n);
  EXPECT_EQ(verify(forger_n.sign(JwsAlg::HS256, header_for(JwsAlg::HS256), claims()), from_jwks,
                   careless),
            JwtStatus::NoKeyForAlg);
}

TEST(JoseAttacks, EcdsaKeyMustMatchTheCurveOfTheAlgorithm) {
  // An ES256 token (P-256) against a P-384 key: no key fits.
  std::string token =
      testing::p256().sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"kid":"ec")"), claims());
  EXPECT_EQ(verify(token, keys_from(testing::p384().jwks(R"(,"kid":"ec")"))),
            JwtStatus::KeyAlgMismatch);
  EXPECT_EQ(verify(testing::p256().sign(JwsAlg::ES256, header_for(JwsAlg::ES256), claims()),
                   keys_from(testing::p384().jwks())),
            JwtStatus::NoKeyForAlg);
  // A P-384 signature labelled ES256 has the ES384 length: refused before any key.
  std::string p384_as_es256 =
      with_part(token, 2, b64u(testing::p384().sign_input(JwsAlg::ES384, "x")));
  EXPECT_EQ(verify(p384_as_es256, keys_from(testing::p384().jwks(R"(,"kid":"ec")"))),
            JwtStatus::SignatureMalformed);
  // Ed25519 keys are not for ECDSA, nor the other way round.
  EXPECT_EQ(verify(token, keys_from(testing::ed25519().jwks(R"(,"kid":"ec")"))),
            JwtStatus::KeyAlgMismatch);
  EXPECT_EQ(verify(testing::ed25519().sign(JwsAlg::EdDSA, header_for(JwsAlg::EdDSA), claims()),
                   keys_from(testing::p256().jwks())),
            JwtStatus::NoKeyForAlg);
}

TEST(JoseAttacks, EcdsaDerSignatureIsRefused) {
  for (const AlgCase& c : every_alg()) {
    if (alg_name(c.alg)[0] != 'E' || c.alg == JwsAlg::EdDSA) continue;
    SCOPED_TRACE(alg_name(c.alg));
    KeySet keys = keys_from(c.key->jwks());
    std::string input = b64u(header_for(c.alg)) + "." + b64u(claims());
    std::string der = c.key->sign_der(c.alg, input);
    EXPECT_EQ(verify(input + "." + b64u(der), keys), JwtStatus::SignatureMalformed);
    // The raw form of the same signature verifies (the DER was a real signature).
    EXPECT_EQ(verify(input + "." + b64u(c.key->sign_input(c.alg, input)), keys), JwtStatus::Ok);
  }
}

TEST(JoseAttacks, EcdsaRawSignatureMustHaveTheExactLength) {
  KeySet keys = keys_from(testing::p256().jwks());
  std::string input = b64u(header_for(JwsAlg::ES256)) + "." + b64u(claims());
  std::string raw = testing::p256().sign_input(JwsAlg::ES256, input);
  ASSERT_EQ(raw.size(), 64u);
  EXPECT_EQ(verify(input + "." + b64u(raw), keys), JwtStatus::Ok);
  EXPECT_EQ(verify(input + "." + b64u(raw.substr(0, 63)), keys), JwtStatus::SignatureMalformed);
  EXPECT_EQ(verify(input + "." + b64u(raw + '\0'), keys), JwtStatus::SignatureMalformed);
  EXPECT_EQ(verify(input + "." + b64u(std::string(1, '\0') + raw), keys),
            JwtStatus::SignatureMalformed);
  // r and s padded to 33 bytes each (66 bytes): the wrong length as well.
  std::string padded =
      std::string(1, '\0') + raw.substr(0, 32) + std::string(1, '\0') + raw.substr(32);
  EXPECT_EQ(verify(input + "." + b64u(padded), keys), JwtStatus::SignatureMalformed);
  // s and r swapped.
  EXPECT_EQ(verify(input + "." + b64u(raw.substr(32) + raw.substr(0, 32)), keys),
            JwtStatus::SignatureMismatch);
}

TEST(JoseAttacks, ZeroEcdsaSignatureIsRejected) {
  // r = s = 0 verifies in broken ECDSA code ("psychic signatures", CVE-2022-21449).
  for (const AlgCase& c : every_alg()) {
    if (alg_name(c.alg)[0] != 'E' || c.alg == JwsAlg::EdDSA) continue;
    std::size_t size = c.alg == JwsAlg::ES256 ? 64 : c.alg == JwsAlg::ES384 ? 96 : 132;
    std::string input = b64u(header_for(c.alg)) + "." + b64u(claims());
    KeySet keys = keys_from(c.key->jwks());
    EXPECT_EQ(verify(input + "." + b64u(std::string(size, '\0')), keys),
              JwtStatus::SignatureMismatch)
        << alg_name(c.alg);
    EXPECT_EQ(verify(input + "." + b64u(std::string(size, '\xff')), keys),
              JwtStatus::SignatureMismatch)
        << alg_name(c.alg);
  }
}

TEST(JoseAttacks, Ed25519AndHmacSignaturesMustHaveTheExactLength) {
  std::string input = b64u(header_for(JwsAlg::EdDSA)) + "." + b64u(claims());
  std::string sig = testing::ed25519().sign_input(JwsAlg::EdDSA, input);
  KeySet keys = keys_from(testing::ed25519().jwks());
  EXPECT_EQ(verify(input + "." + b64u(sig), keys), JwtStatus::Ok);
  EXPECT_EQ(verify(input + "." + b64u(sig.substr(0, 63)), keys), JwtStatus::SignatureMalformed);
  EXPECT_EQ(verify(input + "." + b64u(sig + "x"), keys), JwtStatus::SignatureMalformed);
  EXPECT_EQ(verify(input + "." + b64u(std::string(64, '\0')), keys), JwtStatus::SignatureMismatch);

  TestKey hs = TestKey::hmac(std::string(32, 'h'));
  std::string token = hs.sign(JwsAlg::HS256, header_for(JwsAlg::HS256), claims());
  std::string mac = signature_of(token);
  KeySet hkeys = *load_hmac_secret(std::string(32, 'h'));
  EXPECT_EQ(verify(token, hkeys), JwtStatus::Ok);
  EXPECT_EQ(verify(with_part(token, 2, b64u(mac.substr(0, 16))), hkeys),
            JwtStatus::SignatureMalformed);
  EXPECT_EQ(verify(with_part(token, 2, b64u(mac + mac)), hkeys), JwtStatus::SignatureMalformed);
}

TEST(JoseAttacks, RsaSignatureOfTheWrongLengthOrKey) {
  KeySet keys = keys_from(testing::rsa2048().jwks());
  std::string token = testing::rsa2048().sign(JwsAlg::RS256, header_for(JwsAlg::RS256), claims());
  std::string sig = signature_of(token);
  EXPECT_EQ(verify(with_part(token, 2, b64u(sig.substr(1))), keys), JwtStatus::SignatureMismatch);
  EXPECT_EQ(verify(with_part(token, 2, b64u(std::string(1, '\0') + sig)), keys),
            JwtStatus::SignatureMismatch);
  EXPECT_EQ(verify(with_part(token, 2, b64u(std::string(256, '\0'))), keys),
            JwtStatus::SignatureMismatch);
  // Signed by another RSA key.
  std::string other =
      testing::rsa2048_other().sign(JwsAlg::RS256, header_for(JwsAlg::RS256), claims());
  EXPECT_EQ(verify(other, keys), JwtStatus::SignatureMismatch);
  // PKCS#1 v1.5 signature presented as PSS, and PSS as PKCS#1 v1.5.
  std::string input_ps = b64u(header_for(JwsAlg::PS256)) + "." + b64u(claims());
  EXPECT_EQ(
      verify(input_ps + "." + b64u(testing::rsa2048().sign_input(JwsAlg::RS256, input_ps)), keys),
      JwtStatus::SignatureMismatch);
  std::string input_rs = b64u(header_for(JwsAlg::RS256)) + "." + b64u(claims());
  EXPECT_EQ(
      verify(input_rs + "." + b64u(testing::rsa2048().sign_input(JwsAlg::PS256, input_rs)), keys),
      JwtStatus::SignatureMismatch);
  // RS256 signature under an RS384 header.
  std::string input_384 = b64u(header_for(JwsAlg::RS384)) + "." + b64u(claims());
  EXPECT_EQ(
      verify(input_384 + "." + b64u(testing::rsa2048().sign_input(JwsAlg::RS256, input_384)), keys),
      JwtStatus::SignatureMismatch);
}

TEST(JoseAttacks, PssSaltMustBeTheHashLength) {
  // RFC 7518 §3.5: the salt is as long as the hash; other salt lengths are not PS256.
  KeySet keys = keys_from(testing::rsa2048().jwks());
  std::string input = b64u(header_for(JwsAlg::PS256)) + "." + b64u(claims());
  EXPECT_EQ(verify(input + "." + b64u(testing::rsa2048().sign_input(JwsAlg::PS256, input)), keys),
            JwtStatus::Ok);
  for (int saltlen : {0, 20, 31, 33, RSA_PSS_SALTLEN_MAX}) {
    std::string sig = testing::rsa2048().sign_input(JwsAlg::PS256, input, saltlen);
    EXPECT_EQ(verify(input + "." + b64u(sig), keys), JwtStatus::SignatureMismatch) << saltlen;
  }
}

TEST(JoseAttacks, OpenSslErrorQueueIsLeftClean) {
  // nginx's TLS code reads the same per-thread queue: failures must not leave
  // errors behind.
  ERR_clear_error();
  KeySet keys = keys_from(testing::rsa2048().jwks());
  std::string token = testing::rsa2048().sign(JwsAlg::RS256, header_for(JwsAlg::RS256), claims());
  EXPECT_EQ(verify(flip_signature_bit(token, 3, 1), keys), JwtStatus::SignatureMismatch);
  EXPECT_EQ(verify(with_part(token, 2, b64u(std::string(7, 'x'))), keys),
            JwtStatus::SignatureMismatch);
  KeySet ec = keys_from(testing::p256().jwks());
  std::string input = b64u(header_for(JwsAlg::ES256)) + "." + b64u(claims());
  EXPECT_EQ(verify(input + "." + b64u(std::string(64, '\xff')), ec), JwtStatus::SignatureMismatch);
  EXPECT_FALSE(load_keys("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  EXPECT_FALSE(load_keys(R"({"kty":"EC","crv":"P-256","x":")" + b64u(std::string(32, '\0')) +
                         R"(","y":")" + b64u(std::string(32, '\0')) + R"("})"));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(JoseAttacks, KidSelection) {
  const TestKey& a = testing::p256();
  KeySet keys = keys_from("{\"keys\":[{" + a.jwk_members() + R"(,"kid":"a"},{)" +
                          testing::rsa2048().jwk_members() + R"(,"kid":"b"}]})");
  std::string with_kid = [&](std::string kid) {
    return a.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, ",\"kid\":\"" + kid + "\""), claims());
  }("a");
  EXPECT_EQ(verify(with_kid, keys), JwtStatus::Ok);
  auto signed_with_kid = [&](std::string_view kid) {
    return a.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, ",\"kid\":\"" + std::string(kid) + "\""),
                  claims());
  };
  EXPECT_EQ(verify(signed_with_kid("c"), keys), JwtStatus::UnknownKid);
  EXPECT_EQ(verify(signed_with_kid(""), keys), JwtStatus::UnknownKid);
  EXPECT_EQ(verify(signed_with_kid("A"), keys), JwtStatus::UnknownKid);      // kids are exact
  EXPECT_EQ(verify(signed_with_kid("b"), keys), JwtStatus::KeyAlgMismatch);  // an RSA key
  VerifiedJwt out;
  EXPECT_EQ(verify_jwt(signed_with_kid("c"), keys, all_algs(), JwtPolicy(), kNow, out),
            JwtStatus::UnknownKid);
  EXPECT_EQ(out.kid, "c");  // for the log line and the JWKS refetch

  // Signed by P-256 key "a" but naming another P-256 key: mismatch, not a fallback to "a".
  const TestKey other = TestKey::generate_ec("P-256");
  KeySet two = keys_from("{\"keys\":[{" + a.jwk_members() + R"(,"kid":"a"},{)" +
                         other.jwk_members() + R"(,"kid":"o"}]})");
  EXPECT_EQ(verify(signed_with_kid("o"), two), JwtStatus::SignatureMismatch);

  // Keys without a kid (PEM, secrets) stand in for any kid.
  KeySet pem = keys_from(a.public_pem());
  EXPECT_EQ(verify(signed_with_kid("whatever"), pem), JwtStatus::Ok);
  EXPECT_EQ(verify(signed_with_kid("whatever"), keys_from(other.public_pem())),
            JwtStatus::UnknownKid);
  // kid must be a string without control characters.
  EXPECT_EQ(verify(a.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"kid":1)"), claims()), pem),
            JwtStatus::HeaderMalformed);
  EXPECT_EQ(
      verify(a.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"kid":"a\u0007")"), claims()),
             pem),
      JwtStatus::HeaderMalformed);
  EXPECT_EQ(
      verify(a.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"kid":null)"), claims()), pem),
      JwtStatus::HeaderMalformed);
}

TEST(JoseAttacks, JwkOwnAlgMustEqualTheTokenAlg) {
  const TestKey& rsa = testing::rsa2048();
  KeySet keys = keys_from(rsa.jwks(R"(,"kid":"r","alg":"RS256")"));
  std::string rs256 = rsa.sign(JwsAlg::RS256, header_for(JwsAlg::RS256, R"(,"kid":"r")"), claims());
  std::string rs384 = rsa.sign(JwsAlg::RS384, header_for(JwsAlg::RS384, R"(,"kid":"r")"), claims());
  std::string ps256 = rsa.sign(JwsAlg::PS256, header_for(JwsAlg::PS256, R"(,"kid":"r")"), claims());
  EXPECT_EQ(verify(rs256, keys), JwtStatus::Ok);
  EXPECT_EQ(verify(rs384, keys), JwtStatus::KeyAlgMismatch);
  EXPECT_EQ(verify(ps256, keys), JwtStatus::KeyAlgMismatch);
  EXPECT_EQ(verify(rsa.sign(JwsAlg::RS384, header_for(JwsAlg::RS384), claims()), keys),
            JwtStatus::NoKeyForAlg);
}

TEST(JoseAttacks, KeyWithUseEncIsNeverUsed) {
  const TestKey& ec = testing::p256();
  Result<LoadedKeys> loaded =
      load_jwks("{\"keys\":[{" + ec.jwk_members() + R"(,"kid":"e","use":"enc"},{)" +
                testing::rsa2048().jwk_members() + "}]}");
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->warnings.size(), 1u);
  std::string token = ec.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"kid":"e")"), claims());
  EXPECT_EQ(verify(token, loaded->keys), JwtStatus::UnknownKid);
}

TEST(JoseAttacks, CritIsRefusedWhateverItLists) {
  const TestKey& ec = testing::p256();
  KeySet keys = keys_from(ec.jwks());
  for (const char* crit : {R"(,"crit":["exp"],"exp":1)", R"(,"crit":["b64"],"b64":true)",
                           R"(,"crit":[])", R"(,"crit":"x")", R"(,"crit":null)"}) {
    EXPECT_EQ(verify(ec.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, crit), claims()), keys),
              JwtStatus::CritUnsupported)
        << crit;
  }
}

TEST(JoseAttacks, UnencodedPayloadIsRefused) {
  const TestKey& ec = testing::p256();
  KeySet keys = keys_from(ec.jwks());
  EXPECT_EQ(
      verify(ec.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"b64":false)"), claims()), keys),
      JwtStatus::PayloadUnencoded);
  EXPECT_EQ(verify(ec.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"b64":"false")"), claims()),
                   keys),
            JwtStatus::HeaderMalformed);
  EXPECT_EQ(
      verify(ec.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"b64":0)"), claims()), keys),
      JwtStatus::HeaderMalformed);
  // b64: true is the default encoding, so it changes nothing.
  EXPECT_EQ(
      verify(ec.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, R"(,"b64":true)"), claims()), keys),
      JwtStatus::Ok);
}

TEST(JoseAttacks, KeysInTheHeaderAreIgnored) {
  // The attacker's own key, embedded (jwk) or referenced (jku, x5u): the token
  // is checked against the configured keys only.
  TestKey attacker = TestKey::generate_ec("P-256");
  KeySet keys = keys_from(testing::p256().jwks());
  std::string extra = ",\"jwk\":{" + attacker.jwk_members() +
                      R"(},"jku":"https://evil.example/jwks","x5u":"https://evil.example/c")";
  EXPECT_EQ(verify(attacker.sign(JwsAlg::ES256, header_for(JwsAlg::ES256, extra), claims()), keys),
            JwtStatus::SignatureMismatch);
}

TEST(JoseAttacks, DuplicateMembersAreRefused) {
  const TestKey& ec = testing::p256();
  KeySet keys = keys_from(ec.jwks());
  EXPECT_EQ(verify(ec.sign(JwsAlg::ES256, R"({"alg":"ES256","alg":"none"})", claims()), keys),
            JwtStatus::HeaderMalformed);
  EXPECT_EQ(verify(ec.sign(JwsAlg::ES256, R"({"alg":"none","alg":"ES256"})", claims()), keys),
            JwtStatus::HeaderMalformed);
  EXPECT_EQ(
      verify(ec.sign(JwsAlg::ES256, header_for(JwsAlg::ES256), claims(R"(,"sub":"admin")")), keys),
      JwtStatus::PayloadMalformed);
}

TEST(JoseAttacks, TokenSizeLimit) {
  TestKey hs = TestKey::hmac(std::string(32, 'h'));
  KeySet keys = *load_hmac_secret(std::string(32, 'h'));
  std::string big = hs.sign(JwsAlg::HS256, header_for(JwsAlg::HS256),
                            claims(R"(,"pad":")" + std::string(13000, 'p') + "\""));
  ASSERT_GT(big.size(), 16u * 1024);
  EXPECT_EQ(verify(big, keys), JwtStatus::TokenTooLarge);
  JwtPolicy roomy;
  roomy.max_token_size = 64 * 1024;
  EXPECT_EQ(verify(big, keys, all_algs(), roomy), JwtStatus::Ok);
  JwtPolicy tight;
  tight.max_token_size = 100;
  std::string small = hs.sign(JwsAlg::HS256, header_for(JwsAlg::HS256), claims());
  EXPECT_EQ(verify(small, keys, all_algs(), tight), JwtStatus::TokenTooLarge);
  EXPECT_EQ(verify(std::string(1 << 20, 'a'), keys), JwtStatus::TokenTooLarge);
}

TEST(JoseAttacks, NoSingleCharacterChangeVerifies) {
  // Every position of a valid token, changed to a few other characters, and
  // every truncation: never Ok, and never a crash.
  TestKey hs = TestKey::hmac(std::string(32, 'h'));
  KeySet keys =
      keys_from("{\"keys\":[{" + testing::p256().jwk_members() + "},{" + hs.jwk_members() + "}]}");
  for (const AlgCase& c : {AlgCase{JwsAlg::ES256, &testing::p256()}, AlgCase{JwsAlg::HS256, &hs}}) {
    std::string token =
        c.key->sign(c.alg, header_for(c.alg, R"(,"typ":"JWT")"), claims(R"(,"n":1)"));
    ASSERT_EQ(verify(token, keys), JwtStatus::Ok);
    for (std::size_t i = 0; i < token.size(); ++i) {
      for (char replacement : {'A', 'B', 'Q', '_', '-', '.', '=', '+', '\0'}) {
        if (token[i] == replacement) continue;
        std::string changed = token;
        changed[i] = replacement;
        ASSERT_NE(verify(changed, keys), JwtStatus::Ok)
            << "position " << i << " -> " << replacement;
      }
    }
    for (std::size_t len = 0; len < token.size(); ++len) {
      ASSERT_NE(verify(token.substr(0, len), keys), JwtStatus::Ok) << "length " << len;
    }
  }
}

TEST(JoseAttacks, RandomInputsNeverVerify) {
  KeySet keys = keys_from("{\"keys\":[{" + testing::p256().jwk_members() + "},{" +
                          TestKey::hmac(std::string(32, 'h')).jwk_members() + "}]}");
  std::mt19937 rng(20240607);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_..=+/ \t\n\0\xff";
  std::string good_header = b64u(header_for(JwsAlg::HS256));
  for (int i = 0; i < 3000; ++i) {
    std::string token;
    std::size_t len = rng() % 200;
    for (std::size_t j = 0; j < len; ++j) token += alphabet[rng() % alphabet.size()];
    if (i % 2) token = good_header + "." + token;  // get past the header now and then
    ASSERT_NE(verify(token, keys), JwtStatus::Ok) << i;
  }
}

// ---- claims ----------------------------------------------------------------

class JwtClaims : public ::testing::Test {
 protected:
  JwtStatus check(std::string_view payload, const JwtPolicy& policy = JwtPolicy(),
                  std::int64_t now = kNow) {
    return verify(signer_.sign(JwsAlg::HS256, header_for(JwsAlg::HS256), payload), keys_,
                  all_algs(), policy, now);
  }
  static std::string exp_at(std::int64_t t) { return R"({"exp":)" + std::to_string(t) + "}"; }

  TestKey signer_ = TestKey::hmac(std::string(32, 'c'));
  KeySet keys_ = *load_hmac_secret(std::string(32, 'c'));
};

TEST_F(JwtClaims, ExpWithAndWithoutLeeway) {
  EXPECT_EQ(check(exp_at(kNow + 1)), JwtStatus::Ok);
  EXPECT_EQ(check(exp_at(kNow - 29)), JwtStatus::Ok);  // within the default 30 s
  EXPECT_EQ(check(exp_at(kNow - 30)), JwtStatus::Expired);
  EXPECT_EQ(check(exp_at(kNow - 100000)), JwtStatus::Expired);
  JwtPolicy strict;
  strict.leeway = 0;
  EXPECT_EQ(check(exp_at(kNow + 1), strict), JwtStatus::Ok);
  EXPECT_EQ(check(exp_at(kNow), strict), JwtStatus::Expired);  // valid only before exp
  JwtPolicy negative;
  negative.leeway = -100;  // treated as 0
  EXPECT_EQ(check(exp_at(kNow), negative), JwtStatus::Expired);
  EXPECT_EQ(check(exp_at(kNow + 1), negative), JwtStatus::Ok);
  JwtPolicy generous;
  generous.leeway = 300;
  EXPECT_EQ(check(exp_at(kNow - 299), generous), JwtStatus::Ok);
}

TEST_F(JwtClaims, ExpRequiredByDefault) {
  EXPECT_EQ(check(R"({"sub":"a"})"), JwtStatus::MissingExp);
  EXPECT_EQ(check("{}"), JwtStatus::MissingExp);
  EXPECT_EQ(check(R"({"sub":"a"})", policy_without_exp_requirement()), JwtStatus::Ok);
  // Without the requirement a present exp still counts.
  EXPECT_EQ(check(exp_at(kNow - 60), policy_without_exp_requirement()), JwtStatus::Expired);
}

TEST_F(JwtClaims, NbfAndIat) {
  auto at = [](const char* name, std::int64_t t) {
    return claims(",\"" + std::string(name) + "\":" + std::to_string(t));
  };
  EXPECT_EQ(check(at("nbf", kNow)), JwtStatus::Ok);
  EXPECT_EQ(check(at("nbf", kNow + 30)), JwtStatus::Ok);
  EXPECT_EQ(check(at("nbf", kNow + 31)), JwtStatus::NotYetValid);
  EXPECT_EQ(check(at("iat", kNow - 1000)), JwtStatus::Ok);
  EXPECT_EQ(check(at("iat", kNow + 30)), JwtStatus::Ok);
  EXPECT_EQ(check(at("iat", kNow + 31)), JwtStatus::IssuedInFuture);
  JwtPolicy strict;
  strict.leeway = 0;
  EXPECT_EQ(check(at("nbf", kNow + 1), strict), JwtStatus::NotYetValid);
  EXPECT_EQ(check(at("iat", kNow + 1), strict), JwtStatus::IssuedInFuture);
}

TEST_F(JwtClaims, TimeClaimsMustBeNumbers) {
  for (const char* bad : {R"({"exp":"1900000000"})", R"({"exp":null})", R"({"exp":true})",
                          R"({"exp":[1900000000]})", R"({"exp":{}})"}) {
    EXPECT_EQ(check(bad), JwtStatus::ClaimMalformed) << bad;
    EXPECT_EQ(check(bad, policy_without_exp_requirement()), JwtStatus::ClaimMalformed) << bad;
  }
  EXPECT_EQ(check(claims(R"(,"nbf":"0")")), JwtStatus::ClaimMalformed);
  EXPECT_EQ(check(claims(R"(,"iat":false)")), JwtStatus::ClaimMalformed);
  // Fractions are NumericDates too; huge and negative values do not overflow.
  EXPECT_EQ(check(R"({"exp":1700003600.75})"), JwtStatus::Ok);
  EXPECT_EQ(check(R"({"exp":1699999969.5})"), JwtStatus::Expired);
  EXPECT_EQ(check(R"({"exp":1e300})"), JwtStatus::Ok);
  EXPECT_EQ(check(R"({"exp":9223372036854775807})"), JwtStatus::Ok);
  EXPECT_EQ(check(R"({"exp":-9223372036854775807})"), JwtStatus::Expired);
  EXPECT_EQ(check(R"({"exp":-1e300})"), JwtStatus::Expired);
  EXPECT_EQ(check(claims(R"(,"nbf":-9223372036854775807,"iat":-1e300)")), JwtStatus::Ok);
  EXPECT_EQ(check(claims(R"(,"nbf":9223372036854775807)")), JwtStatus::NotYetValid);
  EXPECT_EQ(check(exp_at(kNow + 10), JwtPolicy(), std::numeric_limits<std::int64_t>::max()),
            JwtStatus::Expired);
  EXPECT_EQ(check(exp_at(kNow + 10), JwtPolicy(), std::numeric_limits<std::int64_t>::min()),
            JwtStatus::Ok);
}

TEST_F(JwtClaims, Issuer) {
  JwtPolicy policy;
  policy.issuers = {"https://idp.example", "https://other.example"};
  EXPECT_EQ(check(claims(R"(,"iss":"https://other.example")"), policy), JwtStatus::Ok);
  EXPECT_EQ(check(claims(R"(,"iss":"https://idp.example/")"), policy),
            JwtStatus::IssuerNotAccepted);
  EXPECT_EQ(check(claims(R"(,"iss":"https://IDP.example")"), policy), JwtStatus::IssuerNotAccepted);
  EXPECT_EQ(check(claims(R"(,"iss":"https://idp.exampl")"), policy), JwtStatus::IssuerNotAccepted);
  EXPECT_EQ(check(claims(R"(,"iss":"")"), policy), JwtStatus::IssuerNotAccepted);
  EXPECT_EQ(check(claims(), policy), JwtStatus::IssuerNotAccepted);
  EXPECT_EQ(check(claims(R"(,"iss":["https://idp.example"])"), policy), JwtStatus::ClaimMalformed);
  EXPECT_EQ(check(claims(R"(,"iss":7)"), policy), JwtStatus::ClaimMalformed);
  // Without configured issuers any string passes (but not another type).
  EXPECT_EQ(check(claims(R"(,"iss":"anyone")")), JwtStatus::Ok);
  EXPECT_EQ(check(claims(R"(,"iss":null)")), JwtStatus::ClaimMalformed);
}

TEST_F(JwtClaims, Audience) {
  JwtPolicy policy;
  policy.audiences = {"api", "https://api.example"};
  EXPECT_EQ(check(claims(R"(,"aud":"api")"), policy), JwtStatus::Ok);
  EXPECT_EQ(check(claims(R"(,"aud":"web")"), policy), JwtStatus::AudienceNotAccepted);
  EXPECT_EQ(check(claims(R"(,"aud":"api web")"), policy), JwtStatus::AudienceNotAccepted);
  EXPECT_EQ(check(claims(R"(,"aud":"API")"), policy), JwtStatus::AudienceNotAccepted);
  EXPECT_EQ(check(claims(R"(,"aud":["web","https://api.example"])"), policy), JwtStatus::Ok);
  EXPECT_EQ(check(claims(R"(,"aud":["web","mobile"])"), policy), JwtStatus::AudienceNotAccepted);
  EXPECT_EQ(check(claims(R"(,"aud":[])"), policy), JwtStatus::AudienceNotAccepted);
  EXPECT_EQ(check(claims(), policy), JwtStatus::AudienceNotAccepted);
  EXPECT_EQ(check(claims(R"(,"aud":["api",1])"), policy), JwtStatus::ClaimMalformed);
  EXPECT_EQ(check(claims(R"(,"aud":[["api"]])"), policy), JwtStatus::ClaimMalformed);
  EXPECT_EQ(check(claims(R"(,"aud":{"api":true})"), policy), JwtStatus::ClaimMalformed);
  EXPECT_EQ(check(claims(R"(,"aud":["web"])")), JwtStatus::Ok);  // not configured: not checked
  EXPECT_EQ(check(claims(R"(,"aud":5)")), JwtStatus::ClaimMalformed);
}

TEST_F(JwtClaims, OrderOfChecks) {
  JwtPolicy policy;
  policy.issuers = {"good"};
  policy.audiences = {"api"};
  // Types first, then time, then issuer, then audience.
  EXPECT_EQ(check(R"({"exp":"x","iss":"bad","aud":"web"})", policy), JwtStatus::ClaimMalformed);
  EXPECT_EQ(check(R"({"exp":1,"iss":"bad","aud":"web"})", policy), JwtStatus::Expired);
  EXPECT_EQ(check(claims(R"(,"iss":"bad","aud":"web")"), policy), JwtStatus::IssuerNotAccepted);
  EXPECT_EQ(check(claims(R"(,"iss":"good","aud":"web")"), policy), JwtStatus::AudienceNotAccepted);
  EXPECT_EQ(check(claims(R"(,"iss":"good","aud":"api")"), policy), JwtStatus::Ok);
}

TEST_F(JwtClaims, CheckTimeForACachedResult) {
  VerifiedJwt out;
  std::string token = signer_.sign(JwsAlg::HS256, header_for(JwsAlg::HS256),
                                   claims(",\"nbf\":" + std::to_string(kNow - 10)));
  ASSERT_EQ(verify_jwt(token, keys_, all_algs(), JwtPolicy(), kNow, out), JwtStatus::Ok);
  EXPECT_EQ(check_time(out.claims, JwtPolicy(), kNow + 3600 + 29), JwtStatus::Ok);
  EXPECT_EQ(check_time(out.claims, JwtPolicy(), kNow + 3600 + 30), JwtStatus::Expired);
  EXPECT_EQ(check_time(out.claims, JwtPolicy(), kNow - 100), JwtStatus::NotYetValid);
  Result<Claims> no_exp = Claims::from_json(R"({"sub":"a"})");
  EXPECT_EQ(check_time(*no_exp, JwtPolicy(), kNow), JwtStatus::MissingExp);
  EXPECT_EQ(check_time(*no_exp, policy_without_exp_requirement(), kNow), JwtStatus::Ok);
  Result<Claims> bad = Claims::from_json(R"({"exp":"soon"})");
  EXPECT_EQ(check_time(*bad, JwtPolicy(), kNow), JwtStatus::ClaimMalformed);
  EXPECT_EQ(check_time(Claims(), policy_without_exp_requirement(), kNow), JwtStatus::Ok);
}

TEST_F(JwtClaims, PayloadMustBeAJsonObjectWithinLimits) {
  for (const std::string& bad :
       {std::string("[]"), std::string("null"), std::string("\"claims\""), std::string("1"),
        std::string("{"), std::string("not json"), std::string("{\"a\":1}x"),
        std::string("{\"a\":\"\\u0000\"}"), std::string("{\"a\":\"\xff\"}"),
        std::string(R"({"exp":1,"exp":2})"),
        "{\"a\":" + std::string(20, '[') + std::string(20, ']') + "}"}) {
    EXPECT_EQ(check(bad, policy_without_exp_requirement()), JwtStatus::PayloadMalformed) << bad;
  }
}

// ---- malformed inputs ------------------------------------------------------

std::string dirty_tail(std::string part) {
  // Sets an unused low bit of the last base64url character (a non-canonical
  // encoding that lenient decoders accept).
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::size_t index = alphabet.find(part.back());
  part.back() = alphabet[index | 1];
  return part;
}

TEST(JoseMalformed, TableOfInputsAllRejected) {
  TestKey hs = TestKey::hmac(std::string(32, 'm'));
  KeySet keys = keys_from("{\"keys\":[{" + hs.jwk_members() + "},{" +
                          testing::rsa2048().jwk_members() + "}]}");
  auto sign = [&](std::string_view header, std::string_view payload) {
    return hs.sign(JwsAlg::HS256, header, payload);
  };
  const std::string h = R"({"alg":"HS256"})";
  const std::string good = sign(h, claims());
  ASSERT_EQ(verify(good, keys), JwtStatus::Ok);
  const std::string H = part_of(good, 0), P = part_of(good, 1), S = part_of(good, 2);
  ASSERT_EQ(S.size() % 4, 3u);  // 32 bytes: a partial last group, for dirty_tail

  struct Row {
    const char* what;
    std::string token;
    JwtStatus expected;
  };
  const std::vector<Row> rows = {
      {"empty", "", JwtStatus::Malformed},
      {"one dot", ".", JwtStatus::Malformed},
      {"two dots", "..", JwtStatus::Malformed},
      {"three dots", "...", JwtStatus::Malformed},
      {"one part", H, JwtStatus::Malformed},
      {"two parts", H + "." + P, JwtStatus::Malformed},
      {"four parts", good + "." + S, JwtStatus::Malformed},
      {"five parts (JWE)", H + "." + P + "." + S + "." + S + "." + S, JwtStatus::Malformed},
      {"trailing dot", good + ".", JwtStatus::Malformed},
      {"empty header", "." + P + "." + S, JwtStatus::Malformed},
      {"empty payload", H + ".." + S, JwtStatus::Malformed},
      {"stripped signature", H + "." + P + ".", JwtStatus::Malformed},
      {"padded header", sign(R"({"alg":"HS256" })", claims()).insert(22, "=="),
       JwtStatus::Malformed},
      {"padded payload", with_part(good, 1, P + "="), JwtStatus::Malformed},
      {"padded signature", good + "=", JwtStatus::Malformed},
      {"space inside", with_part(good, 1, P.substr(0, 10) + " " + P.substr(10)),
       JwtStatus::Malformed},
      {"leading space", " " + good, JwtStatus::Malformed},
      {"trailing newline", good + "\n", JwtStatus::Malformed},
      {"tab in signature", with_part(good, 2, S.substr(0, 5) + "\t" + S.substr(5)),
       JwtStatus::Malformed},
      {"'+' in header", with_part(good, 0, H.substr(0, 4) + "+" + H.substr(5)),
       JwtStatus::Malformed},
      {"'/' in signature", with_part(good, 2, S.substr(0, 4) + "/" + S.substr(5)),
       JwtStatus::Malformed},
      {"non-canonical last character", with_part(good, 2, dirty_tail(S)), JwtStatus::Malformed},
      {"impossible base64 length", with_part(good, 2, S + "AA"), JwtStatus::Malformed},
      {"NUL byte", with_part(good, 1, P.substr(0, 3) + std::string(1, '\0') + P.substr(3)),
       JwtStatus::Malformed},
      {"binary garbage", "\xff\xfe.\x01\x02.\x80", JwtStatus::Malformed},
      {"header not JSON", sign("hello", claims()), JwtStatus::HeaderMalformed},
      {"header an array", sign(R"(["alg","HS256"])", claims()), JwtStatus::HeaderMalformed},
      {"header a string", sign(R"("HS256")", claims()), JwtStatus::HeaderMalformed},
      {"header null", sign("null", claims()), JwtStatus::HeaderMalformed},
      {"header without alg", sign(R"({"typ":"JWT"})", claims()), JwtStatus::HeaderMalformed},
      {"alg a number", sign(R"({"alg":256})", claims()), JwtStatus::HeaderMalformed},
      {"alg null", sign(R"({"alg":null})", claims()), JwtStatus::HeaderMalformed},
      {"alg an array", sign(R"({"alg":["HS256"]})", claims()), JwtStatus::HeaderMalformed},
      {"header trailing garbage", sign(R"({"alg":"HS256"}x)", claims()),
       JwtStatus::HeaderMalformed},
      {"header two objects", sign(R"({"alg":"HS256"}{})", claims()), JwtStatus::HeaderMalformed},
      {"header NUL escape", sign(R"({"alg":"HS256","kid":"a\u0000b"})", claims()),
       JwtStatus::HeaderMalformed},
      {"header invalid UTF-8", sign("{\"alg\":\"HS256\",\"x\":\"\xc3\x28\"}", claims()),
       JwtStatus::HeaderMalformed},
      {"header nested too deep",
       sign(R"({"alg":"HS256","x":)" + std::string(20, '[') + std::string(20, ']') + "}", claims()),
       JwtStatus::HeaderMalformed},
      {"header too large",
       sign(R"({"alg":"HS256","x":")" + std::string(9000, 'x') + "\"}", claims()),
       JwtStatus::HeaderMalformed},
      {"alg lower case", sign(R"({"alg":"hs256"})", claims()), JwtStatus::AlgUnknown},
      {"alg with a space", sign(R"({"alg":"HS256 "})", claims()), JwtStatus::AlgUnknown},
      {"alg empty", sign(R"({"alg":""})", claims()), JwtStatus::AlgUnknown},
      {"alg a JWE algorithm", sign(R"({"alg":"RSA-OAEP"})", claims()), JwtStatus::AlgUnknown},
      {"alg ES256K", sign(R"({"alg":"ES256K"})", claims()), JwtStatus::AlgUnknown},
      {"alg none", sign(R"({"alg":"none"})", claims()), JwtStatus::AlgNone},
      {"alg None", sign(R"({"alg":"None"})", claims()), JwtStatus::AlgNone},
      {"crit", sign(R"({"alg":"HS256","crit":["x"],"x":1})", claims()), JwtStatus::CritUnsupported},
      {"b64 false", sign(R"({"alg":"HS256","b64":false,"crit":["b64"]})", claims()),
       JwtStatus::CritUnsupported},
      {"b64 false without crit", sign(R"({"alg":"HS256","b64":false})", claims()),
       JwtStatus::PayloadUnencoded},
      {"HMAC too short", with_part(good, 2, b64u("short")), JwtStatus::SignatureMalformed},
      {"payload not JSON", sign(h, "hello"), JwtStatus::PayloadMalformed},
      {"payload an array", sign(h, "[1,2]"), JwtStatus::PayloadMalformed},
      {"payload duplicate exp", sign(h, R"({"exp":1,"exp":1900000000})"),
       JwtStatus::PayloadMalformed},
      {"payload too deep", sign(h, R"({"x":)" + std::string(20, '[') + std::string(20, ']') + "}"),
       JwtStatus::PayloadMalformed},
      {"payload with BOM", sign(h, "\xef\xbb\xbf" + claims()), JwtStatus::PayloadMalformed},
      {"exp a string", sign(h, R"({"exp":"1900000000"})"), JwtStatus::ClaimMalformed},
      {"too large", std::string(16 * 1024 + 1, 'a'), JwtStatus::TokenTooLarge},
      {"too large, valid shape", H + "." + std::string(16 * 1024, 'A') + "." + S,
       JwtStatus::TokenTooLarge},
  };
  ASSERT_GE(rows.size(), 30u);
  for (const Row& row : rows) {
    VerifiedJwt out;
    JwtStatus status = verify_jwt(row.token, keys, all_algs(), JwtPolicy(), kNow, out);
    EXPECT_EQ(status, row.expected) << row.what;
    EXPECT_FALSE(out.claims.has("exp")) << row.what;  // nothing handed out on failure
  }
}

// ---- reasons and fingerprints -----------------------------------------------

TEST(JoseReasons, EveryStatusHasItsOwnShortText) {
  std::vector<std::string_view> seen;
  for (int i = 0; i <= static_cast<int>(JwtStatus::AudienceNotAccepted); ++i) {
    std::string_view text = reason(static_cast<JwtStatus>(i));
    EXPECT_FALSE(text.empty());
    EXPECT_LT(text.size(), 40u);
    EXPECT_EQ(std::find(seen.begin(), seen.end(), text), seen.end()) << text;
    seen.push_back(text);
  }
  EXPECT_EQ(reason(JwtStatus::Expired), "token expired");
  EXPECT_EQ(reason(JwtStatus::SignatureMismatch), "signature mismatch");
  EXPECT_EQ(reason(JwtStatus::AlgNotAllowed), "algorithm not allowed");
  EXPECT_EQ(reason(JwtStatus::UnknownKid), "unknown key id");
  EXPECT_EQ(reason(JwtStatus::IssuerNotAccepted), "issuer not accepted");
  EXPECT_EQ(reason(JwtStatus::AudienceNotAccepted), "audience not accepted");
  EXPECT_EQ(reason(JwtStatus::NotYetValid), "token not yet valid");
  EXPECT_EQ(reason(JwtStatus::Malformed), "malformed token");
}

TEST(JoseReasons, FingerprintIsAShortHashPrefix) {
  std::string token = compact(kRfc7515A1Header, kRfc7515Payload, kRfc7515A1Signature);
  std::string fp = token_fingerprint(token);
  EXPECT_EQ(fp.size(), 12u);
  EXPECT_EQ(fp, token_fingerprint(token));
  EXPECT_NE(fp, token_fingerprint(token + "x"));
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(token.find(fp), std::string::npos);
}

}  // namespace
}  // namespace edge_auth
