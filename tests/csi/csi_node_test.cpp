// `skiff csi node` as kubelet drives it: a gRPC client built from the same
// protos calls the plugin on its unix socket; volumes are real FUSE mounts of
// file:// stores and of a live Azurite; the plugin is killed with SIGKILL
// while a reader reads through its mount.

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "blob/blob_fixture.hpp"
#include "blob/sources.hpp"
#include "common/files.hpp"
#include "common/subprocess.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "skiff_csi_proto/csi.grpc.pb.h"
#include "skiff_csi_proto/registration.grpc.pb.h"

namespace skiff::csi::testing {
namespace {

namespace fs = std::filesystem;
using skiff::testing::Azurite;
using skiff::testing::TempDir;
using skiff::testing::waitFor;

// The file system type at a mount point in this mount namespace, "" for none.
std::string mountType(const fs::path& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, type;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    if (point != path.string()) continue;
    std::istringstream rest(line.substr(line.find(" - ") + 3));
    rest >> type;
  }
  return type;
}

bool processRuns(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close != std::string::npos && text.size() > close + 2 && text[close + 2] != 'Z';
}

class CsiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(work_ / "pods");
    startPlugin();
  }

  void TearDown() override {
    // Whatever a failed case left mounted must not be walked by TempDir's
    // remove_all (that would delete the store's files through the mount).
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    std::vector<std::string> points;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string id, parent, device, root, point;
      fields >> id >> parent >> device >> root >> point;
      if (point.rfind(work_.path().string(), 0) == 0) points.push_back(point);
    }
    for (auto it = points.rbegin(); it != points.rend(); ++it) {
      ADD_FAILURE() << "left mounted: " << *it;
      ::umount2(it->c_str(), MNT_DETACH);
    }
    for (const pid_t pid : mountPids()) ::kill(pid, SIGKILL);
    if (plugin_) plugin_->stop(std::chrono::seconds(5));
  }

  void startPlugin() {
    SpawnOptions options;
    options.stdoutFile = work_ / "plugin.log";
    options.stderrFile = options.stdoutFile;
    fs::remove(work_ / "plugin.log.all");
    plugin_ = std::make_unique<Subprocess>(
        std::vector<std::string>{skiff::testing::skiffBinary(), "csi", "node", "--endpoint",
                                 "unix://" + socket(), "--node-id", "test-node", "--state-dir",
                                 (work_ / "state").string(), "--registration-dir",
                                 (work_ / "registry").string()},
        options);
    // A channel of its own, not a connection of the killed plugin's from
    // gRPC's process-wide pool.
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = grpc::CreateCustomChannel("unix://" + socket(), grpc::InsecureChannelCredentials(),
                                         arguments);
    ASSERT_TRUE(
        channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)))
        << readSmallFile(work_ / "plugin.log");
    identity_ = ::csi::v1::Identity::NewStub(channel_);
    node_ = ::csi::v1::Node::NewStub(channel_);
  }

  // kill -9 of the plugin, its logs kept for the checks on secrets.
  void killPlugin() {
    ::kill(plugin_->pid(), SIGKILL);
    plugin_->wait(std::chrono::seconds(10));
    std::ofstream(work_ / "plugin.log.all", std::ios::app) << readSmallFile(work_ / "plugin.log");
    plugin_.reset();
  }

  std::string pluginLog() const {
    return readSmallFile(work_ / "plugin.log.all") + readSmallFile(work_ / "plugin.log");
  }

  std::string socket() const { return (work_ / "plugin" / "csi.sock").string(); }
  fs::path target(const std::string& pod) const { return work_ / "pods" / pod / "mount"; }

  grpc::Status publish(const std::string& volumeId, const fs::path& targetPath,
                       const std::map<std::string, std::string>& attributes,
                       const std::map<std::string, std::string>& secrets = {},
                       bool readOnly = false) {
    ::csi::v1::NodePublishVolumeRequest request;
    request.set_volume_id(volumeId);
    request.set_target_path(targetPath.string());
    request.set_readonly(readOnly);
    auto* capability = request.mutable_volume_capability();
    capability->mutable_mount();
    capability->mutable_access_mode()->set_mode(
        ::csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    for (const auto& [key, value] : attributes) (*request.mutable_volume_context())[key] = value;
    // What kubelet adds to an inline volume's context.
    (*request.mutable_volume_context())["csi.storage.k8s.io/ephemeral"] = "true";
    (*request.mutable_volume_context())["csi.storage.k8s.io/pod.name"] = "pod";
    for (const auto& [key, value] : secrets) (*request.mutable_secrets())[key] = value;
    ::csi::v1::NodePublishVolumeResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
    return node_->NodePublishVolume(&context, request, &response);
  }

  grpc::Status unpublish(const std::string& volumeId, const fs::path& targetPath) {
    ::csi::v1::NodeUnpublishVolumeRequest request;
    request.set_volume_id(volumeId);
    request.set_target_path(targetPath.string());
    ::csi::v1::NodeUnpublishVolumeResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
    return node_->NodeUnpublishVolume(&context, request, &response);
  }

  // The mount processes on record in the state directory.
  std::vector<pid_t> mountPids() const {
    std::vector<pid_t> pids;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(work_ / "state" / "volumes", error)) {
      std::ifstream in(entry.path() / "volume.json");
      if (!in) continue;
      pids.push_back(nlohmann::json::parse(in).value("pid", 0));
    }
    return pids;
  }

  bool stateEmpty() const {
    std::error_code error;
    return fs::is_empty(work_ / "state" / "volumes", error);
  }

  TempDir work_{"skiff-csi"};
  std::unique_ptr<Subprocess> plugin_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::csi::v1::Identity::Stub> identity_;
  std::unique_ptr<::csi::v1::Node::Stub> node_;
};

