// The Kubernetes target: applies the project to a cluster.

#include "common/error.hpp"
#include "deploy/target.hpp"

namespace skiff::deploy {

namespace {

class K8sTarget : public Target {
 public:
  int release(const spec::Spec&, const ReleaseOptions&) override { return notYet(); }
  int status(const spec::Spec&, const StatusOptions&) override { return notYet(); }
  int logs(const spec::Spec&, const LogsOptions&) override { return notYet(); }
  int down(const spec::Spec&, const DownOptions&) override { return notYet(); }

 private:
  static int notYet() { throw Error("the k8s target is not built yet"); }
};

}  // namespace

std::unique_ptr<Target> makeK8sTarget() {
  return std::make_unique<K8sTarget>();
}

}  // namespace skiff::deploy
