// warden_loadgen: a gRPC load driver for AuthorizationService.Authorize.
//
//   warden_loadgen --target 127.0.0.1:7400 [--target ...] --concurrency 64
//                  --duration-s 10 --agent A --wallet W [--amount 1000000]
//
// Keeps exactly --concurrency calls in flight (async API, one completion
// queue per thread), spread round-robin over the targets, for a fixed time.
// Prints one line: calls/s, decisions by kind, errors, and latency
// percentiles. Exits non-zero if any call failed unexpectedly.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace {

namespace v1 = warden::v1;
using Clock = std::chrono::steady_clock;

struct Call {
  grpc::ClientContext context;
  v1::AuthorizeResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::AuthorizeResponse>> rpc;
  Clock::time_point started;
};

struct Totals {
  std::vector<double> latencies_us;
  int64_t allow = 0, deny = 0, errors = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> targets;
  int concurrency = 16;
  int duration_s = 10;
  int threads = 2;
  v1::AuthorizeRequest request;
  request.set_asset("USDC");
  request.set_amount("1000000");
  CLI::App app{"warden_loadgen: Authorize load driver"};
  app.add_option("--target", targets, "host:port, repeatable")->required();
  app.add_option("--concurrency", concurrency, "calls in flight")
      ->check(CLI::Range(1, 4096));
  app.add_option("--duration-s", duration_s)->check(CLI::Range(1, 600));
  app.add_option("--threads", threads, "client threads")
      ->check(CLI::Range(1, 64));
  app.add_option("--agent", *request.mutable_agent_id())->required();
  app.add_option("--wallet", *request.mutable_wallet_id())->required();
  app.add_option("--asset", *request.mutable_asset());
  app.add_option("--amount", *request.mutable_amount(), "base units");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::unique_ptr<v1::AuthorizationService::Stub>> stubs;
  for (const std::string& t : targets) {
    grpc::ChannelArguments args;
    // One connection per target per thread would need distinct channels;
    // a local subchannel pool gives each channel its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(v1::AuthorizationService::NewStub(grpc::CreateCustomChannel(
        t, grpc::InsecureChannelCredentials(), args)));
  }
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::seconds(duration_s);
  std::vector<Totals> totals(threads);
  std::vector<std::thread> workers;
  std::atomic<int64_t> next_target{0};
  for (int t = 0; t < threads; ++t) {
    const int in_flight = concurrency / threads + (t < concurrency % threads);
    workers.emplace_back([&, t, in_flight] {
      grpc::CompletionQueue cq;
      Totals& mine = totals[t];
      auto issue = [&] {
        auto* call = new Call;
        call->context.set_deadline(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10));
        call->started = Clock::now();
        auto& stub = *stubs[next_target++ % stubs.size()];
        call->rpc = stub.AsyncAuthorize(&call->context, request, &cq);
        call->rpc->Finish(&call->response, &call->status, call);
      };
      int outstanding = 0;
      for (int i = 0; i < in_flight; ++i, ++outstanding) issue();
      void* tag;
      bool ok;
      while (outstanding > 0 && cq.Next(&tag, &ok)) {
        std::unique_ptr<Call> call(static_cast<Call*>(tag));
        --outstanding;
        const Clock::time_point now = Clock::now();
        if (call->status.ok()) {
          mine.latencies_us.push_back(
              std::chrono::duration<double, std::micro>(now - call->started)
                  .count());
          if (call->response.decision() == v1::DECISION_ALLOW) {
            ++mine.allow;
          } else {
            ++mine.deny;
          }
        } else {
          ++mine.errors;
        }
        if (now < end) {
          issue();
          ++outstanding;
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  Totals all;
  for (Totals& t : totals) {
    all.latencies_us.insert(all.latencies_us.end(), t.latencies_us.begin(),
                            t.latencies_us.end());
    all.allow += t.allow;
    all.deny += t.deny;
    all.errors += t.errors;
  }
  std::sort(all.latencies_us.begin(), all.latencies_us.end());
  auto pct = [&](double p) {
    if (all.latencies_us.empty()) return 0.0;
    size_t i = static_cast<size_t>(p * (all.latencies_us.size() - 1));
    return all.latencies_us[i];
  };
  const int64_t decided = all.allow + all.deny;
  std::printf(
      "concurrency=%d targets=%zu decisions/s=%.0f allow=%lld deny=%lld "
      "errors=%lld p50_us=%.0f p99_us=%.0f p999_us=%.0f\n",
      concurrency, targets.size(), decided / seconds,
      static_cast<long long>(all.allow), static_cast<long long>(all.deny),
      static_cast<long long>(all.errors), pct(0.50), pct(0.99), pct(0.999));
  return all.errors == 0 ? 0 : 1;
}
