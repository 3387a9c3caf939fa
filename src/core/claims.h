// Claims of a JWT payload (or any JSON object) and the rules on them, for
// `require CLAIM OP VALUE`, `forward_claim` and $edge_auth_claim_<name>.
//   Result<Claims> c = Claims::from_jwt_payload(access_token);   // no signature check
//   std::optional<std::string> sub = c->get("sub");
//   std::optional<std::string> role = c->get("realm_access.roles");  // "a,b"
//   Result<ClaimRule> rule = ClaimRule::parse("scope", "contains", "read");
//   bool ok = rule->holds(*c);
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct json_t;  // jansson's

namespace edge_auth {

class Claims {
 public:
  Claims();
  ~Claims();
  Claims(Claims&&) noexcept;
  Claims& operator=(Claims&&) noexcept;

  // A JSON object (size limit 64 KiB, depth limit 16, duplicate members rejected).
  static Result<Claims> from_json(std::string_view json);
  // The payload of a compact JWS/JWT, decoded without verifying anything:
  // only for tokens this module fetched itself over TLS.
  static Result<Claims> from_jwt_payload(std::string_view jwt);

  // Dotted path; strings as is, numbers in shortest form, booleans
  // "true"/"false", arrays of scalars joined with ",". nullopt if absent,
  // null, an object, or an array containing objects or null. A member whose
  // name itself has dots ("https://example.com/roles") is found too: at each
  // level the whole rest of the path is tried as a name first.
  std::optional<std::string> get(std::string_view path) const;
  // Array members (scalars, as strings), or the space-separated words of a
  // string (scope), or a number/boolean as one value. Empty if absent.
  std::vector<std::string> values(std::string_view path) const;
  // Present and not null.
  bool has(std::string_view path) const;
  // The parsed object itself (jansson, owned by this Claims), for readers that
  // need JSON types, such as the JOSE checks of exp (a number) and aud.
  const json_t* json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ClaimRule {
 public:
  enum class Op { Eq, Ne, In, Contains, Exists, Match };
  // op: eq ne in contains exists match; `in` takes a comma-separated list;
  // `match` an ECMAScript regex (checked here); `exists` ignores value.
  // A missing claim fails every op but `exists`, `ne` included (deny by
  // default: "role ne guest" does not admit a token without a role).
  static Result<ClaimRule> parse(std::string_view claim, std::string_view op,
                                 std::string_view value);
  bool holds(const Claims& claims) const;
  std::string describe() const;  // "scope contains read" (for logs)

  ClaimRule(const ClaimRule&);
  ClaimRule& operator=(const ClaimRule&);
  ClaimRule(ClaimRule&&) noexcept;
  ClaimRule& operator=(ClaimRule&&) noexcept;
  ~ClaimRule();

 private:
  ClaimRule();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge_auth
