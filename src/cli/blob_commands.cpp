// skiff blob ls|cp|rm|cat|stat: blob storage from the command line, between
// any two stores (az://, file://, local paths, and - for stdin/stdout).

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "blob/azure/shared_key.hpp"
#include "blob/content_type.hpp"
#include "blob/errors.hpp"
#include "blob/sources.hpp"
#include "blob/transfer.hpp"
#include "blob/uri.hpp"
#include "cli/commands.hpp"
#include "cli/output_format.hpp"
#include "common/parallel.hpp"
#include "common/progress.hpp"

namespace skiff::cli {
namespace {

using nlohmann::json;

struct Opened {
  blob::BlobUri uri;
  std::unique_ptr<blob::BlobStore> store;
};

Opened open(const std::string& text) {
  Opened opened{blob::parseBlobUri(text), nullptr};
  opened.store = blob::openStore(opened.uri);
  return opened;
}

std::string isoTime(std::chrono::system_clock::time_point time) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(time));
}

json toJson(const blob::BlobProperties& properties, const std::string& uri) {
  return json{{"uri", uri},
              {"name", properties.name},
              {"size", properties.size},
              {"etag", properties.etag},
              {"lastModified", isoTime(properties.lastModified)},
              {"contentType", properties.contentType},
              {"blobType", properties.blobType},
              {"contentMd5", properties.contentMd5},
              {"metadata", properties.metadata}};
}

std::string md5Hex(const std::string& base64) {
  std::string bytes;
  try {
    bytes = blob::azure::base64Decode(base64);
  } catch (const Error&) {
    return "not base64";
  }
  std::string hex;
  for (unsigned char c : bytes) hex += fmt::format("{:02x}", c);
  return hex;
}

