#include "blob/azure/azure_store.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <pugixml.hpp>
#include <random>
#include <thread>

#include "blob/azure/shared_key.hpp"
#include "blob/errors.hpp"
#include "blob/sources.hpp"
#include "common/parallel.hpp"
#include "common/text.hpp"
#include "http/http_client.hpp"

namespace skiff::blob::azure {
namespace {

constexpr const char* kApiVersion = "2021-12-02";
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string httpDate(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return buffer;
}

std::chrono::system_clock::time_point parseHttpDate(const std::string& text) {
  std::tm utc{};
  if (!strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &utc)) return {};
  return std::chrono::system_clock::from_time_t(timegm(&utc));
}

uint64_t toNumber(const std::string& text) {
  return text.empty() ? 0 : std::strtoull(text.c_str(), nullptr, 10);
}

bool isRetryable(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

void addConditions(Headers& headers, const Conditions& conditions) {
  if (!conditions.ifMatch.empty()) headers.emplace_back("If-Match", conditions.ifMatch);
  if (!conditions.ifNoneMatch.empty())
    headers.emplace_back("If-None-Match", conditions.ifNoneMatch);
}

void addBlobSettings(Headers& headers, const PutOptions& options) {
  headers.emplace_back("x-ms-blob-content-type", options.contentType);
  for (const auto& [key, value] : options.metadata) headers.emplace_back("x-ms-meta-" + key, value);
  addConditions(headers, options.conditions);
}

// MD5 of a whole blob, fed in order while it is sent or received.
class Md5 {
 public:
  Md5() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(context_.get(), EVP_md5(), nullptr);
  }
  void update(std::string_view data) { EVP_DigestUpdate(context_.get(), data.data(), data.size()); }
  std::string base64() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context_.get(), digest, &size);
    return base64Encode(std::string_view(reinterpret_cast<const char*>(digest), size));
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_;
};

BlobProperties propertiesFromHeaders(const std::string& name, const http::Response& response) {
  BlobProperties properties;
  properties.name = name;
  properties.size = toNumber(response.header("content-length"));
  properties.etag = response.header("etag");
  properties.lastModified = parseHttpDate(response.header("last-modified"));
  properties.contentType = response.header("content-type");
  properties.blobType = response.header("x-ms-blob-type");
  // A ranged read's Content-MD5 (if any) is the range's; the whole blob's comes apart.
  properties.contentMd5 = response.header("x-ms-blob-content-md5");
  if (properties.contentMd5.empty() && response.header("content-range").empty()) {
    properties.contentMd5 = response.header("content-md5");
  }
  for (const auto& [header, value] : response.headers) {
    if (header.rfind("x-ms-meta-", 0) == 0) properties.metadata[header.substr(10)] = value;
  }
  return properties;
}

std::chrono::milliseconds backoff(const RetryPolicy& policy, int attempt,
                                  const std::string& retryAfter) {
  thread_local std::mt19937 generator{std::random_device{}()};
  const double exponential = static_cast<double>(policy.baseDelay.count()) *
                             static_cast<double>(1u << std::min(attempt, 16));
  const double capped = std::min(exponential, static_cast<double>(policy.maxDelay.count()));
  // Full jitter in the upper half: spreads retries of many clients apart.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(capped * jitter(generator)));
  if (!retryAfter.empty()) {
    const auto asked = std::chrono::seconds(std::min<uint64_t>(toNumber(retryAfter), 60));
    delay = std::max<std::chrono::milliseconds>(delay, asked);
  }
  return delay;
}

// A "." or ".." segment would be normalised out of the URL on its way (by
// curl, proxies or the service), so the signed path no longer matches and the
// service answers 403 as if the key were wrong. Azure refuses such names
// anyway: say so before sending anything.
void checkBlobName(const std::string& name, const std::string& uri) {
  size_t start = 0;
  while (start <= name.size()) {
    const size_t end = std::min(name.find('/', start), name.size());
    const std::string_view segment = std::string_view(name).substr(start, end - start);
    if (segment == "." || segment == "..") {
      throw BlobError(ErrorKind::kInvalid,
                      fmt::format("the blob name \"{}\" has a \"{}\" segment, which Azure Blob "
                                  "Storage does not allow",
                                  name, segment),
                      uri, "name the blob without \"./\" and \"../\" parts");
    }
    start = end + 1;
  }
}

}  // namespace

