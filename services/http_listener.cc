#include "services/http_listener.h"

#include <httplib.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden {

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    const std::string& field, const std::string& listen,
    std::unique_ptr<httplib::Server> server) {
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
  }
  if (!server->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": cannot serve TLS with the certificate and key given"));
  }
  std::unique_ptr<HttpListener> s(new HttpListener);
  s->server_ = std::move(server);
  s->port_ = port == 0 ? s->server_->bind_to_any_port(host)
                       : (s->server_->bind_to_port(host, port) ? port : -1);
  if (s->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat(field, ": cannot serve on ", listen));
  }
  httplib::Server* raw = s->server_.get();
  s->thread_ = std::thread([raw] { raw->listen_after_bind(); });
  // stop() before the loop runs would leave it running.
  for (int i = 0; i < 500 && !raw->is_running(); ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  return s;
}

HttpListener::~HttpListener() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace warden
