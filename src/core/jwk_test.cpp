#include "core/jwk.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/testing/jose_testing.h"

namespace edge_auth {
namespace {

using testing::b64u;
using testing::TestKey;

const TestKey& rsa_key() { return testing::rsa2048(); }
const TestKey& rsa1024_key() { return testing::rsa1024(); }
const TestKey& p256_key() { return testing::p256(); }
const TestKey& p384_key() { return testing::p384(); }
const TestKey& p521_key() { return testing::p521(); }
const TestKey& ed_key() { return testing::ed25519(); }

const std::string kSecret32(32, 's');

LoadedKeys load_ok(std::string_view text) {
  Result<LoadedKeys> loaded = load_keys(text);
  EXPECT_TRUE(loaded) << loaded.error();
  return loaded ? std::move(*loaded) : LoadedKeys();
}

std::string load_error(std::string_view text) {
  Result<LoadedKeys> loaded = load_keys(text);
  EXPECT_FALSE(loaded) << "loaded " << (loaded ? loaded->keys.size() : 0) << " keys";
  return loaded ? std::string() : loaded.error();
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// ---- algorithms and the allow-list ---------------------------------------

TEST(JwsAlgNames, RoundTripForEveryAlgorithm) {
  for (int i = 0; i <= static_cast<int>(JwsAlg::EdDSA); ++i) {
    auto alg = static_cast<JwsAlg>(i);
    EXPECT_EQ(parse_alg(alg_name(alg)), alg) << alg_name(alg);
  }
}

TEST(JwsAlgNames, ExactNamesOnlyAndNeverNone) {
  for (const char* name :
       {"none", "None", "NONE", "", "hs256", "Hs256", "RS256 ", " RS256", "RS256\n", "ES256K",
        "Ed25519", "EDDSA", "eddsa", "RSA-OAEP", "A128GCM", "HS1", "RS1"}) {
    EXPECT_EQ(parse_alg(name), std::nullopt) << name;
  }
  EXPECT_EQ(parse_alg(std::string_view("HS256\0", 6)), std::nullopt);
}

TEST(JwsAlgSet, DefaultIsRs256AndEs256) {
  AlgSet algs;
  EXPECT_EQ(algs.describe(), "RS256 ES256");
  EXPECT_TRUE(algs.contains(JwsAlg::RS256));
  EXPECT_TRUE(algs.contains(JwsAlg::ES256));
  EXPECT_FALSE(algs.contains(JwsAlg::HS256));
  EXPECT_FALSE(algs.contains(JwsAlg::PS256));
  EXPECT_FALSE(algs.has_hmac());
}

TEST(JwsAlgSet, ParseNamesAndRefuseNoneInAnyCase) {
  Result<AlgSet> algs = AlgSet::parse({"HS512", "EdDSA", "PS384"});
  ASSERT_TRUE(algs) << algs.error();
  EXPECT_EQ(algs->describe(), "HS512 PS384 EdDSA");
  EXPECT_TRUE(algs->has_hmac());
  EXPECT_FALSE(algs->contains(JwsAlg::RS256));

  for (const char* none : {"none", "None", "NONE", "nOnE"}) {
    Result<AlgSet> bad = AlgSet::parse({"RS256", none});
    ASSERT_FALSE(bad) << none;
    EXPECT_TRUE(contains(bad.error(), "never accepted")) << bad.error();
  }
  Result<AlgSet> unknown = AlgSet::parse({"rs256"});
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(contains(unknown.error(), "unknown algorithm \"rs256\"")) << unknown.error();
  EXPECT_TRUE(contains(unknown.error(), "case-sensitive"));
  EXPECT_FALSE(AlgSet::parse({}));
  EXPECT_FALSE(AlgSet::parse({"RS256", ""}));
}

TEST(JwsAlgSet, OfListsExactlyTheGivenAlgorithms) {
  EXPECT_EQ(AlgSet::of({}).describe(), "");
  EXPECT_EQ(AlgSet::of({JwsAlg::ES512, JwsAlg::HS256}).describe(), "HS256 ES512");
}

// ---- JWKS ----------------------------------------------------------------

TEST(JwkLoad, EveryKeyTypeFromAJwks) {
  std::string jwks = "{\"keys\":[{" + rsa_key().jwk_members() + R"(,"kid":"r","use":"sig"},{)" +
                     p256_key().jwk_members() + R"(,"kid":"e1"},{)" + p384_key().jwk_members() +
                     R"(,"kid":"e2"},{)" + p521_key().jwk_members() + R"(,"kid":"e3"},{)" +
                     ed_key().jwk_members() + R"(,"kid":"o"},{)" +
                     TestKey::hmac(kSecret32).jwk_members() + R"(,"kid":"h","alg":"HS384"}]})";
  LoadedKeys loaded = load_ok(jwks);
  EXPECT_TRUE(loaded.warnings.empty());
  ASSERT_EQ(loaded.keys.size(), 6u);
  const auto& k = loaded.keys.keys();
  EXPECT_EQ(k[0]->kind(), KeyKind::Rsa);
  EXPECT_EQ(k[0]->kid(), "r");
  EXPECT_EQ(k[0]->describe(), "RSA 2048 bits (kid \"r\")");
  EXPECT_EQ(k[1]->kind(), KeyKind::EcP256);
  EXPECT_EQ(k[2]->kind(), KeyKind::EcP384);
  EXPECT_EQ(k[3]->kind(), KeyKind::EcP521);
  EXPECT_EQ(k[4]->kind(), KeyKind::Ed25519);
  EXPECT_EQ(k[5]->kind(), KeyKind::Hmac);
  EXPECT_EQ(k[5]->alg(), JwsAlg::HS384);
  EXPECT_EQ(k[5]->describe(), "HMAC 32 bytes (kid \"h\")");  // never the secret
}

TEST(JwkLoad, KeyTypeDecidesTheAlgorithms) {
  LoadedKeys loaded =
      load_ok("{\"keys\":[{" + rsa_key().jwk_members() + "},{" + p256_key().jwk_members() + "},{" +
              p384_key().jwk_members() + "},{" + p521_key().jwk_members() + "},{" +
              ed_key().jwk_members() + "},{" + TestKey::hmac(kSecret32).jwk_members() + "}]}");
  ASSERT_EQ(loaded.keys.size(), 6u);
  const std::vector<std::vector<JwsAlg>> fitting = {
      {JwsAlg::RS256, JwsAlg::RS384, JwsAlg::RS512, JwsAlg::PS256, JwsAlg::PS384, JwsAlg::PS512},
      {JwsAlg::ES256},
      {JwsAlg::ES384},
      {JwsAlg::ES512},
      {JwsAlg::EdDSA},
      {JwsAlg::HS256, JwsAlg::HS384, JwsAlg::HS512}};
  for (std::size_t i = 0; i < fitting.size(); ++i) {
    for (int a = 0; a <= static_cast<int>(JwsAlg::EdDSA); ++a) {
      auto alg = static_cast<JwsAlg>(a);
      bool expected = std::find(fitting[i].begin(), fitting[i].end(), alg) != fitting[i].end();
      EXPECT_EQ(loaded.keys.keys()[i]->fits(alg), expected)
          << loaded.keys.keys()[i]->describe() << " / " << alg_name(alg);
    }
  }
}

TEST(JwkLoad, OwnAlgPinsTheKeyToOneAlgorithm) {
  LoadedKeys loaded = load_ok(rsa_key().jwks(R"(,"alg":"PS256")"));
  ASSERT_EQ(loaded.keys.size(), 1u);
  EXPECT_TRUE(loaded.keys.keys()[0]->fits(JwsAlg::PS256));
  EXPECT_FALSE(loaded.keys.keys()[0]->fits(JwsAlg::RS256));
  EXPECT_FALSE(loaded.keys.keys()[0]->fits(JwsAlg::PS384));
}

TEST(JwkLoad, SingleJwkObjectIsAccepted) {
  LoadedKeys loaded = load_ok("{" + p256_key().jwk_members() + R"(,"kid":"only"})");
  ASSERT_EQ(loaded.keys.size(), 1u);
  EXPECT_EQ(loaded.keys.keys()[0]->kid(), "only");
  EXPECT_TRUE(contains(load_error("{" + rsa1024_key().jwk_members() + R"(,"kid":"weak"})"),
                       "JWK (kid \"weak\"): RSA key of 1024 bits"));
}

TEST(JwkLoad, Rsa1024IsRefusedAndSaysWhichKeyAndWhy) {
  std::string error = load_error(rsa1024_key().jwks(R"(,"kid":"old")"));
  EXPECT_TRUE(
      contains(error, "key #1 (kid \"old\"): RSA key of 1024 bits (at least 2048 required)"))
      << error;
}

TEST(JwkLoad, UsableKeysLoadAndTheRestAreListed) {
  std::string jwks = "{\"keys\":[{" + rsa1024_key().jwk_members() + R"(,"kid":"weak"},{)" +
                     rsa_key().jwk_members() + R"(,"kid":"good"},{)" + p256_key().jwk_members() +
                     R"(,"kid":"enc","use":"enc"},{"kty":"RSA","kid":"x5c-only","x5c":["MII"]},)" +
                     R"({"kty":"oct","k":"c2hvcnQ","kid":"short"},)" +
                     R"({"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"},"not an object"]})";
  LoadedKeys loaded = load_ok(jwks);
  ASSERT_EQ(loaded.keys.size(), 1u);
  EXPECT_EQ(loaded.keys.keys()[0]->kid(), "good");
  ASSERT_EQ(loaded.warnings.size(), 6u);
  EXPECT_TRUE(contains(loaded.warnings[0], "key #1 (kid \"weak\"): RSA key of 1024 bits"));
  EXPECT_TRUE(
      contains(loaded.warnings[1], "key #3 (kid \"enc\"): \"use\" is \"enc\", not \"sig\""));
  EXPECT_TRUE(contains(loaded.warnings[2], "key #4 (kid \"x5c-only\"): no \"n\" string"));
  EXPECT_TRUE(contains(loaded.warnings[3], "key #5 (kid \"short\"): HMAC secret of 5 bytes"));
  EXPECT_TRUE(contains(loaded.warnings[4], "key #6: EC curve \"secp256k1\""));
  EXPECT_TRUE(contains(loaded.warnings[5], "key #7: not a JSON object"));
}

TEST(JwkLoad, UseEncOnlyIsAnError) {
  std::string error = load_error(p256_key().jwks(R"(,"use":"enc")"));
  EXPECT_TRUE(contains(error, "no usable key in the JWKS")) << error;
  EXPECT_TRUE(contains(error, "\"use\" is \"enc\""));
}

TEST(JwkLoad, MemberRulesEachRefuseTheKey) {
  struct Case {
    std::string extra;
    std::string why;
  } cases[] = {
      {R"(,"use":"Sig")", "\"use\" is \"Sig\""},
      {R"(,"use":1)", "\"use\" is not a string"},
      {R"(,"key_ops":["sign"])", "\"key_ops\" does not allow \"verify\""},
      {R"(,"key_ops":"verify")", "\"key_ops\" is not an array"},
      {R"(,"alg":"RSA-OAEP")", "\"alg\" \"RSA-OAEP\" is not a JWS algorithm"},
      {R"(,"alg":"none")", "\"alg\" \"none\" is not a JWS algorithm"},
      {R"(,"alg":"ES256")", "\"alg\" ES256 does not fit the key type"},
      {R"(,"alg":"HS256")", "\"alg\" HS256 does not fit the key type"},
      {R"(,"alg":256)", "\"alg\" is not a string"},
      {R"(,"kid":7)", "\"kid\" is not a string"},
      {R"(,"kid":"a\nb")", "\"kid\" has control characters"},
  };
  for (const Case& c : cases) {
    std::string error = load_error(rsa_key().jwks(c.extra));
    EXPECT_TRUE(contains(error, c.why)) << c.extra << " -> " << error;
  }
  LoadedKeys ops = load_ok(rsa_key().jwks(R"(,"key_ops":["verify"],"use":"sig","alg":"RS512")"));
  EXPECT_EQ(ops.keys.size(), 1u);
}

TEST(JwkLoad, RsaMembersMustBeStrictBase64url) {
  std::string n = b64u(testing::bn_param(rsa_key().pkey(), OSSL_PKEY_PARAM_RSA_N));
  for (const std::string& bad : {n + "=", n.substr(0, 10) + "+" + n.substr(11),
                                 n.substr(0, 10) + " " + n.substr(10), std::string()}) {
    std::string error = load_error(R"({"kty":"RSA","n":")" + bad + R"(","e":"AQAB"})");
    EXPECT_TRUE(contains(error, "\"n\" is not base64url")) << error;
  }
  EXPECT_TRUE(contains(load_error(R"({"kty":"RSA","n":")" + n + R"(","e":"AQAB="})"),
                       "\"e\" is not base64url"));
  EXPECT_TRUE(contains(load_error(R"({"kty":"RSA","n":")" + n + R"("})"), "no \"e\" string"));
  // An exponent of more than 64 bits, an even one, and 1.
  EXPECT_TRUE(contains(load_error(R"({"kty":"RSA","n":")" + n + R"(","e":"AQABAQABAQAB"})"),
                       "RSA exponent longer than 64 bits"));
  for (const char* e : {"AQAA", "AQ", "AA"}) {  // 65536 (even), 1, 0
    EXPECT_TRUE(contains(load_error(R"({"kty":"RSA","n":")" + n + R"(","e":")" + e + R"("})"),
                         "RSA public key fails validation"))
        << e;
  }
  // An even modulus.
  std::string even = testing::bn_param(rsa_key().pkey(), OSSL_PKEY_PARAM_RSA_N);
  even.back() &= '\xfe';
  EXPECT_TRUE(contains(load_error(R"({"kty":"RSA","n":")" + b64u(even) + R"(","e":"AQAB"})"),
                       "RSA public key fails validation"));
  // e = 3 is small but valid.
  EXPECT_EQ(load_ok(R"({"kty":"RSA","n":")" + n + R"(","e":"Aw"})").keys.size(), 1u);
}

TEST(JwkLoad, RsaModulusWithLeadingZeroStillCountsItsBits) {
  std::string n = testing::bn_param(rsa_key().pkey(), OSSL_PKEY_PARAM_RSA_N);
  LoadedKeys loaded =
      load_ok(R"({"kty":"RSA","n":")" + b64u(std::string(1, '\0') + n) + R"(","e":"AQAB"})");
  ASSERT_EQ(loaded.keys.size(), 1u);
  EXPECT_EQ(loaded.keys.keys()[0]->describe(), "RSA 2048 bits");
  // A 1024-bit number padded to 2048 bits of bytes is still 1024 bits.
  std::string weak = testing::bn_param(rsa1024_key().pkey(), OSSL_PKEY_PARAM_RSA_N);
  EXPECT_TRUE(contains(load_error(R"({"kty":"RSA","n":")" + b64u(std::string(128, '\0') + weak) +
                                  R"(","e":"AQAB"})"),
                       "1024 bits"));
}

TEST(JwkLoad, EcPointNotOnTheCurveIsRefused) {
  int size = 32;
  std::string x = testing::bn_param(p256_key().pkey(), OSSL_PKEY_PARAM_EC_PUB_X, size);
  std::string y = testing::bn_param(p256_key().pkey(), OSSL_PKEY_PARAM_EC_PUB_Y, size);
  auto ec = [](const std::string& crv, const std::string& px, const std::string& py) {
    return R"({"kty":"EC","crv":")" + crv + R"(","x":")" + b64u(px) + R"(","y":")" + b64u(py) +
           R"("})";
  };
  EXPECT_EQ(load_ok(ec("P-256", x, y)).keys.size(), 1u);
  std::string y_off = y;
  y_off[31] ^= 1;
  EXPECT_TRUE(contains(load_error(ec("P-256", x, y_off)), "EC point is not on the curve"));
  // The point at infinity has no affine form; (0, 0) is not on P-256.
  EXPECT_TRUE(contains(load_error(ec("P-256", std::string(32, '\0'), std::string(32, '\0'))),
                       "EC point is not on the curve"));
  // A valid P-256 point named as P-384 has the wrong size.
  EXPECT_TRUE(
      contains(load_error(ec("P-384", x, y)), "EC coordinates of 32/32 bytes (48 required"));
  // Coordinates must have the full size: no stripped leading zeros, no extra ones.
  EXPECT_TRUE(contains(load_error(ec("P-256", x.substr(1), y)), "EC coordinates of 31/32 bytes"));
  EXPECT_TRUE(contains(load_error(ec("P-256", std::string(1, '\0') + x, y)), "33/32 bytes"));
  EXPECT_TRUE(contains(load_error(ec("P-257", x, y)), "EC curve \"P-257\""));
  EXPECT_TRUE(contains(load_error(R"({"kty":"EC","x":"AA","y":"AA"})"), "without a \"crv\""));
}

