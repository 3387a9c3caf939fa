// edge-auth version.
//   std::string_view v = edge_auth::kVersion;
#pragma once
#include <string_view>
namespace edge_auth {
inline constexpr std::string_view kVersion = "0.1.0";
}
