// The local (embedded) target: runs the project on this machine.

#include "common/error.hpp"
#include "deploy/target.hpp"

namespace skiff::deploy {

namespace {

class LocalTarget : public Target {
 public:
  int release(const spec::Spec&, const ReleaseOptions&) override { return notYet(); }
  int status(const spec::Spec&, const StatusOptions&) override { return notYet(); }
  int logs(const spec::Spec&, const LogsOptions&) override { return notYet(); }
  int down(const spec::Spec&, const DownOptions&) override { return notYet(); }

 private:
  static int notYet() { throw Error("the local target is not built yet"); }
};

}  // namespace

std::unique_ptr<Target> makeLocalTarget() {
  return std::make_unique<LocalTarget>();
}

}  // namespace skiff::deploy
