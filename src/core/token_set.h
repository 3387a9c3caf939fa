// Accepted bearer tokens / API keys, stored only as SHA-256 digests and found
// by digest, so comparison time does not depend on how much of a guess matches.
//   TokenSet set;
//   set.add("s3cr3t", "ci");
//   if (const std::string* label = set.find(presented)) user = *label;
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "core/crypto.h"
#include "core/result.h"

namespace edge_auth {

class TokenSet {
 public:
  void add(std::string_view token, std::string label);
  void add_digest(const Digest& digest, std::string label);

  // Parses a token file: one "label:token" or "label:sha256:<64 hex>" per
  // line; '#' comments and blank lines ignored; CRLF accepted. The error names
  // the line ("line 3: expected label:token") and never contains a token.
  Result<bool> add_file_content(std::string_view text);

  // The label of an accepted token, or nullptr.
  const std::string* find(std::string_view presented) const;
  std::size_t size() const { return by_digest_.size(); }
  bool empty() const { return by_digest_.empty(); }

 private:
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  std::unordered_map<Digest, std::string, DigestHash> by_digest_;
};

}  // namespace edge_auth
