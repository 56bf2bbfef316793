#include "image/notebook_image.hpp"

#include <fmt/format.h>

#include <fstream>

#include "common/error.hpp"

namespace skiff::image {

void writeNotebookImageContext(const std::string& baseImage, const std::filesystem::path& dir) {
  std::ofstream dockerfile(dir / "Dockerfile");
  // The RUN fails with a message saying what to do on an image without apt-get.
  dockerfile << fmt::format(
      "FROM {base}\n"
      "RUN if ! command -v {jupyter} >/dev/null 2>&1; then \\\n"
      "      if ! command -v apt-get >/dev/null 2>&1; then \\\n"
      "        echo 'skiff: the notebook needs {jupyter} in the project image, and it has no "
      "apt-get to install it: install Jupyter in the Dockerfile, or give notebook.command' >&2; "
      "\\\n"
      "        exit 1; \\\n"
      "      fi; \\\n"
      "      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
      "--no-install-recommends jupyter-notebook && rm -rf /var/lib/apt/lists/*; \\\n"
      "    fi\n",
      fmt::arg("base", baseImage), fmt::arg("jupyter", kJupyterProgram));
  if (!dockerfile) {
    throw Error("cannot write the notebook image's Dockerfile", dir.string(),
                "check the temporary directory's free space");
  }
}

}  // namespace skiff::image
