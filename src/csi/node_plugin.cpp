#include "csi/node_plugin.hpp"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <optional>
#include <thread>

#include "common/error.hpp"
#include "csi/pod_events.hpp"
#include "csi/volumes.hpp"
#include "skiff/version.hpp"
#include "skiff_csi_proto/csi.grpc.pb.h"
#include "skiff_csi_proto/registration.grpc.pb.h"

namespace skiff::csi {
namespace {

namespace fs = std::filesystem;

grpc::Status toStatus(const CsiError& error) {
  using C = CsiError::Code;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (error.code) {
    case C::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case C::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case C::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case C::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case C::kInternal:
      code = grpc::StatusCode::INTERNAL;
      break;
  }
  return {code, error.message};
}

// Runs a call, turning what it throws into the gRPC status kubelet shows.
template <typename Call>
grpc::Status guarded(const char* name, Call&& call) {
  try {
    call();
    return grpc::Status::OK;
  } catch (const CsiError& error) {
    spdlog::warn("{}: {}", name, error.message);
    return toStatus(error);
  } catch (const std::exception& error) {
    spdlog::error("{}: {}", name, error.what());
    return {grpc::StatusCode::INTERNAL, error.what()};
  }
}

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  explicit IdentityService(std::string name) : name_(std::move(name)) {}

  grpc::Status GetPluginInfo(grpc::ServerContext*, const ::csi::v1::GetPluginInfoRequest*,
                             ::csi::v1::GetPluginInfoResponse* response) override {
    response->set_name(name_);
    response->set_vendor_version(kVersion);
    (*response->mutable_manifest())["commit"] = kCommit;
    return grpc::Status::OK;
  }
  // No CONTROLLER_SERVICE: volumes need no create, attach or stage step.
  grpc::Status GetPluginCapabilities(grpc::ServerContext*,
                                     const ::csi::v1::GetPluginCapabilitiesRequest*,
                                     ::csi::v1::GetPluginCapabilitiesResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Probe(grpc::ServerContext*, const ::csi::v1::ProbeRequest*,
                     ::csi::v1::ProbeResponse* response) override {
    response->mutable_ready()->set_value(true);
    return grpc::Status::OK;
  }

 private:
  std::string name_;
};

class NodeService final : public ::csi::v1::Node::Service {
 public:
  NodeService(std::string nodeId, VolumeManager& volumes)
      : nodeId_(std::move(nodeId)), volumes_(volumes) {}

  grpc::Status NodePublishVolume(grpc::ServerContext*,
                                 const ::csi::v1::NodePublishVolumeRequest* request,
                                 ::csi::v1::NodePublishVolumeResponse*) override {
    return guarded("NodePublishVolume", [&] {
      if (request->has_volume_capability() && request->volume_capability().has_block()) {
        throw CsiError{CsiError::Code::kInvalidArgument,
                       "skiff's driver serves file system volumes only, not block volumes"};
      }
      PublishRequest publish;
      publish.volumeId = request->volume_id();
      publish.targetPath = request->target_path();
      publish.readOnly = request->readonly();
      if (request->has_volume_capability()) {
        const auto mode = request->volume_capability().access_mode().mode();
        using Mode = ::csi::v1::VolumeCapability::AccessMode;
        if (mode == Mode::SINGLE_NODE_READER_ONLY || mode == Mode::MULTI_NODE_READER_ONLY) {
          publish.readOnly = true;
        }
      }
      publish.attributes = {request->volume_context().begin(), request->volume_context().end()};
      publish.secrets = {request->secrets().begin(), request->secrets().end()};
      volumes_.publish(publish);
    });
  }

  grpc::Status NodeUnpublishVolume(grpc::ServerContext*,
                                   const ::csi::v1::NodeUnpublishVolumeRequest* request,
                                   ::csi::v1::NodeUnpublishVolumeResponse*) override {
    return guarded("NodeUnpublishVolume",
                   [&] { volumes_.unpublish(request->volume_id(), request->target_path()); });
  }

  grpc::Status NodeGetCapabilities(grpc::ServerContext*,
                                   const ::csi::v1::NodeGetCapabilitiesRequest*,
                                   ::csi::v1::NodeGetCapabilitiesResponse*) override {
    return grpc::Status::OK;  // publish and unpublish only: no staging, stats or expansion
  }

  grpc::Status NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest*,
                           ::csi::v1::NodeGetInfoResponse* response) override {
    response->set_node_id(nodeId_);
    return grpc::Status::OK;
  }

 private:
  std::string nodeId_;
  VolumeManager& volumes_;
};

// kubelet's plugin watcher: it finds the socket, asks GetInfo, and says
// whether the driver registered.
class RegistrationService final : public ::pluginregistration::Registration::Service {
 public:
  RegistrationService(std::string name, std::string endpoint)
      : name_(std::move(name)), endpoint_(std::move(endpoint)) {}

  grpc::Status GetInfo(grpc::ServerContext*, const ::pluginregistration::InfoRequest*,
                       ::pluginregistration::PluginInfo* response) override {
    response->set_type("CSIPlugin");
    response->set_name(name_);
    response->set_endpoint(endpoint_);
    response->add_supported_versions("1.0.0");
    return grpc::Status::OK;
  }
  grpc::Status NotifyRegistrationStatus(
      grpc::ServerContext*, const ::pluginregistration::RegistrationStatus* status,
      ::pluginregistration::RegistrationStatusResponse*) override {
    if (status->plugin_registered()) {
      spdlog::info("kubelet registered the driver {}", name_);
    } else {
      spdlog::error("kubelet did not register the driver {}: {}", name_, status->error());
    }
    return grpc::Status::OK;
  }

