#include "tests/support/wardend_process.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden::testing {

absl::StatusOr<std::unique_ptr<WardendProcess>> WardendProcess::Start(
    const std::string& binary, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {binary, "--listen", "127.0.0.1:0"};
  // Governance tests call without credentials; access control has its own
  // tests that start wardend with auth on (by passing "--auth").
  if (std::find(args.begin(), args.end(), "--auth") == args.end()) {
    argv.push_back("--insecure-no-auth");
  }
  for (const std::string& a : args) {
    if (a != "--auth") argv.push_back(a);
  }
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(argv);
  if (!p.ok()) return p.status();
  auto w = std::unique_ptr<WardendProcess>(new WardendProcess);
  w->process_ = *std::move(p);
  if (std::find(args.begin(), args.end(), "--http-listen") != args.end()) {
    absl::StatusOr<std::string> http =
        w->process_->WaitForLine("HTTP/JSON API on ", absl::Seconds(30));
    if (!http.ok()) {
      return absl::UnavailableError(absl::StrCat("wardend did not serve HTTP: ",
                                                 http.status().message()));
    }
    w->http_url_ = http->substr(http->rfind(' ') + 1);
  }
  absl::StatusOr<std::string> line =
      w->process_->WaitForLine("wardend listening on", absl::Seconds(30));
  if (!line.ok()) {
    return absl::UnavailableError(
        absl::StrCat("wardend did not start: ", line.status().message()));
  }
  w->address_ = line->substr(line->rfind(' ') + 1);
  w->channel_ =
      grpc::CreateChannel(w->address_, grpc::InsecureChannelCredentials());
  w->authz_ = v1::AuthorizationService::NewStub(w->channel_);
  w->admin_ = v1::AdminService::NewStub(w->channel_);
  return w;
}

int WardendProcess::port() const {
  return std::atoi(address_.substr(address_.rfind(':') + 1).c_str());
}

TempDir::TempDir() {
  char dir[] = "/tmp/warden-test-XXXXXX";
  if (::mkdtemp(dir) != nullptr) path_ = dir;
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    std::system(absl::StrCat("rm -rf '", path_, "'").c_str());
  }
}

std::string TempDir::Write(const std::string& name,
                           const std::string& text) const {
  const std::string file = absl::StrCat(path_, "/", name);
  std::ofstream(file) << text;
  return file;
}

}  // namespace warden::testing