struct AzureStore::Call {
  std::string method = "GET";
  std::string name;  // blob name; empty for container-level calls
  Headers query;     // decoded
  Headers headers;
  std::string_view body;
  bool headOnly = false;
  std::vector<long> accept = {200};  // statuses handed back instead of thrown
  // Streams a successful response body instead of collecting it; onAttempt
  // runs before every try, so a retried stream can start over.
  std::function<void(const char*, size_t)> onBody;
  std::function<void()> onAttempt;
  // For a conditional write: the Content-MD5 the blob has once it applied.
  // When an attempt whose outcome is unknown (the connection broke, a 5xx)
  // is followed by a failed condition, the first attempt may have landed:
  // a blob with exactly this MD5 is this write's, and counts as success.
  std::string writtenMd5;
};

namespace {
http::ClientOptions clientOptions(const TransferOptions& transfer) {
  http::ClientOptions options;
  options.stallTimeout = transfer.stallTimeout;
  options.connectTimeout = std::min(options.connectTimeout, transfer.stallTimeout);
  return options;
}
}  // namespace

TransferOptions transferOptionsFromEnvironment() {
  TransferOptions options;
  if (const char* value = std::getenv("SKIFF_BLOB_BLOCK_SIZE"); value && *value) {
    const auto bytes = parseByteSize(value);
    if (!bytes || *bytes < 1024 || *bytes > (4000ull << 20)) {
      throw Error(fmt::format("\"{}\" is not a block size", value), "SKIFF_BLOB_BLOCK_SIZE",
                  "1Ki to 4000Mi, e.g. 8Mi");
    }
    options.blockSize = *bytes;
  }
  if (const char* value = std::getenv("SKIFF_BLOB_CONCURRENCY"); value && *value) {
    options.concurrency = std::clamp(std::atoi(value), 1, 64);
  }
  if (const char* value = std::getenv("SKIFF_BLOB_RETRIES"); value && *value) {
    options.retry.maxAttempts = std::clamp(std::atoi(value), 1, 20);
  }
  if (const char* value = std::getenv("SKIFF_BLOB_STALL_TIMEOUT"); value && *value) {
    const auto seconds = parseDurationSeconds(value);
    if (!seconds || *seconds < 1 || *seconds > 3600) {
      throw Error(fmt::format("\"{}\" is not a stall timeout", value), "SKIFF_BLOB_STALL_TIMEOUT",
                  "1s to 1h, e.g. 10s");
    }
    options.stallTimeout = std::chrono::seconds(static_cast<int64_t>(*seconds));
  }
  return options;
}

AzureStore::AzureStore(std::string account, std::string container, Credentials credentials,
                       TransferOptions options)
    : account_(std::move(account)),
      container_(std::move(container)),
      credentials_(std::move(credentials)),
      options_(options),
      client_(std::make_unique<http::Client>(clientOptions(options))) {
  if (!credentials_.key.empty()) keyBytes_ = base64Decode(credentials_.key);
}

AzureStore::~AzureStore() = default;

std::string AzureStore::uriOf(std::string_view name) const {
  return fmt::format("az://{}/{}{}{}", account_, container_, name.empty() ? "" : "/", name);
}

std::string AzureStore::urlPath(const std::string& name) const {
  // The endpoint may carry a path (emulators: http://127.0.0.1:10000/devstoreaccount1).
  const auto schemeEnd = credentials_.blobEndpoint.find("://");
  const auto pathStart = credentials_.blobEndpoint.find('/', schemeEnd + 3);
  const std::string endpointPath =
      pathStart == std::string::npos ? "" : credentials_.blobEndpoint.substr(pathStart);
  return endpointPath + "/" + container_ +
         (name.empty() ? "" : "/" + http::percentEncode(name, true));
}

