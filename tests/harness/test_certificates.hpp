#pragma once

// A throwaway PKI for tests that talk TLS (the real and the fake API server):
// a CA and the certificates it signs, made by openssl with P-256 keys.

#include <filesystem>
#include <string>
#include <vector>

namespace skiff::testing {

// Runs `openssl ARGS...` in `dir`; throws std::runtime_error with its stderr.
void openssl(const std::vector<std::string>& args, const std::filesystem::path& dir);

struct CertificateRequest {
  std::string name;        // writes NAME.key and NAME.crt
  std::string subject;     // "/CN=127.0.0.1"
  std::string extensions;  // openssl extension lines, e.g. "subjectAltName=IP:127.0.0.1\n"
};

// Writes ca.key and ca.crt (subject `caSubject`), then each request's key
// and certificate signed by that CA, all valid for two days, into `dir`.
void makeTestCertificates(const std::filesystem::path& dir, const std::string& caSubject,
                          const std::vector<CertificateRequest>& requests);

}  // namespace skiff::testing
