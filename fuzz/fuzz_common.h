// Shared by the fuzz targets: the fixed clock, a check that traps (so
// libFuzzer records the input as a crash), and input helpers.
//   FUZZ_CHECK(back.ok());
//   std::string_view text = fuzz::as_text(data, size);
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "test_keys.h"

// A property of the code under test that does not hold: print it and trap.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      __builtin_trap();                                                                   \
    }                                                                                     \
  } while (0)

namespace fuzz {

// "Now" for every time check (seconds); seed tokens expire long after it.
inline constexpr std::int64_t kNow = 1'700'000'000;

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Well-formed UTF-8 by the Unicode standard's table 3-7, written
// independently of the core's is_valid_utf8 (a differential check).
inline bool reference_utf8(std::string_view s) {
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  while (i < s.size()) {
    unsigned char c = byte(i);
    std::size_t left = s.size() - i;
    if (c <= 0x7f) {
      i += 1;
    } else if (in(c, 0xc2, 0xdf)) {
      if (left < 2 || !in(byte(i + 1), 0x80, 0xbf)) return false;
      i += 2;
    } else if (in(c, 0xe0, 0xef)) {
      if (left < 3) return false;
      unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
      if (!in(byte(i + 1), lo, hi) || !in(byte(i + 2), 0x80, 0xbf)) return false;
      i += 3;
    } else if (in(c, 0xf0, 0xf4)) {
      if (left < 4) return false;
      unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
      if (!in(byte(i + 1), lo, hi) || !in(byte(i + 2), 0x80, 0xbf) ||
          !in(byte(i + 3), 0x80, 0xbf)) {
        return false;
      }
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace fuzz
