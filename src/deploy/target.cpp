#include "deploy/target.hpp"

#include "common/error.hpp"

namespace skiff::deploy {

std::unique_ptr<Target> makeTarget(const std::string& name) {
  if (name == "local") return makeLocalTarget();
  if (name == "k8s") return makeK8sTarget();
  throw Error("unknown target \"" + name + "\"", "--target",
              "use local (this machine, the default) or k8s (the kubeconfig's cluster)");
}

}  // namespace skiff::deploy
