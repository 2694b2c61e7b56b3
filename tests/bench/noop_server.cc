// warden_noop_server: AuthorizationService that answers ALLOW at once, with
// no engine behind it. Driven by warden_loadgen, it measures the transport's
// ceiling on this machine, so gateway figures can be read as a ratio of it.
//
//   warden_noop_server --listen 127.0.0.1:0   (prints "listening on HOST:PORT")

#include <signal.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace {

class NoopAuthorizationService final
    : public warden::v1::AuthorizationService::CallbackService {
  grpc::ServerUnaryReactor* Authorize(
      grpc::CallbackServerContext* context,
      const warden::v1::AuthorizeRequest* request,
      warden::v1::AuthorizeResponse* response) override {
    response->set_decision(warden::v1::DECISION_ALLOW);
    response->set_authorization_id("az_noop");
    response->set_amount_usd("1.00");
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  CLI::App app{"warden_noop_server"};
  app.add_option("--listen", listen);
  CLI11_PARSE(app, argc, argv);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  NoopAuthorizationService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 2;
  std::cout << "listening on " << listen.substr(0, listen.rfind(':')) << ":"
            << port << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  server->Shutdown();
  return 0;
}