http::Response AzureStore::execute(const Call& call) {
  if (!call.name.empty()) checkBlobName(call.name, uriOf(call.name));
  const std::string path = urlPath(call.name);
  const auto schemeEnd = credentials_.blobEndpoint.find("://");
  const auto hostEnd = credentials_.blobEndpoint.find('/', schemeEnd + 3);
  std::string url = credentials_.blobEndpoint.substr(0, hostEnd) + path;
  std::string query;
  for (const auto& [key, value] : call.query) {
    query += (query.empty() ? "" : "&") + key + "=" + http::percentEncode(value, false);
  }
  if (!credentials_.sasToken.empty()) {
    query += (query.empty() ? "" : "&") + credentials_.sasToken;
  }
  if (!query.empty()) url += "?" + query;
  const std::string uri = uriOf(call.name);

  bool mayHaveLanded = false;  // an earlier attempt's outcome is unknown
  for (int attempt = 1;; ++attempt) {
    http::Request request;
    request.method = call.method;
    request.url = url;
    request.body = call.body;
    request.headOnly = call.headOnly;
    request.onBody = call.onBody;
    if (call.onAttempt) call.onAttempt();
    request.headers = call.headers;
    request.headers.emplace_back("x-ms-date", httpDate(std::chrono::system_clock::now()));
    request.headers.emplace_back("x-ms-version", kApiVersion);
    if (!keyBytes_.empty() && credentials_.sasToken.empty()) {
      SignedRequest signedRequest{call.method, path, call.query, request.headers, call.body.size()};
      request.headers.emplace_back("Authorization",
                                   sharedKeyAuthorization(signedRequest, account_, keyBytes_));
    }
    const bool lastAttempt = attempt >= options_.retry.maxAttempts;
    http::Response response;
    try {
      response = client_->send(request);
    } catch (const http::TransportError& e) {
      if (lastAttempt) {
        throw BlobError(ErrorKind::kUnavailable,
                        fmt::format("cannot reach the storage service at {} ({}; gave up after {} "
                                    "attempts)",
                                    credentials_.blobEndpoint, e.what(), attempt),
                        uri, "check the endpoint, the network, and that the service is up");
      }
      mayHaveLanded = true;
      const auto delay = backoff(options_.retry, attempt, {});
      spdlog::debug("{} {}: {}; retrying in {} ms", call.method, uri, e.what(), delay.count());
      std::this_thread::sleep_for(delay);
      continue;
    }
    if (std::find(call.accept.begin(), call.accept.end(), response.status) != call.accept.end()) {
      return response;
    }
    if (isRetryable(response.status) && !lastAttempt) {
      mayHaveLanded = mayHaveLanded || response.status >= 500;
      const auto delay = backoff(options_.retry, attempt, response.header("retry-after"));
      spdlog::debug("{} {}: HTTP {}; retrying in {} ms", call.method, uri, response.status,
                    delay.count());
      std::this_thread::sleep_for(delay);
      continue;
    }
    // Not retryable, or out of attempts: say what the service said.
    std::string code = response.header("x-ms-error-code");
    std::string message;
    pugi::xml_document document;
    if (!response.body.empty() && document.load_string(response.body.c_str())) {
      if (code.empty()) code = document.child("Error").child_value("Code");
      message = document.child("Error").child_value("Message");
      message = message.substr(0, message.find('\n'));
    }
    const std::string requestId = response.header("x-ms-request-id");
    const int status = static_cast<int>(response.status);
    auto fail = [&](ErrorKind kind, std::string what, std::string hint) {
      if (!message.empty() && kind != ErrorKind::kConditionFailed) what += ": " + message;
      throw BlobError(kind, std::move(what), uri, std::move(hint), status, code, requestId);
    };
    if (status == 404 && code == "ContainerNotFound") {
      fail(ErrorKind::kNotFound, "no such container",
           "create it (skiff blob cp creates the destination container)");
    }
    if (status == 404) fail(ErrorKind::kNotFound, "no such blob", {});
    const bool conditionFailed = status == 412 || code == "ConditionNotMet" ||
                                 (status == 409 && code == "BlobAlreadyExists");
    if (conditionFailed && mayHaveLanded && !call.writtenMd5.empty()) {
      if (auto landed = ownEarlierWrite(call)) return *landed;
    }
    if (status == 412 || code == "ConditionNotMet") {
      fail(ErrorKind::kConditionFailed, "the blob was changed by someone else since it was read",
           "read it again and retry; nothing was overwritten");
    }
    if (status == 409 && code == "BlobAlreadyExists") {
      fail(ErrorKind::kConditionFailed, "the blob already exists",
           "someone else created it first; nothing was overwritten");
    }
    if (status == 401 || status == 403) {
      fail(ErrorKind::kAuth, "the storage service refused the credentials",
           "check AZURE_STORAGE_KEY, the connection string or the SAS token (permissions, expiry)");
    }
    if (isRetryable(status)) {
      fail(ErrorKind::kUnavailable,
           fmt::format("the storage service kept failing (gave up after {} attempts)", attempt),
           "try again later");
    }
    if (status == 416) fail(ErrorKind::kInvalid, "the range is outside the blob", {});
    fail(status >= 400 && status < 500 ? ErrorKind::kInvalid : ErrorKind::kOther,
         fmt::format("{} failed", call.method), {});
  }
}

