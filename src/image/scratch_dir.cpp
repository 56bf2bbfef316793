#include "image/scratch_dir.hpp"

#include <stdlib.h>

#include "common/error.hpp"

namespace skiff::image {

ScratchDir::ScratchDir() {
  char pattern[] = "/tmp/skiff-build-XXXXXX";
  if (!::mkdtemp(pattern)) throw Error("cannot create a temporary directory", "/tmp");
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace skiff::image
