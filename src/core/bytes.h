// Length-prefixed binary encoding for cache keys and serialised cache values
// (big-endian u64 lengths, so ("ab","c") and ("a","bc") never encode alike).
//   std::string out;  append_field(out, user);  append_u64(out, version);
//   ByteReader in(out);  std::string_view u = in.field(256);  if (!in.finished()) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edge_auth {

inline void append_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift & 0xff);
}

inline void append_field(std::string& out, std::string_view field) {
  append_u64(out, field.size());
  out.append(field);
}

// Reads what append_u64/append_field wrote. A short read, or a field longer
// than its limit, makes the reader fail for good; callers check finished()
// (or ok()) once at the end instead of after every read.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  std::uint8_t u8() {
    if (!ok_ || data_.empty()) return fail<std::uint8_t>();
    auto v = static_cast<std::uint8_t>(data_.front());
    data_.remove_prefix(1);
    return v;
  }
  std::uint64_t u64() {
    if (!ok_ || data_.size() < 8) return fail<std::uint64_t>();
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<std::uint8_t>(data_[i]);
    data_.remove_prefix(8);
    return v;
  }
  std::string_view field(std::size_t max_size) {
    std::uint64_t size = u64();
    if (!ok_ || size > max_size || size > data_.size()) return fail<std::string_view>();
    std::string_view v = data_.substr(0, size);
    data_.remove_prefix(size);
    return v;
  }
  bool ok() const { return ok_; }
  // Every read succeeded and nothing is left over.
  bool finished() const { return ok_ && data_.empty(); }

 private:
  template <typename T>
  T fail() {
    ok_ = false;
    return T();
  }
  std::string_view data_;
  bool ok_ = true;
};

}  // namespace edge_auth
