// The query-string editor (upstream injection and stripping): query_get,
// query_set / query_remove and their _to variants writing into a buffer of
// exactly query_set_bound / args.size() bytes (ASan catches any write past
// it). After a set the name reads back as the value; after a remove it is
// gone. Input: name and value bytes, the query string, then the name's and
// the value's lengths (one byte each, from the end).
#include <memory>

#include "core/query.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::size_t name_len = in.ConsumeIntegral<std::uint8_t>();
  std::size_t value_len = in.ConsumeIntegral<std::uint8_t>();
  std::string name = in.ConsumeBytesAsString(name_len);
  std::string value = in.ConsumeBytesAsString(value_len);
  std::string args = in.ConsumeRemainingBytesAsString();

  FUZZ_CHECK(percent_decode(percent_encode(value)) == value);
  (void)query_get(args, name);

  std::size_t bound = query_set_bound(args, name, value);
  std::unique_ptr<char[]> set_buf(new char[bound]);
  std::size_t set_len = query_set_to(set_buf.get(), args, name, value);
  FUZZ_CHECK(set_len <= bound);
  std::string_view set(set_buf.get(), set_len);
  FUZZ_CHECK(set == query_set(args, name, value));
  std::optional<std::string> got = query_get(set, name);
  FUZZ_CHECK(got && *got == value);

  std::unique_ptr<char[]> remove_buf(new char[args.size()]);
  std::size_t remove_len = query_remove_to(remove_buf.get(), args, name);
  FUZZ_CHECK(remove_len <= args.size());
  std::string_view removed(remove_buf.get(), remove_len);
  FUZZ_CHECK(removed == query_remove(args, name));
  FUZZ_CHECK(!query_get(removed, name).has_value());
  // Removing from the edited query leaves no trace of the name either.
  FUZZ_CHECK(!query_get(query_remove(set, name), name).has_value());
  return 0;
}
