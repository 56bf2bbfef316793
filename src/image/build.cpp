#include "image/build.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "image/builder.hpp"
#include "image/context_hash.hpp"
#include "image/credentials.hpp"
#include "image/reference.hpp"
#include "image/registry.hpp"
#include "image/scratch_dir.hpp"
#include "image/tags.hpp"

namespace skiff::image {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr const char* kStateDir = ".skiff";

// DIR/.skiff, ignoring itself in git so a build never makes the tree dirty.
fs::path stateDir(const fs::path& projectDir) {
  const fs::path dir = projectDir / kStateDir;
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw Error("cannot create skiff's state directory: " + error.message(), dir.string());
  if (!fs::exists(dir / ".gitignore")) writeFileAtomically(dir / ".gitignore", "*\n");
  return dir;
}

std::string rfc3339(std::chrono::system_clock::time_point time) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(time));
}

void emit(const LineSink& sink, const std::string& line) {
  if (sink) sink(line);
}

void note(const BuildOptions& options, const std::string& line) {
  if (!options.quiet) emit(options.output, line);
}

// Everything a build needs, resolved and checked before anything runs.
struct Plan {
  Repository repository;
  fs::path contextDir;
  fs::path dockerfile;
  DockerIgnore ignore;
  std::string contextHash;
  std::vector<std::string> tags;
  std::vector<std::string> references;  // repository:tag for each tag
};

Plan makePlan(const fs::path& projectDir, const spec::Image& image, const BuildOptions& options,
              const Environment& env, std::chrono::system_clock::time_point now) {
  Plan plan{
      parseRepository(image.repository, "skiff.yaml: image.repository"), {}, {}, {}, {}, {}, {}};
  plan.contextDir = fs::weakly_canonical(projectDir / image.context);
  plan.dockerfile = fs::weakly_canonical(projectDir / image.dockerfile);
  if (!fs::is_regular_file(plan.dockerfile)) {
    throw Error("the Dockerfile does not exist", plan.dockerfile.string(),
                "create it, or set image.dockerfile in skiff.yaml (relative to the project)");
  }
  plan.ignore = DockerIgnore::load(plan.contextDir);
  // skiff's own state (this build's record) never enters the image or the hash.
  const fs::path state = fs::weakly_canonical(projectDir / kStateDir);
  const fs::path relative = state.lexically_relative(plan.contextDir);
  if (!relative.empty() && *relative.begin() != "..") plan.ignore.add("/" + relative.string());
  plan.contextHash = hashBuildInputs(
      {plan.contextDir, plan.dockerfile, image.buildArgs, image.target, plan.ignore});

  TagInputs inputs{image.tags, options.extraTags, probeGit(projectDir), env, now, plan.contextHash};
  Tags tags = resolveTags(inputs);
  for (const auto& warning : tags.warnings) emit(options.warn, warning);
  plan.tags = tags.tags;
  for (const auto& tag : plan.tags) plan.references.push_back(plan.repository.withTag(tag));
  return plan;
}

// Points every tag at `digest` in the registry and checks that each does.
void tagAll(RegistryClient& registry, const Plan& plan, const std::string& digest) {
  for (const auto& tag : plan.tags) {
    if (registry.manifestDigest(tag) != digest) registry.addTag(digest, tag);
    const auto now = registry.manifestDigest(tag);
    if (now != digest) {
      throw Error(fmt::format("tag {} points to {}, not to the pushed {}", tag,
                              now.value_or("nothing"), digest),
                  plan.repository.withTag(tag), "is another build pushing the same tag?");
    }
  }
}

// The recorded build, when it is current: same inputs, same repository, and
// its image still there (in the registry when pushing, else locally).
std::optional<BuildRecord> reusable(const fs::path& projectDir, const Plan& plan,
                                    const BuildOptions& options, RegistryClient* registry,
                                    Builder& builder) {
  if (options.force) return std::nullopt;
  const fs::path file = recordPath(projectDir);
  if (!fs::exists(file)) return std::nullopt;
  auto previous = BuildRecord::fromJson(readSmallFile(file));
  if (!previous || previous->contextHash != plan.contextHash ||
      previous->repository != plan.repository.text || previous->builder != builder.name()) {
    return std::nullopt;
  }
  if (options.push) {
    if (!previous->pushed || previous->digest.empty() ||
        registry->manifestDigest(previous->digest) != previous->digest) {
      return std::nullopt;
    }
  } else if (previous->imageId.empty() || !builder.exists(previous->imageId)) {
    return std::nullopt;
  }
  return previous;
}

