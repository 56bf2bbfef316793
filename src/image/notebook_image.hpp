#pragma once

// The image the notebook runs on Kubernetes: the project's own image (its
// libraries, its code) with Jupyter added, so a training image need not know
// Jupyter. `skiff build` makes it FROM the project image it just built; an
// image that already has `jupyter-notebook` gets nothing new, a Debian or
// Ubuntu based one gets Debian's jupyter-notebook package with apt-get.

#include <filesystem>
#include <string>

namespace skiff::image {

// Tags of notebook images in the project's repository start with this.
inline constexpr const char* kNotebookTagPrefix = "skiff-notebook-";
// What the notebook runs (Debian's Jupyter Notebook 6).
inline constexpr const char* kJupyterProgram = "jupyter-notebook";

// Writes the build context of the notebook image FROM `baseImage` (the
// project's image, repository@digest or repository:tag) into `dir`.
void writeNotebookImageContext(const std::string& baseImage, const std::filesystem::path& dir);

}  // namespace skiff::image
