// Secret references, read once at configuration load:
//   "file:/etc/nginx/secret"  file contents, one trailing "\n" or "\r\n" stripped
//   "env:NAME"                the environment variable NAME (must exist)
//   anything else             the literal itself
//   Result<std::string> v = resolve_secret_ref("file:/run/secrets/key");
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace edge_auth {

// True when `spec` is a file: or env: reference rather than a literal.
bool is_secret_ref(std::string_view spec);

// The error text names the file or variable and why ("cannot read
// \"/x\": No such file or directory"); it never contains the secret.
Result<std::string> resolve_secret_ref(std::string_view spec);

}  // namespace edge_auth
