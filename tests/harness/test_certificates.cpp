#include "harness/test_certificates.hpp"

#include <fstream>
#include <stdexcept>

#include "common/subprocess.hpp"

namespace skiff::testing {
namespace fs = std::filesystem;

void openssl(const std::vector<std::string>& args, const fs::path& dir) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions options;
  options.workingDir = dir;
  const CommandResult result = runCommand(argv, options);
  if (result.exitCode != 0) {
    throw std::runtime_error("openssl " + args.at(0) + " failed: " + result.err);
  }
}

void makeTestCertificates(const fs::path& dir, const std::string& caSubject,
                          const std::vector<CertificateRequest>& requests) {
  const std::vector<std::string> newKey = {"-newkey", "ec", "-pkeyopt",
                                           "ec_paramgen_curve:prime256v1", "-nodes"};
  // `openssl req` with a new key: the key options go right after "req".
  const auto request = [&](std::vector<std::string> args) {
    args.insert(args.begin() + 1, newKey.begin(), newKey.end());
    openssl(args, dir);
  };
  request(
      {"req", "-x509", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", caSubject});
  for (const CertificateRequest& certificate : requests) {
    const std::string& name = certificate.name;
    std::ofstream(dir / (name + ".ext")) << certificate.extensions;
    request({"req", "-keyout", name + ".key", "-out", name + ".csr", "-subj", certificate.subject});
    openssl({"x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext"},
            dir);
  }
}

}  // namespace skiff::testing