// Builds an image skiff derives for the project (the serve image, the
// notebook image) from the context in `context`, or finds it: its tag names
// its content, so a tag already in the registry (or local storage) is the
// same image. Returns repository@digest when pushing, else repository:tag.
std::string buildDerivedImage(const fs::path& context, const std::string& tagPrefix,
                              const std::string& what, const Repository& repository,
                              const BuildOptions& options, RegistryClient* registry,
                              const RegistryAccess& access, Builder& builder) {
  const std::string hash =
      hashBuildInputs({context, context / "Dockerfile", {}, "", DockerIgnore()});
  const std::string tag = tagPrefix + hash.substr(hash.find(':') + 1, 12);
  const std::string reference = repository.withTag(tag);
  if (registry) {
    if (const auto digest = registry->manifestDigest(tag)) {
      note(options, fmt::format("==> the {} is in the registry; reusing {}", what, reference));
      return repository.text + "@" + *digest;
    }
  } else if (builder.exists(reference)) {
    note(options, fmt::format("==> the {} is built; reusing {}", what, reference));
    return reference;
  }
  BuildLog log(options.output, options.quiet);
  note(options, fmt::format("==> building the {} {} with {}", what, reference, builder.name()));
  builder.build({context, context / "Dockerfile", {}, "", {}, {reference}, access}, log);
  if (!registry) return reference;
  log.phase("push " + reference);
  builder.push(reference, access, log);
  const auto digest = registry->manifestDigest(tag);
  if (!digest) {
    throw Error(fmt::format("after the push the registry has no {} under its tag", what), reference,
                "check the registry's logs, then build again");
  }
  return repository.text + "@" + *digest;
}

// Registry problems (unreachable, bad credentials) show before a long build,
// not after. The builder's credentials go to a file in `scratch`.
// (RegistryClient is not movable: it is made in place, in `registry`.)
RegistryAccess connectRegistry(const Repository& repository, const BuildOptions& options,
                               const Environment& env, const ScratchDir& scratch,
                               std::optional<RegistryClient>& registry) {
  const bool insecure = options.insecureRegistry || isLoopbackRegistry(repository);
  RegistryAccess access{{}, insecure};
  if (!options.push) return access;
  auto credentials = findCredentials(repository.host, env);
  registry.emplace(repository, RegistryOptions{insecure, credentials});
  registry->checkAccess();
  if (credentials) {
    access.authFile = scratch / "config.json";
    writeAuthFile(access.authFile, repository.host, *credentials);
  }
  return access;
}

}  // namespace

std::string BuildRecord::reference() const {
  if (!digest.empty()) return repository + "@" + digest;
  return tags.empty() ? repository : repository + ":" + tags.front();
}

std::string BuildRecord::toJson() const {
  const json record = {{"repository", repository},
                       {"tags", tags},
                       {"digest", digest},
                       {"reference", reference()},
                       {"imageId", imageId},
                       {"builder", builder},
                       {"time", time},
                       {"contextHash", contextHash},
                       {"pushed", pushed},
                       {"skipped", skipped},
                       {"seconds", seconds},
                       {"serveImage", serveImage},
                       {"notebookImage", notebookImage}};
  return record.dump(2);
}

std::optional<BuildRecord> BuildRecord::fromJson(const std::string& text) {
  const json record = json::parse(text, nullptr, false);
  if (!record.is_object()) return std::nullopt;
  try {
    BuildRecord out;
    out.repository = record.value("repository", "");
    out.tags = record.value("tags", std::vector<std::string>{});
    out.digest = record.value("digest", "");
    out.imageId = record.value("imageId", "");
    out.builder = record.value("builder", "");
    out.time = record.value("time", "");
    out.contextHash = record.value("contextHash", "");
    out.pushed = record.value("pushed", false);
    out.serveImage = record.value("serveImage", "");
    out.notebookImage = record.value("notebookImage", "");
    return out;
  } catch (const json::exception&) {
    return std::nullopt;  // a record from elsewhere: treated as no record
  }
}

