// libFuzzer target for the request parsers of skiff serve (see fuzz/README.md).

#include <cstddef>
#include <cstdint>

#include "serve_request_parsers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  skiff::serve::fuzzing::exerciseParsers(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
