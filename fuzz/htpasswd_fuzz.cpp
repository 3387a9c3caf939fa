// htpasswd files: parse_htpasswd on arbitrary text, classify_hash and
// is_slow_hash for each entry, and verify_password for the fast schemes
// ({SHA}, {SSHA}, {PLAIN}) with the password "password" (what the seeds'
// hashes hold) and with the user's own name. apr1 (1000 MD5 rounds), bcrypt
// and SHA-crypt cost milliseconds each: password_hash fuzzes those, one hash
// per input. Input: the file.
#include "core/htpasswd.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  UserTable table = parse_htpasswd(text);
  for (const auto& [user, hash] : table.users) {
    FUZZ_CHECK(!user.empty());
    HashScheme scheme = classify_hash(hash);
    FUZZ_CHECK(scheme != HashScheme::Unknown);
    FUZZ_CHECK(table.find(user) == &hash);
    bool slow = is_slow_hash(hash);
    FUZZ_CHECK(slow == (scheme == HashScheme::Bcrypt || scheme == HashScheme::Sha256Crypt ||
                        scheme == HashScheme::Sha512Crypt));
    if (slow || scheme == HashScheme::Apr1) continue;
    (void)verify_password("password", hash);
    (void)verify_password(user, hash);
  }
  for (const std::string& warning : table.warnings) {
    // Warnings quote user names through log_safe: printable only.
    for (unsigned char c : warning) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  }
  // The whole input as a password against fixed fast hashes.
  (void)verify_password(text, "{SSHA}rXVtWiPAY6/w8MuTLKIjpBjj2mtzYWx0MTIzNA==");
  (void)verify_password(text, "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=");
  FUZZ_CHECK(verify_password(text, plain_hash("password")) == (text == "password"));
  return 0;
}