TEST(JwkLoad, P521PointNotOnTheCurveIsRefused) {
  std::string x = testing::bn_param(p521_key().pkey(), OSSL_PKEY_PARAM_EC_PUB_X, 66);
  std::string y = testing::bn_param(p521_key().pkey(), OSSL_PKEY_PARAM_EC_PUB_Y, 66);
  y[65] ^= 0x10;
  EXPECT_TRUE(contains(
      load_error(R"({"kty":"EC","crv":"P-521","x":")" + b64u(x) + R"(","y":")" + b64u(y) + R"("})"),
      "not on the curve"));
}

TEST(JwkLoad, OkpAndOctRules) {
  EXPECT_TRUE(contains(load_error(R"({"kty":"OKP","crv":"Ed448","x":"AA"})"), "not Ed25519"));
  EXPECT_TRUE(contains(load_error(R"({"kty":"OKP","crv":"X25519","x":"AA"})"), "not Ed25519"));
  EXPECT_TRUE(contains(
      load_error(R"({"kty":"OKP","crv":"Ed25519","x":")" + b64u(std::string(31, 'a')) + R"("})"),
      "Ed25519 key of 31 bytes"));
  EXPECT_TRUE(contains(load_error(R"({"kty":"oct","k":")" + b64u(std::string(31, 'k')) + R"("})"),
                       "HMAC secret of 31 bytes (at least 32 required"));
  EXPECT_EQ(load_ok(R"({"kty":"oct","k":")" + b64u(std::string(32, 'k')) + R"("})").keys.size(),
            1u);
  EXPECT_TRUE(contains(load_error(R"({"kty":"oct","k":""})"), "\"k\" is not base64url"));
  EXPECT_TRUE(contains(load_error(R"({"kty":"Oct","k":"AA"})"), "\"kty\" \"Oct\""));
  EXPECT_TRUE(contains(load_error(R"({"kty":5})"), "no \"kty\" string"));
}

