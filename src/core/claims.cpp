#include "core/claims.h"

#include <algorithm>
#include <charconv>
#include <regex>
#include <utility>

#include "core/base64.h"
#include "core/header_value.h"
#include "core/json.h"
#include "core/text.h"

namespace edge_auth {
namespace {

constexpr std::size_t kMaxClaimsJson = 64 * 1024;
constexpr int kMaxDepth = 16;
// Base64url of the largest payload, plus a header and a signature of any sane size.
constexpr std::size_t kMaxJwt = kMaxClaimsJson * 4 / 3 + 16 * 1024;
// std::regex backtracks recursively (one stack frame chain per character in
// libstdc++), so `match` looks only at values up to this size; a longer one
// does not match. Claims that rules match (sub, email, roles) are short.
constexpr std::size_t kMaxMatchInput = 1024;

// The member at `path` below `object`. The whole rest of the path is tried as
// one name first, then every split at a dot, so names with dots in them
// ("https://example.com/roles") are found as well as nested ones.
const json_t* lookup(const json_t* object, std::string_view path) {
  if (!json_is_object(object) || path.find('\0') != std::string_view::npos) return nullptr;
  // json_object_getn would avoid the copies but needs jansson 2.14.
  if (const json_t* v = json_object_get(object, std::string(path).c_str())) return v;
  for (std::size_t dot = path.find('.'); dot != std::string_view::npos;
       dot = path.find('.', dot + 1)) {
    const json_t* child = json_object_get(object, std::string(path.substr(0, dot)).c_str());
    if (!json_is_object(child)) continue;
    if (const json_t* v = lookup(child, path.substr(dot + 1))) return v;
  }
  return nullptr;
}

std::optional<std::string> scalar_text(const json_t* value) {
  if (value == nullptr) return std::nullopt;
  switch (json_typeof(value)) {
    case JSON_STRING:
      return std::string(json_string_value(value), json_string_length(value));
    case JSON_INTEGER:
      return std::to_string(json_integer_value(value));
    case JSON_REAL: {
      char buf[64];  // shortest form that reads back as the same double: 1.5, 1e+21
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, json_real_value(value));
      if (ec != std::errc()) return std::nullopt;
      return std::string(buf, end);
    }
    case JSON_TRUE:
      return std::string("true");
    case JSON_FALSE:
      return std::string("false");
    default:  // object, array, null
      return std::nullopt;
  }
}

}  // namespace

struct Claims::Impl {
  JsonPtr root;
};

Claims::Claims() : impl_(std::make_unique<Impl>()) { impl_->root.reset(json_object()); }
Claims::~Claims() = default;
Claims::Claims(Claims&&) noexcept = default;
Claims& Claims::operator=(Claims&&) noexcept = default;

Result<Claims> Claims::from_json(std::string_view json) {
  std::string why;
  JsonPtr root = parse_json(json, kMaxClaimsJson, why);
  if (!root) return Result<Claims>::failure("claims are " + why);
  if (!json_is_object(root.get())) return Result<Claims>::failure("claims are not a JSON object");
  if (!json_depth_within(root.get(), kMaxDepth)) {
    return Result<Claims>::failure("claims nest deeper than " + std::to_string(kMaxDepth));
  }
  Claims claims;
  claims.impl_->root = std::move(root);
  return claims;
}

Result<Claims> Claims::from_jwt_payload(std::string_view jwt) {
  if (jwt.size() > kMaxJwt) return Result<Claims>::failure("token too long");
  std::size_t first = jwt.find('.');
  std::size_t second = first == std::string_view::npos ? first : jwt.find('.', first + 1);
  if (second == std::string_view::npos || jwt.find('.', second + 1) != std::string_view::npos) {
    return Result<Claims>::failure("not a compact JWT (three dot-separated parts)");
  }
  std::string payload;
  if (!base64url_decode(jwt.substr(first + 1, second - first - 1), payload)) {
    return Result<Claims>::failure("JWT payload is not base64url");
  }
  return from_json(payload);
}

std::optional<std::string> Claims::get(std::string_view path) const {
  const json_t* value = impl_ ? lookup(impl_->root.get(), path) : nullptr;
  if (!json_is_array(value)) return scalar_text(value);
  std::string joined;
  std::size_t i;
  json_t* member;
  json_array_foreach(value, i, member) {
    std::optional<std::string> text = scalar_text(member);
    if (!text) return std::nullopt;
    if (i > 0) joined += ',';
    joined += *text;
  }
  return joined;
}