void writeAllToStdout(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(STDOUT_FILENO, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write to standard output", "stdout", "is the pipe closed?");
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
}

struct LsOptions {
  std::string uri;
  bool recursive = false;
  bool longFormat = false;
  OutputFormat format;
};

void runLs(const LsOptions& options) {
  Opened opened = open(options.uri);
  std::string prefix = opened.uri.path;
  // "ls DIR" lists the directory; "ls BLOB" shows the blob.
  std::vector<blob::BlobProperties> single;
  if (!prefix.empty() && prefix.back() != '/') {
    if (auto properties = opened.store->head(prefix); properties && !options.recursive) {
      single.push_back(*properties);
      prefix = prefix.substr(0, prefix.rfind('/') + 1);
    } else {
      prefix += "/";
    }
  }
  json items = json::array();
  blob::ListOptions list;
  list.prefix = prefix;
  list.delimiter = options.recursive ? "" : "/";
  list.withMetadata = options.format.structured();
  do {
    blob::ListPage page;
    if (single.empty()) {
      page = opened.store->list(list);
    } else {
      page.blobs = single;
    }
    for (const auto& directory : page.prefixes) {
      const std::string relative = directory.substr(prefix.size());
      if (options.format.structured()) {
        items.push_back({{"name", directory}, {"directory", true}});
      } else {
        std::cout << (options.longFormat ? fmt::format("{:>12}  {:20}  ", "", "") : "") << relative
                  << "\n";
      }
    }
    for (const auto& properties : page.blobs) {
      if (options.format.structured()) {
        items.push_back(toJson(properties, opened.store->uriOf(properties.name)));
      } else if (options.longFormat) {
        std::cout << fmt::format("{:>12}  {:20}  {}\n", properties.size,
                                 isoTime(properties.lastModified),
                                 properties.name.substr(prefix.size()));
      } else {
        std::cout << properties.name.substr(prefix.size()) << "\n";
      }
    }
    list.marker = page.nextMarker;
  } while (!list.marker.empty());
  if (options.format.structured()) options.format.print(items);
}

struct CpOptions {
  std::string source;
  std::string destination;
  bool recursive = false;
  OutputFormat format;
  bool quiet = false;
  int parallelFiles = 0;  // by size: blob::kSmallFilesInFlight, kLargeFilesInFlight
  std::string blobType;   // "", block or append
  std::string contentType;
};

blob::WriteOptions writeOptions(const CpOptions& options) {
  blob::WriteOptions write;
  if (options.blobType == "block") write.mode = blob::WriteMode::kBlock;
  if (options.blobType == "append") write.mode = blob::WriteMode::kAppend;
  write.contentType = options.contentType;
  return write;
}

void runCp(const CpOptions& options) {
  const bool showProgress =
      !options.format.structured() && !options.quiet && ProgressBar::stderrIsTerminal();
  if (options.source == "-" && options.destination == "-") {
    throw Error("both ends are standard streams", "skiff blob cp - -", "name a blob on one side");
  }
  if (options.source == "-") {
    Opened to = open(options.destination);
    if (to.uri.path.empty() || to.uri.path.back() == '/') {
      throw Error("standard input needs a blob name to go to", options.destination,
                  "give the full name, e.g. " + to.uri.toString() + "data.bin");
    }
    to.store->ensureContainer();
    blob::FdSource input(STDIN_FILENO);
    ProgressBar progress("upload", std::nullopt, showProgress);
    blob::PutOptions put;
    put.contentType = blob::contentTypeOf(to.uri.path);
    const auto write = writeOptions(options);
    const auto existing = write.mode == blob::WriteMode::kDefault
                              ? to.store->head(to.uri.path)
                              : std::optional<blob::BlobProperties>();
    const auto written =
        blob::writeBlob(*to.store, to.uri.path, input, put, write, existing,
                        [&](uint64_t done) { progress.add(done - progress.done()); });
    progress.finish();
    if (options.format.structured()) {
      options.format.print(json{{"files", 1},
                                {"bytes", written.size},
                                {"items", {toJson(written, to.store->uriOf(written.name))}}});
    }
    return;
  }
  Opened from = open(options.source);
  if (options.destination == "-") {
    if (options.recursive)
      throw Error("-r cannot write to standard output", "-", "name a directory");
    from.store->get(from.uri.path, writeAllToStdout);
    return;
  }
  Opened to = open(options.destination);
  blob::BlobStore* destination = to.store.get();
  if (from.uri.storeUri() == to.uri.storeUri()) destination = from.store.get();  // server-side copy
  // A local directory destination takes the file by its name, as cp does.
  std::string destinationPath = to.uri.path;
  if (to.uri.scheme == blob::BlobUri::Scheme::kFile && !destinationPath.empty() &&
      destinationPath.back() != '/' && std::filesystem::is_directory("/" + destinationPath)) {
    destinationPath += "/";
  }
  ProgressBar progress(options.recursive ? "copy" : blob::baseName(from.uri.path), std::nullopt,
                       showProgress);
  blob::CopyOptions copy;
  copy.write = writeOptions(options);
  copy.recursive = options.recursive;
  copy.parallelFiles = options.parallelFiles;
  copy.onBytes = [&](uint64_t bytes) { progress.add(bytes); };
  copy.onTotal = [&](uint64_t total) { progress.addTotal(total); };
  const auto copied = blob::copyBlobs({from.store.get(), from.uri.path, options.source},
                                      {destination, destinationPath, options.destination}, copy);
  progress.finish();
  uint64_t bytes = 0;
  json items = json::array();
  for (const auto& item : copied) {
    bytes += item.size;
    items.push_back({{"from", from.store->uriOf(item.from)},
                     {"to", destination->uriOf(item.to)},
                     {"size", item.size},
                     {"etag", item.etag}});
  }
  if (options.format.structured()) {
    options.format.print(json{{"files", copied.size()},
                              {"bytes", bytes},
                              {"seconds", progress.elapsedSeconds()},
                              {"items", items}});
  } else if (!options.quiet && ProgressBar::stderrIsTerminal()) {
    std::cerr << fmt::format("copied {} file{}, {}\n", copied.size(), copied.size() == 1 ? "" : "s",
                             humanBytes(bytes));
  }
}

void runRm(const std::string& uri, bool recursive) {
  Opened opened = open(uri);
  if (!recursive) {
    opened.store->remove(opened.uri.path);
    return;
  }
  std::string prefix = opened.uri.path;
  if (!prefix.empty() && prefix.back() != '/') prefix += "/";
  const auto blobs = blob::listAll(*opened.store, prefix);
  BoundedExecutor executor(8, 64);
  for (const auto& properties : blobs) {
    executor.submit([&] { opened.store->remove(properties.name); });
  }
  executor.finish();
}

void runStat(const std::string& uri, const OutputFormat& format) {
  Opened opened = open(uri);
  const auto properties = opened.store->head(opened.uri.path);
  if (!properties) {
    throw blob::BlobError(blob::ErrorKind::kNotFound, "no such blob", opened.uri.toString(),
                          "list the parent with skiff blob ls");
  }
  if (format.structured()) {
    format.print(toJson(*properties, opened.uri.toString()));
    return;
  }
  std::cout << fmt::format(
      "uri:           {}\nsize:          {}\netag:          {}\n"
      "last modified: {}\ncontent type:  {}\n",
      opened.uri.toString(), properties->size, properties->etag, isoTime(properties->lastModified),
      properties->contentType);
  if (!properties->blobType.empty()) {
    std::cout << fmt::format("blob type:     {}\n", properties->blobType);
  }
  // Base64 as Azure keeps it, and hex as md5sum and rclone md5sum print it.
  if (!properties->contentMd5.empty()) {
    std::cout << fmt::format("content md5:   {} ({})\n", properties->contentMd5,
                             md5Hex(properties->contentMd5));
  }
  for (const auto& [key, value] : properties->metadata) {
    std::cout << fmt::format("metadata:      {}={}\n", key, value);
  }
}

}  // namespace