TEST(JwkLoad, PrivateMembersAreIgnoredOnlyThePublicPartIsUsed) {
  // RFC 7515 A.3's key with its "d": the public x/y load.
  LoadedKeys loaded = load_ok(R"({"kty":"EC","crv":"P-256",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"})");
  EXPECT_EQ(loaded.keys.size(), 1u);
}

TEST(JwkLoad, DocumentLevelErrors) {
  EXPECT_TRUE(contains(load_error("{\"keys\":{}}"), "no \"keys\" array"));
  EXPECT_TRUE(contains(load_error("{\"keys\":[]}"), "no usable key in the JWKS"));
  EXPECT_TRUE(contains(load_error("{}"), "no \"keys\" array"));
  EXPECT_TRUE(contains(load_error("{\"keys\":[],\"keys\":[]}"), "duplicate member name"));
  EXPECT_TRUE(contains(load_error("{\"keys\":["), "not valid JSON"));
  EXPECT_FALSE(load_jwks("[]"));
  EXPECT_FALSE(load_jwks("\"keys\""));
  std::string deep = "{\"keys\":[" + std::string(20, '[') + std::string(20, ']') + "]}";
  EXPECT_FALSE(load_jwks(deep));
  std::string huge = "{\"keys\":[],\"pad\":\"" + std::string(kMaxKeyDocument, 'a') + "\"}";
  EXPECT_TRUE(contains(load_error(huge), "larger than"));
}

