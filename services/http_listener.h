#ifndef WARDEN_SERVICES_HTTP_LISTENER_H_
#define WARDEN_SERVICES_HTTP_LISTENER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace warden {

// An httplib server listening on `listen` ("host:port", port 0 for any),
// serving on its own thread until destroyed. `field` names the setting in
// errors.
class HttpListener {
 public:
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(
      const std::string& field, const std::string& listen,
      std::unique_ptr<httplib::Server> server);
  ~HttpListener();
  int port() const { return port_; }

 private:
  HttpListener() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_HTTP_LISTENER_H_
