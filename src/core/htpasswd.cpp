#include "core/htpasswd.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/header_value.h"
#include "core/openssl_algorithms.h"
#include "core/text.h"

namespace edge_auth {
namespace {

constexpr std::string_view kApr1Prefix = "$apr1$";
constexpr std::string_view kShaPrefix = "{SHA}";
constexpr std::string_view kSshaPrefix = "{SSHA}";
constexpr std::string_view kPlainPrefix = "{PLAIN}";
constexpr std::size_t kSha1Size = 20;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// bcrypt and SHA-crypt through libxcrypt. crypt_rn touches only the
// crypt_data it is given, so it is safe in a thread pool; the struct is about
// 32 KB (too big for a thread's stack) and must start zeroed.
bool verify_crypt(std::string_view password, std::string_view hash) {
  // Both go to C as NUL-terminated strings: an embedded NUL would silently
  // shorten what is checked.
  if (password.find('\0') != std::string_view::npos || hash.find('\0') != std::string_view::npos) {
    return false;
  }
  std::string phrase(password);
  WipeOnExit phrase_guard(phrase);
  std::string setting(hash);
  auto data = std::make_unique<crypt_data>();
  const char* computed =
      crypt_rn(phrase.c_str(), setting.c_str(), data.get(), static_cast<int>(sizeof *data));
  // On failure libxcrypt returns nullptr or a string starting with '*'.
  bool ok = computed != nullptr && computed[0] != '*' &&
            constant_time_equal(std::string_view(computed), hash);
  OPENSSL_cleanse(data.get(), sizeof *data);
  return ok;
}

// One MD5 context reused for the thousand rounds of apr1, instead of a
// context allocated per round.
class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) { ok_ = ctx_ != nullptr && md() != nullptr; }
  ~Md5() { EVP_MD_CTX_free(ctx_); }
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void begin() { ok_ = ok_ && EVP_DigestInit_ex2(ctx_, md(), nullptr) == 1; }
  void add(const void* p, std::size_t n) { ok_ = ok_ && EVP_DigestUpdate(ctx_, p, n) == 1; }
  void add(std::string_view s) { add(s.data(), s.size()); }
  void finish(unsigned char (&out)[16]) {
    ok_ = ok_ && EVP_DigestFinal_ex(ctx_, out, nullptr) == 1;
  }
  bool ok() const { return ok_; }

 private:
  static const EVP_MD* md() {
    // Fetched once. nullptr where the provider has no MD5 (FIPS): apr1 then never verifies.
    static const FetchedMd md5{EVP_MD_fetch(nullptr, "MD5", nullptr)};
    return md5.get();
  }
  EVP_MD_CTX* ctx_;
  bool ok_;
};

// Apache's apr1 ($apr1$salt$hash): FreeBSD's MD5-crypt with another magic
// string, as apr_md5_encode() computes it. "" if MD5 fails.
std::string apr1_hash(std::string_view pw, std::string_view salt) {
  Md5 md5;
  unsigned char alt[16];
  unsigned char final[16];

  md5.begin();
  md5.add(pw), md5.add(salt), md5.add(pw);
  md5.finish(alt);

  md5.begin();
  md5.add(pw), md5.add(kApr1Prefix), md5.add(salt);
  for (std::size_t left = pw.size(); left > 0; left -= std::min<std::size_t>(left, 16)) {
    md5.add(alt, std::min<std::size_t>(left, 16));
  }
  // For each bit of the length: a zero byte for a 1, the first password byte for a 0.
  static constexpr unsigned char kZero = 0;
  for (std::size_t bits = pw.size(); bits != 0; bits >>= 1) {
    if (bits & 1) {
      md5.add(&kZero, 1);
    } else {
      md5.add(pw.data(), 1);
    }
  }
  md5.finish(final);

  // The rounds exist only to make guessing slower.
  for (int i = 0; i < 1000; ++i) {
    md5.begin();
    if (i & 1) {
      md5.add(pw);
    } else {
      md5.add(final, 16);
    }
    if (i % 3) md5.add(salt);
    if (i % 7) md5.add(pw);
    if (i & 1) {
      md5.add(final, 16);
    } else {
      md5.add(pw);
    }
    md5.finish(final);
  }

  std::string out;
  if (md5.ok()) {
    static constexpr char kItoa64[] =
        "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    out.append(kApr1Prefix).append(salt).append(1, '$');
    auto to64 = [&out](std::uint32_t v, int n) {
      for (; n > 0; --n, v >>= 6) out += kItoa64[v & 0x3f];
    };
    // The byte order is the algorithm's own, not a mistake.
    to64(final[0] << 16 | final[6] << 8 | final[12], 4);
    to64(final[1] << 16 | final[7] << 8 | final[13], 4);
    to64(final[2] << 16 | final[8] << 8 | final[14], 4);
    to64(final[3] << 16 | final[9] << 8 | final[15], 4);
    to64(final[4] << 16 | final[10] << 8 | final[5], 4);
    to64(final[11], 2);
  }
  OPENSSL_cleanse(alt, sizeof alt);
  OPENSSL_cleanse(final, sizeof final);
  return out;
}