TEST(JwkLoad, ErrorsNeverQuoteKeyMaterial) {
  std::string secret = "correct horse battery staple";  // 28 bytes: too short
  Result<KeySet> hmac = load_hmac_secret(secret);
  ASSERT_FALSE(hmac);
  EXPECT_FALSE(contains(hmac.error(), "horse")) << hmac.error();
  std::string error = load_error(R"({"kty":"oct","k":")" + b64u(secret) + R"("})");
  EXPECT_FALSE(contains(error, b64u(secret))) << error;
  EXPECT_FALSE(contains(error, "horse"));
}

// ---- PEM -----------------------------------------------------------------

TEST(JwkPem, PublicKeysOfEveryType) {
  for (const TestKey* key : {&rsa_key(), &p256_key(), &p384_key(), &p521_key(), &ed_key()}) {
    LoadedKeys loaded = load_ok(key->public_pem());
    ASSERT_EQ(loaded.keys.size(), 1u);
    EXPECT_TRUE(loaded.keys.keys()[0]->kid().empty());
  }
  EXPECT_EQ(load_ok(p384_key().public_pem()).keys.keys()[0]->kind(), KeyKind::EcP384);
  EXPECT_EQ(load_ok(ed_key().public_pem()).keys.keys()[0]->kind(), KeyKind::Ed25519);
}