void AzureStore::ensureContainer() {
  Call call;
  call.method = "PUT";
  call.query = {{"restype", "container"}};
  call.accept = {201, 403, 409};
  const http::Response response = execute(call);
  const std::string code = response.header("x-ms-error-code");
  // Credentials that may write blobs but not create containers (a container
  // SAS, the most common kind) are refused this step: the container is there
  // or the write says so. A Shared Key may do everything, so its 403 is a wrong
  // key (Azurite answers AuthorizationFailure then), which stops here.
  const bool sasWithoutCreate = code == "AuthorizationPermissionMismatch" ||
                                code == "AuthorizationResourceTypeMismatch" ||
                                (code == "AuthorizationFailure" && !credentials_.sasToken.empty());
  if (response.status == 403 && sasWithoutCreate) {
    spdlog::debug("{}: not allowed to create the container ({}); going on", uriOf(""), code);
    return;
  }
  if (response.status == 403) {
    throw BlobError(ErrorKind::kAuth, "the storage service refused the credentials", uriOf(""),
                    "check AZURE_STORAGE_KEY, the connection string or the SAS token",
                    static_cast<int>(response.status), code, response.header("x-ms-request-id"));
  }
  if (response.status == 409 && response.header("x-ms-error-code") != "ContainerAlreadyExists") {
    throw BlobError(ErrorKind::kOther, "cannot create the container", uriOf(""),
                    "it may be being deleted; try again in a minute",
                    static_cast<int>(response.status), response.header("x-ms-error-code"),
                    response.header("x-ms-request-id"));
  }
}

std::optional<http::Response> AzureStore::ownEarlierWrite(const Call& write) {
  Call call;
  call.method = "HEAD";
  call.name = write.name;
  call.headOnly = true;
  call.accept = {200, 404};
  http::Response response = execute(call);
  if (response.status != 200 || response.header("content-md5") != write.writtenMd5) {
    return std::nullopt;
  }
  spdlog::debug("{}: an earlier attempt of the write landed", uriOf(write.name));
  return response;
}

std::optional<BlobProperties> AzureStore::head(const std::string& name) {
  Call call;
  call.method = "HEAD";
  call.name = name;
  call.headOnly = true;
  call.accept = {200, 404};
  const http::Response response = execute(call);
  if (response.status == 404) return std::nullopt;
  return propertiesFromHeaders(name, response);
}

http::Response AzureStore::rangedGet(const std::string& name, uint64_t offset, uint64_t length,
                                     const Conditions& conditions) {
  Call call;
  call.name = name;
  call.headers = {{"x-ms-range", fmt::format("bytes={}-{}", offset, offset + length - 1)}};
  addConditions(call.headers, conditions);
  call.accept = {200, 206, 416};
  return execute(call);
}

AzureStore::FirstPart AzureStore::readFirstPart(const std::string& name, const ByteRange& range,
                                                const Conditions& conditions) {
  const uint64_t length =
      range.length ? std::min(*range.length, options_.blockSize) : options_.blockSize;
  http::Response first = rangedGet(name, range.offset, length, conditions);
  if (first.status == 416) {
    // Past the end: reading exactly at the end is an empty read, as in a file.
    auto properties = head(name);
    if (!properties) throw BlobError(ErrorKind::kNotFound, "no such blob", uriOf(name));
    if (range.offset == properties->size) return FirstPart{*properties, {}};
    throw BlobError(ErrorKind::kInvalid,
                    fmt::format("range starts at {}, past the end of the blob ({} bytes)",
                                range.offset, properties->size),
                    uriOf(name), {}, 416);
  }
  FirstPart part{propertiesFromHeaders(name, first), std::move(first.body)};
  const std::string contentRange = first.header("content-range");  // bytes a-b/total
  const auto slash = contentRange.rfind('/');
  part.properties.size =
      slash == std::string::npos ? part.body.size() : toNumber(contentRange.substr(slash + 1));
  return part;
}