bool verify_apr1(std::string_view password, std::string_view hash) {
  // As in Apache: the salt runs to the next '$', at most 8 characters.
  std::string_view rest = hash.substr(kApr1Prefix.size());
  std::string_view salt = rest.substr(0, std::min<std::size_t>(rest.find('$'), 8));
  return constant_time_equal(apr1_hash(password, salt), hash);
}

bool verify_sha1(std::string_view password, std::string_view hash) {
  std::string expected = std::string(kShaPrefix) + base64_encode(sha1(password));
  return constant_time_equal(expected, hash);
}

// {SSHA}: base64(sha1(password + salt) + salt), salt of any non-zero length.
bool verify_ssha(std::string_view password, std::string_view hash) {
  std::string decoded;
  if (!base64_decode(hash.substr(kSshaPrefix.size()), decoded) || decoded.size() <= kSha1Size) {
    return false;
  }
  std::string_view digest = std::string_view(decoded).substr(0, kSha1Size);
  std::string salted = std::string(password) + decoded.substr(kSha1Size);
  WipeOnExit salted_guard(salted);
  return constant_time_equal(sha1(salted), digest);
}

bool verify_plain(std::string_view password, std::string_view hash) {
  // Digests of both have the same length whatever the passwords' lengths, so
  // neither the length nor a common prefix shows in the time taken.
  return constant_time_equal(sha256(password), sha256(hash.substr(kPlainPrefix.size())));
}

}  // namespace

HashScheme classify_hash(std::string_view hash) {
  if (starts_with(hash, "$2y$") || starts_with(hash, "$2b$") || starts_with(hash, "$2a$")) {
    return HashScheme::Bcrypt;
  }
  if (starts_with(hash, kApr1Prefix)) return HashScheme::Apr1;
  if (starts_with(hash, kShaPrefix)) return HashScheme::Sha1;
  if (starts_with(hash, kSshaPrefix)) return HashScheme::Ssha;
  if (starts_with(hash, "$5$")) return HashScheme::Sha256Crypt;
  if (starts_with(hash, "$6$")) return HashScheme::Sha512Crypt;
  if (starts_with(hash, kPlainPrefix)) return HashScheme::Plain;
  return HashScheme::Unknown;
}

bool is_slow_hash(std::string_view hash) {
  HashScheme s = classify_hash(hash);
  return s == HashScheme::Bcrypt || s == HashScheme::Sha256Crypt || s == HashScheme::Sha512Crypt;
}

bool verify_password(std::string_view password, std::string_view hash) {
  switch (classify_hash(hash)) {
    case HashScheme::Bcrypt:
    case HashScheme::Sha256Crypt:
    case HashScheme::Sha512Crypt:
      return verify_crypt(password, hash);
    case HashScheme::Apr1:
      return verify_apr1(password, hash);
    case HashScheme::Sha1:
      return verify_sha1(password, hash);
    case HashScheme::Ssha:
      return verify_ssha(password, hash);
    case HashScheme::Plain:
      return verify_plain(password, hash);
    case HashScheme::Unknown:
      break;
  }
  return false;
}

std::string plain_hash(std::string_view password) {
  return std::string(kPlainPrefix) + std::string(password);
}

const std::string* UserTable::find(std::string_view user) const {
  auto it = users.find(std::string(user));
  return it == users.end() ? nullptr : &it->second;
}

UserTable parse_htpasswd(std::string_view text) {
  UserTable table;
  for_each_content_line(text, [&table](std::size_t line_no, std::string_view line) {
    std::string where = "line " + std::to_string(line_no) + ": ";
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      table.warnings.push_back(where + "expected user:hash");
      return true;
    }
    std::string_view user = line.substr(0, colon);
    std::string_view hash = line.substr(colon + 1);
    if (user.empty()) {
      table.warnings.push_back(where + "empty user name");
      return true;
    }
    // The user name is quoted through log_safe (the file may hold anything);
    // the hash never appears in a warning.
    std::string quoted_user = "\"" + log_safe(user) + "\"";
    if (classify_hash(hash) == HashScheme::Unknown) {
      table.warnings.push_back(where + "unsupported hash format for user " + quoted_user);
      return true;
    }
    auto [it, inserted] = table.users.insert_or_assign(std::string(user), std::string(hash));
    if (!inserted) {
      table.warnings.push_back(where + "duplicate user " + quoted_user +
                               " replaces the earlier entry");
    }
    return true;
  });
  return table;
}

}  // namespace edge_auth