TEST(JwkPem, RsaPublicKeyPkcs1) {
  std::string pem = rsa_key().rsa_public_pem_pkcs1();
  ASSERT_TRUE(contains(pem, "-----BEGIN RSA PUBLIC KEY-----"));
  LoadedKeys loaded = load_ok(pem);
  ASSERT_EQ(loaded.keys.size(), 1u);
  EXPECT_EQ(loaded.keys.keys()[0]->describe(), "RSA 2048 bits");
}

TEST(JwkPem, CertificatesGiveTheirPublicKey) {
  for (const TestKey* key : {&rsa_key(), &p256_key(), &ed_key()}) {
    std::string pem = key->certificate_pem();
    ASSERT_TRUE(contains(pem, "-----BEGIN CERTIFICATE-----"));
    EXPECT_EQ(load_ok(pem).keys.size(), 1u);
  }
}

TEST(JwkPem, BundleWithTextAroundBlocks) {
  std::string bundle = "subject=CN = edge-auth test\n" + rsa_key().certificate_pem() + "\n# EC\n" +
                       p256_key().public_pem() + ed_key().public_pem();
  LoadedKeys loaded = load_ok(bundle);
  EXPECT_EQ(loaded.keys.size(), 3u);
  EXPECT_TRUE(loaded.warnings.empty());
}