std::string AzureStore::readPinnedRange(const std::string& name, uint64_t offset, uint64_t length,
                                        const std::string& etag) {
  // Pinned to the ETag of the first part: a blob replaced mid-download fails
  // instead of mixing two versions.
  Conditions pinned;
  pinned.ifMatch = etag;
  http::Response part = rangedGet(name, offset, length, pinned);
  if (part.body.size() != length) {
    throw BlobError(
        ErrorKind::kOther,
        fmt::format("short read at offset {}: {} of {} bytes", offset, part.body.size(), length),
        uriOf(name), "try again");
  }
  return std::move(part.body);
}

BlobProperties AzureStore::get(const std::string& name, const Sink& sink, const ByteRange& range,
                               const Conditions& conditions, const ProgressCallback& progress) {
  if (range.length && *range.length == 0) {
    auto properties = head(name);
    if (!properties) throw BlobError(ErrorKind::kNotFound, "no such blob", uriOf(name));
    return *properties;
  }
  auto first = readFirstPart(name, range, conditions);
  BlobProperties& properties = first.properties;
  // A whole blob with an MD5 is checked as it streams by, as azcopy's
  // --check-md5 does: a damaged transfer fails instead of passing as data.
  std::optional<Md5> md5;
  if (range.offset == 0 && !range.length && !properties.contentMd5.empty()) md5.emplace();
  const auto verify = [&] {
    if (md5 && md5->base64() != properties.contentMd5) {
      throw BlobError(ErrorKind::kOther,
                      "the downloaded bytes do not match the blob's Content-MD5 (" +
                          properties.contentMd5 + ")",
                      uriOf(name),
                      "download it again; if it persists, the stored blob or its MD5 is damaged");
    }
  };
  if (md5) md5->update(first.body);
  sink(first.body.data(), first.body.size());
  uint64_t done = first.body.size();
  if (progress) progress(done);

  const uint64_t chunk = options_.blockSize;
  const uint64_t end =
      range.length ? std::min(properties.size, range.offset + *range.length) : properties.size;
  const uint64_t start = range.offset + first.body.size();
  if (start >= end) {
    verify();
    return properties;
  }
  const size_t count = static_cast<size_t>((end - start + chunk - 1) / chunk);
  orderedParallel<std::string>(
      count, options_.concurrency, static_cast<size_t>(options_.concurrency) * 2,
      [&](size_t index) {
        const uint64_t offset = start + index * chunk;
        return readPinnedRange(name, offset, std::min(chunk, end - offset), properties.etag);
      },
      [&](size_t, std::string&& data) {
        if (md5) md5->update(data);
        sink(data.data(), data.size());
        done += data.size();
        if (progress) progress(done);
      });
  verify();
  return properties;
}

void AzureStore::streamPinnedRange(const std::string& name, uint64_t offset, uint64_t length,
                                   const std::string& etag, const PositionalSink& sink,
                                   const std::function<void(uint64_t)>& onBytes) {
  uint64_t received = 0;
  uint64_t reported = 0;  // progress counts each byte once, across retries
  Call call;
  call.name = name;
  call.headers = {{"x-ms-range", fmt::format("bytes={}-{}", offset, offset + length - 1)},
                  {"If-Match", etag}};
  call.accept = {200, 206};
  // A retry fetches the range again from its start: the sink writes at fixed
  // offsets, so bytes delivered twice land on themselves.
  call.onAttempt = [&] { received = 0; };
  call.onBody = [&](const char* data, size_t size) {
    sink(offset + received, data, size);
    received += size;
    if (received > reported) {
      if (onBytes) onBytes(received - reported);
      reported = received;
    }
  };
  execute(call);
  if (received != length) {
    throw BlobError(
        ErrorKind::kOther,
        fmt::format("short read at offset {}: {} of {} bytes", offset, received, length),
        uriOf(name), "try again");
  }
}

BlobProperties AzureStore::getUnordered(const std::string& name, const PositionalSink& sink,
                                        const ProgressCallback& progress) {
  auto first = readFirstPart(name, {}, {});
  const BlobProperties properties = first.properties;
  sink(0, first.body.data(), first.body.size());
  uint64_t done = first.body.size();
  if (progress) progress(done);
  if (done >= properties.size) return properties;  // small blobs: no worker threads at all
  // The rest streams straight into the sink, so ranges can be long (few
  // requests, which services and emulators serve best) at no memory cost.
  const auto workers = static_cast<uint64_t>(options_.concurrency);
  const uint64_t range = std::clamp((properties.size - done + workers - 1) / workers,
                                    options_.blockSize, uint64_t{256} << 20);
  std::mutex progressMutex;
  const auto counted = [&](uint64_t bytes) {
    std::lock_guard lock(progressMutex);
    done += bytes;
    if (progress) progress(done);
  };
  BoundedExecutor executor(options_.concurrency, static_cast<size_t>(options_.concurrency));
  for (uint64_t offset = done; offset < properties.size; offset += range) {
    executor.submit([&, offset] {
      streamPinnedRange(name, offset, std::min(range, properties.size - offset), properties.etag,
                        sink, counted);
    });
  }
  executor.finish();
  return properties;
}