std::vector<std::string> Claims::values(std::string_view path) const {
  const json_t* value = impl_ ? lookup(impl_->root.get(), path) : nullptr;
  std::vector<std::string> out;
  if (json_is_array(value)) {
    std::size_t i;
    json_t* member;
    json_array_foreach(value, i, member) {
      if (std::optional<std::string> text = scalar_text(member)) out.push_back(std::move(*text));
    }
  } else if (json_is_string(value)) {
    std::string_view words(json_string_value(value), json_string_length(value));
    while (!words.empty()) {
      std::size_t space = words.find(' ');
      if (space != 0) out.emplace_back(words.substr(0, space));
      words.remove_prefix(space == std::string_view::npos ? words.size() : space + 1);
    }
  } else if (std::optional<std::string> text = scalar_text(value)) {
    out.push_back(std::move(*text));
  }
  return out;
}

bool Claims::has(std::string_view path) const {
  const json_t* value = impl_ ? lookup(impl_->root.get(), path) : nullptr;
  return value != nullptr && !json_is_null(value);
}

const json_t* Claims::json() const { return impl_ ? impl_->root.get() : nullptr; }

struct ClaimRule::Impl {
  std::string claim;
  Op op = Op::Exists;
  std::string op_name;
  std::string value;
  std::vector<std::string> list;  // `in`
  std::regex regex;               // `match`
};

ClaimRule::ClaimRule() : impl_(std::make_unique<Impl>()) {}
ClaimRule::ClaimRule(const ClaimRule& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
ClaimRule& ClaimRule::operator=(const ClaimRule& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
ClaimRule::ClaimRule(ClaimRule&&) noexcept = default;
ClaimRule& ClaimRule::operator=(ClaimRule&&) noexcept = default;
ClaimRule::~ClaimRule() = default;

Result<ClaimRule> ClaimRule::parse(std::string_view claim, std::string_view op,
                                   std::string_view value) {
  static constexpr std::pair<std::string_view, Op> kOps[] = {
      {"eq", Op::Eq},         {"ne", Op::Ne},       {"in", Op::In}, {"contains", Op::Contains},
      {"exists", Op::Exists}, {"match", Op::Match},
  };
  if (claim.empty()) return Result<ClaimRule>::failure("empty claim name");
  ClaimRule rule;
  Impl& r = *rule.impl_;
  auto known = std::find_if(std::begin(kOps), std::end(kOps),
                            [&](const auto& entry) { return entry.first == op; });
  if (known == std::end(kOps)) {
    return Result<ClaimRule>::failure("unknown operator \"" + log_safe(op, 32) +
                                      "\" (expected eq, ne, in, contains, exists or match)");
  }
  r.claim = std::string(claim);
  r.op = known->second;
  r.op_name = std::string(known->first);
  if (r.op != Op::Exists) r.value = std::string(value);

  switch (r.op) {
    case Op::In: {
      std::string_view rest = value;
      while (!rest.empty()) {
        std::size_t comma = rest.find(',');
        std::string_view item = trim_ows(rest.substr(0, comma));
        if (!item.empty()) r.list.emplace_back(item);
        rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
      }
      if (r.list.empty()) return Result<ClaimRule>::failure("\"in\" needs a comma-separated list");
      break;
    }
    case Op::Contains:
      if (value.empty()) return Result<ClaimRule>::failure("\"contains\" needs a value");
      break;
    case Op::Match:
      try {
        r.regex = std::regex(r.value, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return Result<ClaimRule>::failure("invalid regular expression \"" + log_safe(value, 100) +
                                          "\": " + e.what());
      }
      break;
    default:
      break;
  }
  return rule;
}

bool ClaimRule::holds(const Claims& claims) const {
  const Impl& r = *impl_;
  switch (r.op) {
    case Op::Exists:
      return claims.has(r.claim);
    case Op::Contains: {
      std::vector<std::string> values = claims.values(r.claim);
      return std::find(values.begin(), values.end(), r.value) != values.end();
    }
    default:
      break;
  }
  // The other ops compare the claim's text; a missing claim fails them all,
  // `ne` included (deny by default).
  std::optional<std::string> text = claims.get(r.claim);
  if (!text) return false;
  switch (r.op) {
    case Op::Eq:
      return *text == r.value;
    case Op::Ne:
      return *text != r.value;
    case Op::In:
      return std::find(r.list.begin(), r.list.end(), *text) != r.list.end();
    case Op::Match:
      if (text->size() > kMaxMatchInput) return false;
      try {
        return std::regex_search(*text, r.regex);
      } catch (const std::regex_error&) {  // error_complexity / error_stack
        return false;
      }
    default:
      return false;
  }
}

std::string ClaimRule::describe() const {
  std::string out = impl_->claim + ' ' + impl_->op_name;
  if (impl_->op != Op::Exists) out += ' ' + impl_->value;
  return log_safe(out, 200);
}

}  // namespace edge_auth