TEST(JwkPem, WeakOrUnsupportedKeysAreRefused) {
  std::string error = load_error(rsa1024_key().public_pem());
  EXPECT_TRUE(contains(error, "PEM block #1 (PUBLIC KEY): RSA key of 1024 bits")) << error;
  EXPECT_TRUE(contains(load_error(rsa1024_key().certificate_pem()), "1024 bits"));
  TestKey k1 = TestKey::generate_ec("secp256k1");
  EXPECT_TRUE(contains(load_error(k1.public_pem()), "EC curve secp256k1"));
}

TEST(JwkPem, PrivateKeysAndOtherBlocksAreSkipped) {
  std::string error = load_error(p256_key().private_pem());
  EXPECT_TRUE(contains(error, "PEM block #1: a private key")) << error;
  LoadedKeys loaded =
      load_ok(p256_key().private_pem() + p256_key().public_pem() +
              "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
  EXPECT_EQ(loaded.keys.size(), 1u);
  ASSERT_EQ(loaded.warnings.size(), 2u);
  EXPECT_TRUE(contains(loaded.warnings[1], "\"CERTIFICATE REQUEST\" is not a public key"));
}

TEST(JwkPem, BrokenPem) {
  EXPECT_TRUE(contains(load_error("hello"), "no PEM block"));
  EXPECT_TRUE(contains(load_error(""), "no PEM block"));
  EXPECT_TRUE(contains(load_error("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
                       "not readable"));
  EXPECT_TRUE(contains(load_error("-----BEGIN PUBLIC KEY-----\nAAAA\n"), "no END line"));
  EXPECT_TRUE(contains(load_error("-----BEGIN PUBLIC KEY\n"), "malformed BEGIN line"));
  std::string pem = p256_key().public_pem();
  std::string cut = pem.substr(0, pem.size() / 2) + "\n-----END PUBLIC KEY-----\n";
  EXPECT_TRUE(contains(load_error(cut), "not readable"));
}

TEST(JwkPem, LoadKeysTellsJwksFromPem) {
  EXPECT_EQ(load_ok("  \n" + p256_key().jwks()).keys.size(), 1u);
  EXPECT_EQ(load_ok(p256_key().public_pem()).keys.size(), 1u);
}

// ---- HMAC secrets and sharing --------------------------------------------

TEST(JwkHmacSecret, MinimumLength) {
  EXPECT_FALSE(load_hmac_secret(std::string(31, 'x')));
  EXPECT_FALSE(load_hmac_secret(""));
  Result<KeySet> ok = load_hmac_secret(std::string(32, '\0'));  // raw bytes, NULs included
  ASSERT_TRUE(ok) << ok.error();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ(ok->keys()[0]->kind(), KeyKind::Hmac);
  EXPECT_TRUE(ok->keys()[0]->kid().empty());
  EXPECT_TRUE(ok->keys()[0]->fits(JwsAlg::HS512));
  EXPECT_FALSE(ok->keys()[0]->fits(JwsAlg::RS256));
}

TEST(JwkKeySet, CombiningSharesKeysWithoutReimport) {
  LoadedKeys a = load_ok(rsa_key().jwks());
  LoadedKeys b = load_ok(p256_key().jwks());
  KeySet all;
  all.add_all(a.keys);
  all.add_all(b.keys);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all.keys()[0].get(), a.keys.keys()[0].get());
  EXPECT_EQ(all.keys()[0].use_count(), 2);
  KeySet copy = all;
  EXPECT_EQ(copy.keys()[1].get(), b.keys.keys()[0].get());
}

}  // namespace
}  // namespace edge_auth