fs::path recordPath(const fs::path& projectDir) {
  return projectDir / kStateDir / "build.json";
}

BuildRecord buildImage(const fs::path& projectDir, const spec::Image& image,
                       const BuildOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const auto now = std::chrono::system_clock::now();
  const Environment env = processEnvironment();
  const Plan plan = makePlan(projectDir, image, options, env, now);
  std::unique_ptr<Builder> builder =
      selectBuilder(options.builder, BuilderSettings::fromEnvironment(env));

  ScratchDir scratch;
  std::optional<RegistryClient> registry;
  const RegistryAccess access = connectRegistry(plan.repository, options, env, scratch, registry);

  BuildRecord record;
  record.repository = plan.repository.text;
  record.tags = plan.tags;
  record.builder = builder->name();
  record.time = rfc3339(now);
  record.contextHash = plan.contextHash;
  record.pushed = options.push;

  if (auto previous =
          reusable(projectDir, plan, options, registry ? &*registry : nullptr, *builder)) {
    note(options,
         fmt::format("==> unchanged since the build of {} ({}); reusing {}", previous->time,
                     plan.contextHash.substr(0, 19), previous->reference()));
    record.digest = previous->digest;
    record.imageId = previous->imageId;
    record.skipped = true;
    if (registry) {
      tagAll(*registry, plan, record.digest);
    } else {
      for (const auto& reference : plan.references) builder->tag(record.imageId, reference);
    }
  } else {
    BuildLog log(options.output, options.quiet);
    BuildRequest request{plan.contextDir, plan.dockerfile, {},    image.target,
                         image.buildArgs, plan.references, access};
    if (!plan.ignore.text().empty()) {
      request.ignoreFile = stateDir(projectDir) / "dockerignore";
      writeFileAtomically(request.ignoreFile, plan.ignore.text());
    }
    note(options, fmt::format("==> building {} with {}", plan.repository.text, builder->name()));
    record.imageId = builder->build(request, log);
    if (registry) {
      log.phase("push " + plan.references.front());
      const auto pushed = builder->push(plan.references.front(), access, log);
      const auto inRegistry = registry->manifestDigest(plan.tags.front());
      if (!inRegistry || (pushed && *pushed != *inRegistry)) {
        throw Error(fmt::format("after the push the registry has {} for the tag, not {}",
                                inRegistry.value_or("nothing"), pushed.value_or("?")),
                    plan.references.front(), "is another build pushing the same tag?");
      }
      record.digest = *inRegistry;
      tagAll(*registry, plan, record.digest);
    }
  }
  if (options.serveImage) {
    ScratchDir context;
    writeServeImageContext(*options.serveImage, context.path());
    record.serveImage =
        buildDerivedImage(context.path(), kServeTagPrefix, "serve image", plan.repository, options,
                          registry ? &*registry : nullptr, access, *builder);
  }
  if (options.notebookImage) {
    // FROM the image just built (by digest when pushed): a new project
    // image is a new notebook image.
    ScratchDir context;
    writeNotebookImageContext(record.reference(), context.path());
    record.notebookImage =
        buildDerivedImage(context.path(), kNotebookTagPrefix, "notebook image", plan.repository,
                          options, registry ? &*registry : nullptr, access, *builder);
  }
  record.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  writeFileAtomically(stateDir(projectDir) / "build.json", record.toJson() + "\n");
  return record;
}

}  // namespace skiff::image

namespace skiff::image {

std::string buildSkiffImage(const std::string& repository, const ServeImageInputs& inputs,
                            const BuildOptions& options) {
  const Environment env = processEnvironment();
  const Repository parsed = parseRepository(repository, "--push");
  std::unique_ptr<Builder> builder =
      selectBuilder(options.builder, BuilderSettings::fromEnvironment(env));
  ScratchDir scratch;
  std::optional<RegistryClient> registry;
  const RegistryAccess access = connectRegistry(parsed, options, env, scratch, registry);
  ScratchDir context;
  writeServeImageContext(inputs, context.path());
  return buildDerivedImage(context.path(), kServeTagPrefix, "skiff image", parsed, options,
                           registry ? &*registry : nullptr, access, *builder);
}

}  // namespace skiff::image
