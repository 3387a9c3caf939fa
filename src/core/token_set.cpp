#include "core/token_set.h"

#include <cstring>

#include "core/credentials.h"
#include "core/text.h"

namespace edge_auth {
namespace {

constexpr std::string_view kSha256Prefix = "sha256:";

}  // namespace

std::size_t TokenSet::DigestHash::operator()(const Digest& d) const noexcept {
  // A SHA-256 digest is already uniformly distributed: its first bytes are a hash.
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

void TokenSet::add(std::string_view token, std::string label) {
  add_digest(sha256(token), std::move(label));
}

void TokenSet::add_digest(const Digest& digest, std::string label) {
  by_digest_.insert_or_assign(digest, std::move(label));
}

Result<bool> TokenSet::add_file_content(std::string_view text) {
  // Parsed into a copy first: a file with an error changes nothing.
  TokenSet parsed;
  std::string error;
  std::size_t line_no = 0;
  // The messages describe the line, never quote it: it holds a token.
  auto fail = [&](const std::string& why) {
    error = "line " + std::to_string(line_no) + ": " + why;
    return false;
  };
  auto parse_line = [&](std::size_t number, std::string_view line) {
    line_no = number;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail("expected label:token");
    std::string_view label = line.substr(0, colon);
    std::string_view token = line.substr(colon + 1);
    if (label.empty()) return fail("empty label");
    if (has_control_chars(label)) return fail("label has control characters");
    if (token.substr(0, kSha256Prefix.size()) == kSha256Prefix) {
      std::string bytes;
      std::string_view hex = token.substr(kSha256Prefix.size());
      if (hex.size() != 64 || !from_hex(hex, bytes)) {
        return fail("sha256: needs 64 hex digits");
      }
      Digest d;
      std::memcpy(d.data(), bytes.data(), d.size());
      parsed.add_digest(d, std::string(label));
      return true;
    }
    if (token.empty()) return fail("empty token");
    if (check_token_syntax(token) != AuthStatus::Ok) {
      return fail("token must be visible ASCII, at most " + std::to_string(kMaxCredentialLength) +
                  " characters");
    }
    parsed.add(token, std::string(label));
    return true;
  };
  if (!for_each_content_line(text, parse_line)) return Result<bool>::failure(error);
  for (auto& [digest, label] : parsed.by_digest_) by_digest_.insert_or_assign(digest, label);
  return true;
}

const std::string* TokenSet::find(std::string_view presented) const {
  // The lookup compares digests, not tokens: how long a guess's common prefix
  // with a real token is does not show in the time taken.
  auto it = by_digest_.find(sha256(presented));
  return it == by_digest_.end() ? nullptr : &it->second;
}

}  // namespace edge_auth
