#ifndef WARDEN_TESTS_SUPPORT_WARDEND_PROCESS_H_
#define WARDEN_TESTS_SUPPORT_WARDEND_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/subprocess.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden::testing {

// A real wardend process on a free loopback port, with stubs for it.
class WardendProcess {
 public:
  // Runs `binary --listen 127.0.0.1:0 <args>` and waits until it serves;
  // with --insecure-no-auth unless `args` hold "--auth" (which is then
  // dropped: wardend requires credentials by default).
  static absl::StatusOr<std::unique_ptr<WardendProcess>> Start(
      const std::string& binary, const std::vector<std::string>& args);

  const std::string& address() const { return address_; }  // 127.0.0.1:PORT
  // With --http-listen among the args: the HTTP API's "http://HOST:PORT".
  const std::string& http_url() const { return http_url_; }
  int port() const;
  v1::AuthorizationService::Stub& authz() { return *authz_; }
  v1::AdminService::Stub& admin() { return *admin_; }
  Subprocess& process() { return *process_; }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string address_;
  std::string http_url_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AuthorizationService::Stub> authz_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// A temp dir removed (with its contents) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `text` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_WARDEND_PROCESS_H_
