#include "core/secret_ref.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "core/crypto.h"

namespace edge_auth {
namespace {

constexpr std::string_view kFilePrefix = "file:";
constexpr std::string_view kEnvPrefix = "env:";
constexpr std::size_t kMaxSecretFile = 1 << 20;  // a key or password, never a big file

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string errno_text() { return std::generic_category().message(errno); }

Result<std::string> read_secret_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Result<std::string>::failure("cannot read " + quoted(path) + ": " + errno_text());
  }
  struct stat st;
  std::string content;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
    // Sized up front so the secret is not copied around by reallocation.
    std::size_t size = static_cast<std::size_t>(st.st_size);
    content.reserve(std::min(size, kMaxSecretFile) + 1);
  }
  char buf[4096];
  std::string error;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot read " + quoted(path) + ": " + errno_text();
      break;
    }
    if (n == 0) break;
    if (content.size() + static_cast<std::size_t>(n) > kMaxSecretFile) {
      error = quoted(path) + " is larger than 1 MiB";
      break;
    }
    content.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  OPENSSL_cleanse(buf, sizeof buf);
  if (!error.empty()) {
    wipe(content);
    return Result<std::string>::failure(std::move(error));
  }
  // Editors and `echo` add a newline the secret never had.
  if (content.size() >= 2 && content.compare(content.size() - 2, 2, "\r\n") == 0) {
    content.resize(content.size() - 2);
  } else if (!content.empty() && content.back() == '\n') {
    content.pop_back();
  }
  if (content.empty()) return Result<std::string>::failure(quoted(path) + " is empty");
  return content;
}

Result<std::string> read_secret_env(const std::string& name) {
  if (name.empty()) return Result<std::string>::failure("env: needs a variable name");
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) {
    return Result<std::string>::failure("environment variable " + quoted(name) + " is not set");
  }
  if (*value == '\0') {
    return Result<std::string>::failure("environment variable " + quoted(name) + " is empty");
  }
  return std::string(value);
}

}  // namespace

bool is_secret_ref(std::string_view spec) {
  return spec.substr(0, kFilePrefix.size()) == kFilePrefix ||
         spec.substr(0, kEnvPrefix.size()) == kEnvPrefix;
}

Result<std::string> resolve_secret_ref(std::string_view spec) {
  if (spec.substr(0, kFilePrefix.size()) == kFilePrefix) {
    std::string path(spec.substr(kFilePrefix.size()));
    if (path.empty()) return Result<std::string>::failure("file: needs a path");
    return read_secret_file(path);
  }
  if (spec.substr(0, kEnvPrefix.size()) == kEnvPrefix) {
    return read_secret_env(std::string(spec.substr(kEnvPrefix.size())));
  }
  return std::string(spec);
}

}  // namespace edge_auth
