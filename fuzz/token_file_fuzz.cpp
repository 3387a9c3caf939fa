// Bearer token / API key files (edge_auth_tokens_file): add_file_content on
// arbitrary text; a file with an error changes nothing, and the error never
// quotes the line (it holds a token). Input: the file.
#include "core/token_set.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  TokenSet set;
  set.add("existing-token", "old");
  Result<bool> r = set.add_file_content(text);
  if (!r) {
    FUZZ_CHECK(set.size() == 1);
    FUZZ_CHECK(r.error().rfind("line ", 0) == 0);
    for (unsigned char c : r.error()) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  } else {
    FUZZ_CHECK(set.find("existing-token") != nullptr);
  }
  return 0;
}
