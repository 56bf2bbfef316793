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

}  // namespace skiff::testing