// Put Block for each staged block, on the store's workers with two blocks
// queued (reading a block takes far less than sending one), then Put Block List.
class AzureStore::Blocks : public BlockUpload {
 public:
  Blocks(AzureStore& store, std::string name, ProgressCallback progress)
      : store_(store),
        name_(std::move(name)),
        progress_(std::move(progress)),
        executor_(store.options_.concurrency, 2) {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    uploadId_ = fmt::format("{:016x}", generator());
  }

  uint64_t blockSize() const override { return store_.options_.blockSize; }

  void stage(std::string data) override {
    // Block ids of one blob must all have the same length.
    ids_.push_back(base64Encode(fmt::format("{}-{:08d}", uploadId_, ids_.size())));
    total_ += data.size();
    md5_.update(data);
    auto block = std::make_shared<std::string>(std::move(data));
    if (!executor_.submit([this, id = ids_.back(), block] { send(id, *block); })) {
      executor_.finish();  // rethrows the block that failed
    }
  }

  BlobProperties commit(const PutOptions& options) override {
    executor_.finish();  // rethrows the first failed block: nothing is committed then
    std::string xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    for (const auto& id : ids_) xml += "<Latest>" + id + "</Latest>";
    xml += "</BlockList>";
    Call commit;
    commit.method = "PUT";
    commit.name = name_;
    commit.query = {{"comp", "blocklist"}};
    commit.body = xml;
    // The service keeps no MD5 of a blob made of blocks unless told: hashed
    // here, in order, and set on Put Block List (as azcopy --put-md5 does),
    // so that rclone check and md5sum see it.
    const std::string blobMd5 = md5_.base64();
    commit.headers = {{"x-ms-blob-content-md5", blobMd5}};
    addBlobSettings(commit.headers, options);
    commit.accept = {201};
    commit.writtenMd5 = blobMd5;
    const http::Response response = store_.execute(commit);
    BlobProperties properties;
    properties.name = name_;
    properties.blobType = "BlockBlob";
    properties.contentMd5 = blobMd5;
    properties.size = total_;
    properties.etag = response.header("etag");
    properties.lastModified = parseHttpDate(response.header("last-modified"));
    properties.contentType = options.contentType;
    properties.metadata = options.metadata;
    return properties;
  }

 private:
  void send(const std::string& id, const std::string& data) {
    Call call;
    call.method = "PUT";
    call.name = name_;
    call.query = {{"comp", "block"}, {"blockid", id}};
    call.body = data;
    call.accept = {201};
    store_.execute(call);
    std::lock_guard lock(progressMutex_);
    done_ += data.size();
    if (progress_) progress_(done_);
  }

  AzureStore& store_;
  std::string name_;
  ProgressCallback progress_;
  std::string uploadId_;
  std::vector<std::string> ids_;
  uint64_t total_ = 0;
  Md5 md5_;
  std::mutex progressMutex_;
  uint64_t done_ = 0;
  BoundedExecutor executor_;  // last: destroyed first, waiting for blocks in flight
};

BlobProperties AzureStore::putSingle(const std::string& name, std::string_view data,
                                     const PutOptions& options) {
  Call call;
  call.method = "PUT";
  call.name = name;
  call.body = data;
  Md5 md5;
  md5.update(data);
  // Checked by the service on arrival and kept as the blob's MD5.
  call.headers = {{"x-ms-blob-type", "BlockBlob"}, {"Content-MD5", md5.base64()}};
  addBlobSettings(call.headers, options);
  call.accept = {201};
  call.writtenMd5 = call.headers[1].second;
  http::Response response;
  try {
    response = execute(call);
  } catch (const BlobError& e) {
    // Uncommitted blocks (an abandoned block upload, such as the mount's own
    // when a file it streamed is rewritten) make Azurite refuse Put Blob
    // with If-None-Match: * although the blob does not exist (Azure takes
    // it). Put Block List takes the same condition as both do.
    if (e.kind() != ErrorKind::kConditionFailed || options.conditions.ifNoneMatch != "*" ||
        head(name)) {
      throw;
    }
    Blocks blocks(*this, name, {});
    blocks.stage(std::string(data));
    return blocks.commit(options);
  }
  BlobProperties properties;
  properties.name = name;
  properties.blobType = "BlockBlob";
  properties.contentMd5 = call.headers[1].second;
  properties.size = data.size();
  properties.etag = response.header("etag");
  properties.lastModified = parseHttpDate(response.header("last-modified"));
  properties.contentType = options.contentType;
  properties.metadata = options.metadata;
  return properties;
}

