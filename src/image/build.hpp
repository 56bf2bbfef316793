#pragma once

// `skiff build` as a library: from a project's image section to an image in
// a registry, tagged by the tag policy, recorded in DIR/.skiff/build.json,
// and skipped when nothing it reads changed since the recorded build.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "image/build_log.hpp"
#include "image/notebook_image.hpp"
#include "image/serve_image.hpp"
#include "spec/spec.hpp"

namespace skiff::image {

struct BuildOptions {
  bool push = true;
  std::vector<std::string> extraTags;  // --tag
  std::string builder = "auto";
  bool insecureRegistry = false;
  bool force = false;  // build even when the recorded build is current
  LineSink output;     // build output and notes, line by line
  bool quiet = false;  // only a failing step's last lines go to `output`
  LineSink warn;       // warnings (tag policy fallbacks, ...)
  // Also build the image `kind: serve` services run (see serve_image.hpp),
  // into the project's repository under a tag of its content.
  std::optional<ServeImageInputs> serveImage;
  // Also build the image the notebook runs (see notebook_image.hpp).
  bool notebookImage = false;
};

// What a build produced; DIR/.skiff/build.json holds it as JSON.
struct BuildRecord {
  std::string repository;
  std::vector<std::string> tags;
  std::string digest;   // the manifest digest in the registry; empty when not pushed
  std::string imageId;  // the builder's local image id
  std::string builder;
  std::string time;  // UTC, RFC 3339
  std::string contextHash;
  bool pushed = false;
  bool skipped = false;  // this run reused the recorded build
  double seconds = 0;
  // The serve image: repository@digest when pushed, else repository:tag;
  // empty when the project serves no model.
  std::string serveImage;
  // The notebook image, the same way; empty when the project has no notebook
  // that skiff starts.
  std::string notebookImage;

  // "repository@digest" when pushed (what a release deploys), else repository:first-tag.
  std::string reference() const;
  std::string toJson() const;
  static std::optional<BuildRecord> fromJson(const std::string& text);
};

// Where the record of the last build lives.
std::filesystem::path recordPath(const std::filesystem::path& projectDir);

// Builds (or finds, by the tag of its content) skiff's own image (the serve
// image) in `repository`, pushed when options.push: what runs skiff in the
// cluster outside a project (the CSI driver's DaemonSet). Returns
// repository@digest when pushed, else repository:tag.
std::string buildSkiffImage(const std::string& repository, const ServeImageInputs& inputs,
                            const BuildOptions& options);

// Builds (or reuses) the image of `image` for the project in `projectDir`.
// Throws skiff::Error with what failed, where and what to do.
BuildRecord buildImage(const std::filesystem::path& projectDir, const spec::Image& image,
                       const BuildOptions& options);

}  // namespace skiff::image