void addBlobCommands(CLI::App& app, CommandContext&) {
  CLI::App* blobCommand = app.add_subcommand(
      "blob", "Blob storage: list, copy, remove, print and inspect blobs (az://, file://, paths)");
  blobCommand->require_subcommand(1);
  blobCommand->footer(
      "URIs: az://ACCOUNT/CONTAINER/PATH, file:///PATH or a local path; '-' is stdin/stdout.\n"
      "Azure credentials come from AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT\n"
      "with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN (AZURE_STORAGE_BLOB_ENDPOINT overrides\n"
      "the endpoint), or the file named by SKIFF_AZURE_CREDENTIALS_FILE.");

  auto ls = std::make_shared<LsOptions>();
  CLI::App* lsCommand = blobCommand->add_subcommand("ls", "List blobs and directories under a URI");
  lsCommand->add_option("URI", ls->uri, "Where to list")->required();
  lsCommand->add_flag("-r,--recursive", ls->recursive, "Everything below, not one level");
  lsCommand->add_flag("-l,--long", ls->longFormat, "Sizes and modification times");
  addOutputOptions(*lsCommand, ls->format, "The entries");
  lsCommand->callback([ls] { runLs(*ls); });

  auto cp = std::make_shared<CpOptions>();
  CLI::App* cpCommand = blobCommand->add_subcommand(
      "cp", "Copy blobs between any two stores; -r copies everything under SRC to under DST");
  cpCommand->add_option("SRC", cp->source, "Source URI, path or - for stdin")->required();
  cpCommand->add_option("DST", cp->destination, "Destination URI, path or - for stdout")
      ->required();
  cpCommand->add_flag("-r,--recursive", cp->recursive, "Copy every blob under SRC");
  addOutputOptions(*cpCommand, cp->format, "What was copied");
  cpCommand->add_flag("-q,--quiet", cp->quiet, "No progress display");
  cpCommand
      ->add_option("--parallel", cp->parallelFiles,
                   fmt::format("Files in flight at once (with -r; default: {} small files, {} "
                               "larger than {} MiB, {} when nothing crosses the network)",
                               blob::kSmallFilesInFlight, blob::kLargeFilesInFlight,
                               blob::kSmallFileBytes >> 20, blob::kLocalFilesInFlight))
      ->check(CLI::Range(1, 64));
  cpCommand
      ->add_option("--blob-type", cp->blobType,
                   "block: replace the destination with a block blob even if it is an append "
                   "or page blob; append: append to an append blob (created when missing)")
      ->check(CLI::IsMember({"block", "append"}));
  cpCommand->add_option("--content-type", cp->contentType,
                        "Content-Type of what is written (default: the source's, else from the "
                        "file extension via /etc/mime.types)");
  cpCommand->callback([cp] { runCp(*cp); });

  auto rmUri = std::make_shared<std::string>();
  auto rmRecursive = std::make_shared<bool>(false);
  CLI::App* rmCommand =
      blobCommand->add_subcommand("rm", "Remove a blob, or -r everything under a URI");
  rmCommand->add_option("URI", *rmUri, "What to remove")->required();
  rmCommand->add_flag("-r,--recursive", *rmRecursive, "Every blob under URI");
  rmCommand->callback([rmUri, rmRecursive] { runRm(*rmUri, *rmRecursive); });

  auto catUri = std::make_shared<std::string>();
  CLI::App* catCommand = blobCommand->add_subcommand("cat", "Write a blob to standard output");
  catCommand->add_option("URI", *catUri, "The blob")->required();
  catCommand->callback([catUri] {
    Opened opened = open(*catUri);
    opened.store->get(opened.uri.path, writeAllToStdout);
  });

  auto statUri = std::make_shared<std::string>();
  auto statFormat = std::make_shared<OutputFormat>();
  CLI::App* statCommand =
      blobCommand->add_subcommand("stat", "Show a blob's properties and metadata");
  statCommand->add_option("URI", *statUri, "The blob")->required();
  addOutputOptions(*statCommand, *statFormat, "The properties");
  statCommand->callback([statUri, statFormat] { runStat(*statUri, *statFormat); });
}

}  // namespace skiff::cli