std::unique_ptr<BlockUpload> AzureStore::beginBlockUpload(const std::string& name,
                                                          const ProgressCallback& progress) {
  return std::make_unique<Blocks>(*this, name, progress);
}

BlobProperties AzureStore::putBlocks(const std::string& name, Source& source,
                                     std::string firstBlock, const PutOptions& options,
                                     const ProgressCallback& progress) {
  Blocks blocks(*this, name, progress);
  const uint64_t firstSize = firstBlock.size();
  blocks.stage(std::move(firstBlock));
  if (source.supportsReadAt() && source.size()) {
    // A file of known size: read in order here (for the MD5), sent in parallel.
    const uint64_t size = *source.size();
    for (uint64_t offset = firstSize; offset < size; offset += options_.blockSize) {
      const size_t length = static_cast<size_t>(std::min(options_.blockSize, size - offset));
      std::string block(length, '\0');
      if (readFullyAt(source, offset, block.data(), length) != length) {
        throw BlobError(ErrorKind::kOther, "the file became shorter while it was uploaded",
                        uriOf(name), "upload it again once nothing writes to it");
      }
      blocks.stage(std::move(block));
    }
  } else {
    while (true) {
      std::string block(options_.blockSize, '\0');
      block.resize(readFully(source, block.data(), block.size()));
      if (block.empty()) break;
      blocks.stage(std::move(block));
    }
  }
  return blocks.commit(options);
}

BlobProperties AzureStore::put(const std::string& name, Source& source, const PutOptions& options,
                               const ProgressCallback& progress) {
  if (name.empty() || name.back() == '/') {
    throw BlobError(ErrorKind::kInvalid, "not a blob name (it ends with '/')", uriOf(name));
  }
  // Small blobs go up in one request; a source that fills a whole block goes
  // in blocks. No more is read (or allocated) than a source of known size
  // holds: a 64 KiB file costs 64 KiB, not a whole block.
  const uint64_t firstSize =
      source.size() ? std::min(*source.size(), options_.blockSize) : options_.blockSize;
  std::string first(static_cast<size_t>(firstSize), '\0');
  first.resize(readFully(source, first.data(), first.size()));
  if (first.size() < options_.blockSize || (source.size() && *source.size() == first.size())) {
    BlobProperties properties = putSingle(name, first, options);
    if (progress) progress(first.size());
    return properties;
  }
  return putBlocks(name, source, std::move(first), options, progress);
}

BlobProperties AzureStore::append(const std::string& name, Source& source,
                                  const PutOptions& options) {
  auto existing = head(name);
  if (!options.conditions.ifMatch.empty() &&
      (!existing || existing->etag != options.conditions.ifMatch)) {
    throw changedBySomeoneElse(uriOf(name));
  }
  if (!existing) {
    Call create;
    create.method = "PUT";
    create.name = name;
    create.headers = {{"x-ms-blob-type", "AppendBlob"}};
    addBlobSettings(create.headers, options);
    create.accept = {201};
    execute(create);
  } else if (existing->blobType != "AppendBlob") {
    throw BlobError(ErrorKind::kInvalid,
                    fmt::format("a {} cannot be appended to", existing->blobType), uriOf(name),
                    "copy the whole blob instead (--blob-type block replaces it)");
  }
  // Append Block takes at most 4 MiB per call (API versions before 2022-11-02);
  // blocks go in order, one at a time, as appends must.
  constexpr size_t kAppendBlockSize = 4u << 20;
  // With If-Match, each block must land where the last one ended: a writer
  // appending at the same time makes this fail (412) instead of interleaving.
  uint64_t position = existing ? existing->size : 0;
  std::string block(kAppendBlockSize, '\0');
  while (true) {
    block.resize(readFully(source, block.data(), kAppendBlockSize));
    if (block.empty()) break;
    Call call;
    call.method = "PUT";
    call.name = name;
    call.query = {{"comp", "appendblock"}};
    call.body = block;
    if (!options.conditions.ifMatch.empty()) {
      call.headers = {{"x-ms-blob-condition-appendpos", std::to_string(position)}};
    }
    call.accept = {201};
    execute(call);
    position += block.size();
    if (block.size() < kAppendBlockSize) break;
    block.resize(kAppendBlockSize);
  }
  auto properties = head(name);
  if (!properties) throw BlobError(ErrorKind::kNotFound, "the blob vanished", uriOf(name));
  return *properties;
}

