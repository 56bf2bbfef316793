#pragma once

// A one-node cluster that runs pods, for tests: scripts/kube-cluster up in a
// temp dir (etcd, the control plane, kube-scheduler, kubelet, containerd,
// the CNI bridge, the loopback registry on 127.0.0.1:5000 with the base
// images of scripts/base-images), and scripts/kube-cluster down when the test
// binary ends. One per machine at a time (the registry's port, the bridge):
// CTest runs its users under the RESOURCE_LOCK "pod_cluster", and a test
// binary waits for /tmp/skiff-pod-cluster.lock. SKIFF_POD_CLUSTER=DIR uses a
// cluster started by hand (scripts/kube-cluster up --dir DIR) instead, and
// leaves it up: for working on these tests.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/subprocess.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::testing {

class PodCluster {
 public:
  static PodCluster& shared();
  ~PodCluster();

  std::filesystem::path kubeconfig() const { return dir_ / "kubeconfig"; }
  // What `skiff` needs to build for and release to this cluster:
  // KUBECONFIG, and CONTAINERS_REGISTRIES_CONF (docker.io from the loopback registry).
  std::map<std::string, std::string> env() const;
  // kubectl against the cluster, as the admin.
  CommandResult kubectl(const std::vector<std::string>& args) const;
  double startSeconds() const { return startSeconds_; }
  // The logs of the cluster's processes (kubelet, containerd), for failure messages.
  std::string log(const std::string& process) const;

 private:
  PodCluster();
  int lock_ = -1;
  bool own_ = true;  // started here, so stopped here
  TempDir scratch_{"skiff-pods"};
  std::filesystem::path dir_;
  std::map<std::string, std::string> settings_;  // DIR/cluster.env
  double startSeconds_ = 0;
};

// A project in a temp dir (its skiff.yaml given, a `FROM busybox`
// Dockerfile), released with `--target k8s` into a namespace of its own,
// which goes when it does.
class ClusterProject {
 public:
  // The namespace: skiff-PURPOSE-TEST-PID.
  ClusterProject(const std::string& purpose, const std::string& test, const std::string& yaml);
  ~ClusterProject();

  const std::filesystem::path& path() const { return dir_.path(); }
  const std::string& ns() const { return ns_; }
  std::map<std::string, std::string> env() const { return PodCluster::shared().env(); }

  CommandResult build() const;
  // `skiff ARGS --target k8s --namespace NS DIR`, with `extraEnv` beside env().
  CommandResult skiff(std::vector<std::string> args,
                      const std::map<std::string, std::string>& extraEnv = {}) const;
  CommandResult release(const std::string& timeout) const;
  // release(timeout), which must exit 1 (a failure if not): its stdout and
  // stderr, also printed (what a user sees, in the test log).
  std::string releaseFails(const std::string& timeout) const;
  // What the cluster says of the namespace (pods, jobs, events), for failure messages.
  std::string cluster() const;
  // The number of pods of the job or service entry (skiff.dev/entry=jobs.NAME).
  size_t pods(const std::string& entry) const;

 private:
  TempDir dir_{"skiff-cluster-project"};
  std::string ns_;
};

}  // namespace skiff::testing