 private:
  std::string name_;
  std::string endpoint_;
};

std::string socketPath(const std::string& endpoint) {
  const std::string scheme = "unix://";
  if (endpoint.rfind(scheme, 0) != 0 || endpoint.size() <= scheme.size()) {
    throw Error("the endpoint is not unix:///PATH", endpoint,
                "pass --endpoint unix:///var/lib/kubelet/plugins/csi.skiff.dev/csi.sock");
  }
  return endpoint.substr(scheme.size());
}

// A unix socket's file left by a plugin that was killed: gRPC cannot bind
// over it.
void removeStaleSocket(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (fs::is_socket(path, error)) fs::remove(path, error);
}

std::unique_ptr<grpc::Server> startServer(const std::string& socket,
                                          const std::vector<grpc::Service*>& services) {
  removeStaleSocket(socket);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket, grpc::InsecureServerCredentials());
  for (auto* service : services) builder.RegisterService(service);
  auto server = builder.BuildAndStart();
  if (!server)
    throw Error("cannot listen on the unix socket", socket, "is its directory writable?");
  ::chmod(socket.c_str(), 0600);
  return server;
}

// Watches the recorded volumes for mount processes that died, and tells
// each one's pod once (the plugin's log says it either way).
class MountWatch {
 public:
  MountWatch(const VolumeManager& volumes, std::optional<PodEvents> events)
      : volumes_(volumes), events_(std::move(events)) {}

  void check() {
    for (const auto& found : volumes_.volumes()) {
      if (found.processAlive) continue;
      const auto key = std::make_pair(found.volume.pid, found.volume.started);
      auto [tries, first] = tries_.try_emplace(key, 0);
      const auto log = found.dir / "mount.log";
      if (first) {
        spdlog::error(
            "volume {} at {}: its skiff mount (pid {}) has died: the pod sees ENOTCONN until a "
            "new pod publishes the volume again; its log: {}",
            found.volume.volumeId, found.volume.targetPath, found.volume.pid, log.string());
      }
      // Told once; an API that refused or was away is asked a few more times.
      if (!events_ || tries->second < 0 || tries->second >= kTries) continue;
      tries->second = events_->mountDied(found.volume, log.string()) ? -1 : tries->second + 1;
    }
  }

 private:
  static constexpr int kTries = 5;
  const VolumeManager& volumes_;
  std::optional<PodEvents> events_;
  std::map<std::pair<pid_t, unsigned long long>, int> tries_;  // -1: told
};

std::optional<PodEvents> podEvents(const NodePluginOptions& options) {
  try {
    if (auto access = pluginApiAccess(options.apiServer)) {
      spdlog::info("pod events go to {}", access->server);
      return PodEvents(std::move(*access), options.nodeId);
    }
    spdlog::warn("no service account token: a dying mount is logged here, not told to its pod");
  } catch (const Error& error) {
    spdlog::warn("no API access ({}): a dying mount is logged here, not told to its pod",
                 error.what());
  }
  return std::nullopt;
}

std::atomic<bool> stopRequested{false};
void onStopSignal(int) {
  stopRequested = true;
}

}  // namespace

int runNodePlugin(const NodePluginOptions& options) {
  if (options.nodeId.empty()) throw Error("no node id", "--node-id", "pass the node's name");
  const std::string socket = socketPath(options.endpoint);
  VolumeManagerOptions volumeOptions;
  volumeOptions.stateDir = options.stateDir;
  volumeOptions.mountCgroupRoot = options.mountCgroupRoot;
  volumeOptions.skiffBinary =
      options.skiffBinary.empty() ? fs::read_symlink("/proc/self/exe") : options.skiffBinary;
  VolumeManager volumes(volumeOptions);

  // What an earlier run of the plugin left: its mounts keep serving.
  for (const auto& found : volumes.volumes()) {
    if (found.processAlive && found.mounted) {
      spdlog::info("volume {} at {}: skiff mount pid {} serves it", found.volume.volumeId,
                   found.volume.targetPath, found.volume.pid);
    } else if (found.processAlive) {
      spdlog::error("volume {} at {}: its skiff mount (pid {}) serves no mount there",
                    found.volume.volumeId, found.volume.targetPath, found.volume.pid);
    }
  }
  MountWatch watch(volumes, podEvents(options));

  IdentityService identity(options.driverName);
  NodeService node(options.nodeId, volumes);
  auto server = startServer(socket, {&identity, &node});
  spdlog::info("skiff csi node {} ({}): serving {} on {}", kVersion, options.driverName,
               options.nodeId, socket);

  std::unique_ptr<RegistrationService> registration;
  std::unique_ptr<grpc::Server> registrationServer;
  if (!options.registrationDir.empty()) {
    registration = std::make_unique<RegistrationService>(options.driverName, socket);
    const auto registrationSocket =
        (options.registrationDir / (options.driverName + "-reg.sock")).string();
    registrationServer = startServer(registrationSocket, {registration.get()});
    spdlog::info("registration for kubelet on {}", registrationSocket);
  }

  // On a thread of its own: an API server that is slow to answer must hold up
  // neither the plugin's calls nor its stop.
  std::thread watcher([&] {
    for (int tick = 0; !stopRequested; ++tick) {
      if (tick % 10 == 0) watch.check();  // at once: the ones that died while no plugin ran
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  while (!stopRequested) {
    // As PID 1 of a container, orphans (mount processes that ended) are ours to reap.
    if (::getpid() == 1) {
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  spdlog::info("stopping: the mounts stay up");
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
  if (registrationServer) registrationServer->Shutdown(deadline);
  server->Shutdown(deadline);
  watcher.join();
  return 0;
}

}  // namespace skiff::csi