TEST_F(CsiNodeTest, IdentityNodeInfoAndKubeletRegistration) {
  grpc::ClientContext infoContext;
  ::csi::v1::GetPluginInfoResponse info;
  ASSERT_TRUE(identity_->GetPluginInfo(&infoContext, {}, &info).ok());
  EXPECT_EQ(info.name(), "csi.skiff.dev");
  EXPECT_FALSE(info.vendor_version().empty());

  grpc::ClientContext probeContext;
  ::csi::v1::ProbeResponse probe;
  ASSERT_TRUE(identity_->Probe(&probeContext, {}, &probe).ok());
  EXPECT_TRUE(probe.ready().value());

  grpc::ClientContext capabilitiesContext;
  ::csi::v1::GetPluginCapabilitiesResponse capabilities;
  ASSERT_TRUE(identity_->GetPluginCapabilities(&capabilitiesContext, {}, &capabilities).ok());
  EXPECT_EQ(capabilities.capabilities_size(), 0) << "a node-only plugin has no controller";

  grpc::ClientContext nodeContext;
  ::csi::v1::NodeGetInfoResponse nodeInfo;
  ASSERT_TRUE(node_->NodeGetInfo(&nodeContext, {}, &nodeInfo).ok());
  EXPECT_EQ(nodeInfo.node_id(), "test-node");

  // What kubelet's plugin watcher asks on the registration socket.
  const auto registrationSocket = work_ / "registry" / "csi.skiff.dev-reg.sock";
  ASSERT_TRUE(fs::is_socket(registrationSocket));
  auto registration = ::pluginregistration::Registration::NewStub(grpc::CreateChannel(
      "unix://" + registrationSocket.string(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext registrationContext;
  ::pluginregistration::PluginInfo plugin;
  ASSERT_TRUE(registration->GetInfo(&registrationContext, {}, &plugin).ok());
  EXPECT_EQ(plugin.type(), "CSIPlugin");
  EXPECT_EQ(plugin.name(), "csi.skiff.dev");
  EXPECT_EQ(plugin.endpoint(), socket());
  ASSERT_EQ(plugin.supported_versions_size(), 1);
  EXPECT_EQ(plugin.supported_versions(0), "1.0.0");
  grpc::ClientContext notifyContext;
  ::pluginregistration::RegistrationStatus status;
  status.set_plugin_registered(true);
  ::pluginregistration::RegistrationStatusResponse statusResponse;
  EXPECT_TRUE(registration->NotifyRegistrationStatus(&notifyContext, status, &statusResponse).ok());
  EXPECT_TRUE(waitFor(
      [&] { return readSmallFile(work_ / "plugin.log").find("registered") != std::string::npos; },
      std::chrono::seconds(5)));
}

TEST_F(CsiNodeTest, FileVolumeReadsWritesAndUnpublishesIdempotently) {
  TempDir store("skiff-csi-store");
  store.write("data/in.txt", "through the driver\n");
  const std::string uri = "file://" + (store.path() / "data").string();
  const auto mount = target("pod-a");

  ASSERT_TRUE(publish("vol-a", mount, {{"uri", uri}, {"cacheTimeout", "0"}}).ok());
  EXPECT_EQ(mountType(mount), "fuse.skiff");
  EXPECT_EQ(readSmallFile(mount / "in.txt"), "through the driver\n");
  std::ofstream(mount / "out.txt") << "written by a pod\n";
  EXPECT_EQ(store.read("data/out.txt"), "written by a pod\n") << "closed files are in the store";

  // kubelet may call again: the same volume is a success, and still one mount.
  ASSERT_TRUE(publish("vol-a", mount, {{"uri", uri}, {"cacheTimeout", "0"}}).ok());
  EXPECT_EQ(mountPids().size(), 1u);
  // Another volume at the same place is not.
  const auto other = publish("vol-a", mount, {{"uri", uri}, {"cacheTimeout", "5"}});
  EXPECT_EQ(other.error_code(), grpc::StatusCode::ALREADY_EXISTS) << other.error_message();

  // A second pod reading the same store read-only.
  const auto reader = target("pod-b");
  ASSERT_TRUE(publish("vol-b", reader, {{"uri", uri}}, {}, true).ok());
  EXPECT_EQ(readSmallFile(reader / "in.txt"), "through the driver\n");
  std::ofstream(reader / "refused.txt") << "no";
  EXPECT_FALSE(fs::exists(store.path() / "data" / "refused.txt"));

  const auto pids = mountPids();
  ASSERT_EQ(pids.size(), 2u);
  ASSERT_TRUE(unpublish("vol-a", mount).ok());
  ASSERT_TRUE(unpublish("vol-b", reader).ok());
  EXPECT_EQ(mountType(mount), "");
  EXPECT_EQ(mountType(reader), "");
  EXPECT_FALSE(fs::exists(mount)) << "the target goes with the volume";
  EXPECT_TRUE(stateEmpty()) << "no cache, no state left";
  for (const pid_t pid : pids) {
    EXPECT_TRUE(waitFor([&] { return !processRuns(pid); }, std::chrono::seconds(10))) << pid;
  }
  EXPECT_EQ(store.read("data/in.txt"), "through the driver\n") << "unpublish deletes nothing";
  // Again: nothing to do is a success.
  EXPECT_TRUE(unpublish("vol-a", mount).ok());
}

TEST_F(CsiNodeTest, BusyVolumeStillEndsUnmounted) {
  TempDir store("skiff-csi-store");
  store.write("data/held.txt", "held open\n");
  const auto mount = target("pod-busy");
  ASSERT_TRUE(
      publish("vol-busy", mount, {{"uri", "file://" + (store.path() / "data").string()}}).ok());
  // A process of a deleted pod that still holds a file open.
  const int held = ::open((mount / "held.txt").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);
  const auto pids = mountPids();
  ASSERT_TRUE(unpublish("vol-busy", mount).ok());
  EXPECT_EQ(mountType(mount), "");
  EXPECT_TRUE(stateEmpty());
  for (const pid_t pid : pids) EXPECT_FALSE(processRuns(pid));
  ::close(held);
  EXPECT_EQ(store.read("data/held.txt"), "held open\n");
}

TEST_F(CsiNodeTest, BadVolumesFailNamingTheProblem) {
  TempDir store("skiff-csi-store");
  const std::string fileUri = "file://" + store.path().string();
  const std::string azUri =
      "az://" + std::string(Azurite::kAccount) + "/" + blob::testing::uniqueContainer("csi-bad");
  struct Case {
    std::map<std::string, std::string> attributes;
    std::map<std::string, std::string> secrets;
    grpc::StatusCode code;
    std::string says;
  };
  const std::string wrongKey =
      "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" +
      std::string(88 - 2, 'A') + "==;BlobEndpoint=" + Azurite::shared().blobEndpoint() + ";";
  const std::vector<Case> cases = {
      {{}, {}, grpc::StatusCode::INVALID_ARGUMENT, "volume attribute uri is missing"},
      {{{"uri", "s3://bucket/x"}},
       {},
       grpc::StatusCode::INVALID_ARGUMENT,
       "\"s3://bucket/x\" is not an az:// or file:// URI"},
      {{{"uri", fileUri}, {"cacheTimout", "5"}},
       {},
       grpc::StatusCode::INVALID_ARGUMENT,
       "unknown volume attribute \"cacheTimout\""},
      {{{"uri", fileUri}, {"cacheTimeout", "soon"}},
       {},
       grpc::StatusCode::INVALID_ARGUMENT,
       "volume attribute cacheTimeout: \"soon\" is not a duration"},
      {{{"uri", fileUri}, {"cacheSize", "big"}},
       {},
       grpc::StatusCode::INVALID_ARGUMENT,
       "volume attribute cacheSize: \"big\""},
      {{{"uri", fileUri}, {"readOnly", "yes"}},
       {},
       grpc::StatusCode::INVALID_ARGUMENT,
       "volume attribute readOnly: \"yes\" is not true or false"},
      {{{"uri", azUri}},
       {},
       grpc::StatusCode::INVALID_ARGUMENT,
       "no credentials for " + azUri + ": give the volume a nodePublishSecretRef"},
      {{{"uri", azUri}},
       {{"password", "hunter2"}},
       grpc::StatusCode::INVALID_ARGUMENT,
       "the volume's secret has a key \"password\""},
      {{{"uri", "az://devstoreaccount1/no-such-container"}},
       {{"AZURE_STORAGE_CONNECTION_STRING", Azurite::shared().connectionString()}},
       grpc::StatusCode::FAILED_PRECONDITION,
       "skiff mount of az://devstoreaccount1/no-such-container at "},
      {{{"uri", azUri}},
       {{"AZURE_STORAGE_CONNECTION_STRING", wrongKey}},
       grpc::StatusCode::FAILED_PRECONDITION,
       "skiff mount of " + azUri},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.says);
    const auto mount = target("pod-bad");
    const auto status = publish("vol-bad", mount, bad.attributes, bad.secrets);
    EXPECT_EQ(status.error_code(), bad.code) << status.error_message();
    EXPECT_NE(status.error_message().find(bad.says), std::string::npos) << status.error_message();
    EXPECT_EQ(status.error_message().find("hunter2"), std::string::npos);
    EXPECT_EQ(status.error_message().find(std::string(20, 'A')), std::string::npos);
    EXPECT_EQ(mountType(mount), "");
    EXPECT_TRUE(stateEmpty());
  }
  // The store's refusal is named, so a user knows it is the key.
  const auto refused = publish("vol-bad", target("pod-bad"), {{"uri", azUri}},
                               {{"AZURE_STORAGE_CONNECTION_STRING", wrongKey}});
  EXPECT_NE(refused.error_message().find("403"), std::string::npos) << refused.error_message();
  EXPECT_EQ(pluginLog().find(std::string(20, 'A')), std::string::npos);
}

// A mount that dies under its pod is logged, and what it never stored
// outlives the pod's unpublish: the next read-write mount of the same
// store takes the cache over and recovers it (mount.md's crash promise,
// through the driver).
TEST_F(CsiNodeTest, WhatADeadMountNeverStoredGoesToTheNextMountOfItsStore) {
  TempDir store("skiff-csi-store");
  store.write("data/clean.txt", "in the store\n");
  const std::string uri = "file://" + (store.path() / "data").string();
  const auto first = target("pod-dies");
  ASSERT_TRUE(publish("vol-dies", first, {{"uri", uri}}).ok());
  EXPECT_EQ(readSmallFile(first / "clean.txt"), "in the store\n");  // a clean copy in the cache
  const int open = ::open((first / "open-new.txt").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(open, 0);
  ASSERT_EQ(::write(open, "never closed", 12), 12);
  const auto pids = mountPids();
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_EQ(::kill(pids[0], SIGKILL), 0);
  ::close(open);
  EXPECT_TRUE(waitFor([&] { return pluginLog().find("has died") != std::string::npos; },
                      std::chrono::seconds(10)))
      << pluginLog();
  EXPECT_NE(pluginLog().find("its log: "), std::string::npos) << pluginLog();

  ASSERT_TRUE(unpublish("vol-dies", first).ok());
  EXPECT_EQ(mountType(first), "");
  EXPECT_TRUE(stateEmpty());
  EXPECT_NE(pluginLog().find("its cache holds changes that are in no store"), std::string::npos)
      << pluginLog();
  EXPECT_FALSE(fs::exists(store.path() / "data" / "open-new.txt")) << "never closed: not stored";
  // What is kept is what no store has: the clean copy stays behind.
  std::vector<std::string> keptData;
  for (const auto& entry : fs::recursive_directory_iterator(work_ / "state" / "kept")) {
    if (entry.is_regular_file() && entry.path().parent_path().filename() == "data") {
      keptData.push_back(readSmallFile(entry.path()));
    }
  }
  EXPECT_EQ(keptData, std::vector<std::string>{"never closed"});

  // A reader of the store does not take it; the next writer does.
  const auto reader = target("pod-reader");
  ASSERT_TRUE(publish("vol-reader", reader, {{"uri", uri}}, {}, true).ok());
  ASSERT_TRUE(unpublish("vol-reader", reader).ok());
  const auto next = target("pod-next");
  ASSERT_TRUE(publish("vol-next", next, {{"uri", uri}}).ok());
  std::string recovered;
  for (const auto& entry : fs::recursive_directory_iterator(work_ / "state" / "volumes")) {
    if (entry.path().filename() == "open-new.txt" &&
        entry.path().string().find("/cache/recovered/") != std::string::npos) {
      recovered = readSmallFile(entry.path());
    }
  }
  EXPECT_EQ(recovered, "never closed") << pluginLog();
  ASSERT_TRUE(unpublish("vol-next", next).ok());
  EXPECT_TRUE(fs::is_directory(work_ / "state" / "kept"))
      << "recovered/ is the user's: it is kept again, never deleted";
}

// The restart case of the issue: kill -9 of the plugin while a pod reads
// through its Azurite volume; no read fails, the restarted plugin carries
// on, and unpublish leaves nothing behind. The credentials are nowhere in
// `ps`, the plugin's log or the mount's.
TEST_F(CsiNodeTest, AzuriteVolumeSurvivesPluginKill) {
  const std::string container = blob::testing::uniqueContainer("csi");
  blob::azure::AzureStore store(Azurite::kAccount, container, blob::testing::azuriteCredentials());
  store.ensureContainer();
  std::vector<std::string> contents;
  for (int i = 0; i < 4; ++i) {
    contents.push_back(blob::testing::randomBytes(size_t{4} << 20, i));
    blob::MemorySource source(contents.back());
    static_cast<blob::BlobStore&>(store).put("data/part-" + std::to_string(i), source);
  }
  const std::string uri = "az://" + std::string(Azurite::kAccount) + "/" + container + "/data";
  const auto mount = target("pod-az");
  const std::map<std::string, std::string> secrets = {
      {"AZURE_STORAGE_CONNECTION_STRING", Azurite::shared().connectionString()}};
  // Every read asks the store (cacheTimeout 0), so reads go to the mount process.
  ASSERT_TRUE(publish("vol-az", mount, {{"uri", uri}, {"cacheTimeout", "0"}}, secrets).ok());
  ASSERT_EQ(mountType(mount), "fuse.skiff");

  const auto ps = runCommand({"ps", "-eo", "args"});
  EXPECT_EQ(ps.out.find(Azurite::kKey), std::string::npos) << "the key is on a command line";

  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, failures{0};
  std::string firstFailure;
  std::thread reader([&] {
    for (int round = 0; !stop; ++round) {
      const int part = round % 4;
      const auto path = mount / ("part-" + std::to_string(part));
      const int fd = ::open(path.c_str(), O_RDONLY);
      std::string data;
      if (fd >= 0) {
        char buffer[1 << 16];
        ssize_t got;
        while ((got = ::read(fd, buffer, sizeof buffer)) > 0) data.append(buffer, got);
        // The kernel's copy goes, so the next round reads through the mount again.
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
      }
      if (data != contents[part]) {
        if (failures++ == 0) {
          firstFailure = path.string() + ": " + (fd < 0 ? std::strerror(errno) : "wrong bytes");
        }
      }
      ++reads;
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Joiner() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } joiner{stop, reader};
  ASSERT_TRUE(waitFor([&] { return reads >= 3; }, std::chrono::seconds(60)));
  killPlugin();
  const int atKill = reads;
  ASSERT_TRUE(waitFor([&] { return reads >= atKill + 4; }, std::chrono::seconds(60)))
      << "reads stalled after the plugin died";
  EXPECT_EQ(mountType(mount), "fuse.skiff");

  startPlugin();
  EXPECT_TRUE(waitFor(
      [&] { return readSmallFile(work_ / "plugin.log").find("serves it") != std::string::npos; },
      std::chrono::seconds(10)))
      << "the restarted plugin did not find its volume:\n"
      << readSmallFile(work_ / "plugin.log");
  // kubelet's retry of the publish after a restart finds the live mount.
  const auto again = publish("vol-az", mount, {{"uri", uri}, {"cacheTimeout", "0"}}, secrets);
  EXPECT_TRUE(again.ok()) << again.error_message();
  const int atRestart = reads;
  ASSERT_TRUE(waitFor([&] { return reads >= atRestart + 2; }, std::chrono::seconds(60)));
  stop = true;
  reader.join();
  EXPECT_GT(reads, 0);
  EXPECT_EQ(failures, 0) << firstFailure;

  std::string mountLogs;
  for (const auto& entry : fs::directory_iterator(work_ / "state" / "volumes")) {
    mountLogs +=
        readSmallFile(entry.path() / "mount.log") + readSmallFile(entry.path() / "mount.out");
  }
  EXPECT_NE(mountLogs.find("mounted"), std::string::npos) << mountLogs;
  EXPECT_EQ(mountLogs.find(Azurite::kKey), std::string::npos) << "the key is in the mount's log";

  const auto pids = mountPids();
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_TRUE(unpublish("vol-az", mount).ok());
  EXPECT_EQ(mountType(mount), "");
  EXPECT_FALSE(processRuns(pids[0]));
  EXPECT_TRUE(stateEmpty()) << "the cache stays behind";

  EXPECT_EQ(pluginLog().find(Azurite::kKey), std::string::npos) << "the key is in the log";
}

}  // namespace
}  // namespace skiff::csi::testing