void AzureStore::remove(const std::string& name, const Conditions& conditions) {
  Call call;
  call.method = "DELETE";
  call.name = name;
  addConditions(call.headers, conditions);
  call.accept = {202};
  execute(call);
}

BlobProperties AzureStore::copy(const std::string& from, const std::string& to) {
  checkBlobName(from, uriOf(from));
  const auto schemeEnd = credentials_.blobEndpoint.find("://");
  const auto hostEnd = credentials_.blobEndpoint.find('/', schemeEnd + 3);
  std::string source = credentials_.blobEndpoint.substr(0, hostEnd) + urlPath(from);
  if (!credentials_.sasToken.empty()) source += "?" + credentials_.sasToken;
  Call call;
  call.method = "PUT";
  call.name = to;
  call.headers = {{"x-ms-copy-source", source}};
  call.accept = {202, 201};
  http::Response response = execute(call);
  // The service may copy in the background: wait for it to settle.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(30);
  std::string status = response.header("x-ms-copy-status");
  while (status == "pending" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Call poll;
    poll.method = "HEAD";
    poll.name = to;
    poll.headOnly = true;
    status = execute(poll).header("x-ms-copy-status");
  }
  if (status != "success" && !status.empty()) {
    throw BlobError(ErrorKind::kOther, "the server-side copy ended as " + status, uriOf(to),
                    "copy it again");
  }
  auto properties = head(to);
  if (!properties) throw BlobError(ErrorKind::kNotFound, "the copy vanished", uriOf(to));
  return *properties;
}

ListPage AzureStore::list(const ListOptions& options) {
  Call call;
  call.query = {{"restype", "container"}, {"comp", "list"}};
  if (!options.prefix.empty()) call.query.emplace_back("prefix", options.prefix);
  if (!options.delimiter.empty()) call.query.emplace_back("delimiter", options.delimiter);
  if (!options.marker.empty()) call.query.emplace_back("marker", options.marker);
  call.query.emplace_back("maxresults", std::to_string(options.maxResults));
  if (options.withMetadata) call.query.emplace_back("include", "metadata");
  const http::Response response = execute(call);
  pugi::xml_document document;
  if (!document.load_buffer(response.body.data(), response.body.size())) {
    throw BlobError(ErrorKind::kOther, "the listing is not valid XML", uriOf(options.prefix),
                    "is the endpoint an Azure Blob service?", static_cast<int>(response.status), {},
                    response.header("x-ms-request-id"));
  }
  const pugi::xml_node results = document.child("EnumerationResults");
  ListPage page;
  for (const pugi::xml_node node : results.child("Blobs").children()) {
    if (std::string_view(node.name()) == "BlobPrefix") {
      page.prefixes.emplace_back(node.child_value("Name"));
      continue;
    }
    BlobProperties properties;
    properties.name = node.child_value("Name");
    const pugi::xml_node fields = node.child("Properties");
    properties.size = toNumber(fields.child_value("Content-Length"));
    properties.etag = fields.child_value("Etag");
    if (!properties.etag.empty() && properties.etag.front() != '"') {
      properties.etag = "\"" + properties.etag + "\"";  // as the ETag header quotes it
    }
    properties.lastModified = parseHttpDate(fields.child_value("Last-Modified"));
    properties.contentType = fields.child_value("Content-Type");
    properties.blobType = fields.child_value("BlobType");
    properties.contentMd5 = fields.child_value("Content-MD5");
    for (const pugi::xml_node item : node.child("Metadata").children()) {
      properties.metadata[item.name()] = item.child_value();
    }
    page.blobs.push_back(std::move(properties));
  }
  page.nextMarker = results.child_value("NextMarker");
  return page;
}

}  // namespace skiff::blob::azure
