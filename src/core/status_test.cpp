#include "core/status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace edge_auth {
namespace {

constexpr AuthStatus kFailures[] = {
    AuthStatus::NoCredential,      AuthStatus::UnsupportedScheme,   AuthStatus::MalformedCredential,
    AuthStatus::CredentialTooLong, AuthStatus::UnknownUser,         AuthStatus::BadPassword,
    AuthStatus::UnknownToken,      AuthStatus::UserFileUnavailable,
};

TEST(Status, ReasonsAreTheStableStrings) {
  // $edge_auth_error and log alerts depend on these exact texts.
  EXPECT_EQ(reason(AuthStatus::NoCredential), "no credentials");
  EXPECT_EQ(reason(AuthStatus::UnsupportedScheme), "unsupported scheme");
  EXPECT_EQ(reason(AuthStatus::MalformedCredential), "malformed credentials");
  EXPECT_EQ(reason(AuthStatus::CredentialTooLong), "credentials too long");
  EXPECT_EQ(reason(AuthStatus::UnknownUser), "unknown user");
  EXPECT_EQ(reason(AuthStatus::BadPassword), "password mismatch");
  EXPECT_EQ(reason(AuthStatus::UnknownToken), "unknown token");
  EXPECT_EQ(reason(AuthStatus::UserFileUnavailable), "user file unavailable");
  EXPECT_EQ(reason(AuthStatus::InternalError), "internal error");
  EXPECT_EQ(reason(AuthStatus::Ok), "ok");
}

TEST(Status, ReasonsAreDistinct) {
  std::set<std::string_view> seen;
  for (AuthStatus s : kFailures) EXPECT_TRUE(seen.insert(reason(s)).second) << reason(s);
}

TEST(Status, HttpStatus) {
  EXPECT_EQ(http_status(AuthStatus::Ok), 200);
  for (AuthStatus s : kFailures) EXPECT_EQ(http_status(s), 401) << reason(s);
  EXPECT_EQ(http_status(AuthStatus::InternalError), 500);
}

TEST(Status, OutOfRangeValueDeniesAsInternalError) {
  auto bogus = static_cast<AuthStatus>(999);
  EXPECT_EQ(http_status(bogus), 500);
  EXPECT_EQ(reason(bogus), "internal error");
}

}  // namespace
}  // namespace edge_auth

TEST(Status, TokenReasonsMapToRfc6750Statuses) {
  EXPECT_EQ(edge_auth::http_status(edge_auth::AuthStatus::InvalidToken), 401);
  EXPECT_EQ(edge_auth::http_status(edge_auth::AuthStatus::Forbidden), 403);
  EXPECT_EQ(edge_auth::reason(edge_auth::AuthStatus::Forbidden), "claim rule failed");
  EXPECT_EQ(edge_auth::reason(edge_auth::AuthStatus::InvalidToken), "invalid token");
}
