// warden_loadgen: a gRPC load driver for AuthorizationService.Authorize.
//
//   warden_loadgen --target 127.0.0.1:7400 [--target ...]
//                  [--identities FILE [--identities ...] | --agent A --wallet
//                  W]
//                  --concurrency 64 --duration-s 10 [--calls N]
//                  [--amount 1000000] [--pid PID ...]
//
// Keeps exactly --concurrency calls in flight (async API, one completion
// queue per thread), spread round-robin over the targets and, per target,
// over its identities, for a fixed time (or --calls calls). An identities
// file holds one `AGENT WALLET [TOKEN]` per line; with a token, each call
// carries `authorization: Bearer TOKEN` (tokens minted by one replica are
// known only to it without Postgres, hence a file per target).
//
// Prints one line: decisions/s, decisions by kind, errors, latency
// percentiles and, with --pid, the CPU time those processes spent per
// decision (user + system, from /proc/PID/stat): the figure that stays
// stable on a noisy machine. Exits non-zero if any call failed.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace {

namespace v1 = warden::v1;
using Clock = std::chrono::steady_clock;

struct Identity {
  v1::AuthorizeRequest request;
  std::string bearer;  // "Bearer <token>", or empty.
};

struct Target {
  std::unique_ptr<v1::AuthorizationService::Stub> stub;
  std::vector<Identity> identities;
};

struct Call {
  grpc::ClientContext context;
  v1::AuthorizeResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::AuthorizeResponse>> rpc;
  Clock::time_point started;
};

struct Totals {
  std::vector<double> latencies_us;
  int64_t allow = 0, deny = 0, pending = 0, other = 0, errors = 0;
  std::string first_error;
};

// Clock ticks of user + system time `pid` has used, or -1.
int64_t CpuTicks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  // The command name may hold spaces: fields count from its closing ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

int64_t CpuTicks(const std::vector<int>& pids) {
  int64_t total = 0;
  for (int pid : pids) {
    const int64_t t = CpuTicks(pid);
    if (t < 0) return -1;
    total += t;
  }
  return total;
}

bool ReadIdentities(const std::string& path, const v1::AuthorizeRequest& base,
                    std::vector<Identity>* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    Identity id{base, {}};
    std::string token;
    if (!(words >> *id.request.mutable_agent_id() >>
          *id.request.mutable_wallet_id())) {
      continue;
    }
    if (words >> token) id.bearer = "Bearer " + token;
    out->push_back(std::move(id));
  }
  return !out->empty();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> addresses, identity_files;
  std::vector<int> pids;
  int concurrency = 16;
  int duration_s = 10;
  int64_t max_calls = 0;
  int threads = 2;
  v1::AuthorizeRequest base;
  base.set_asset("USDC");
  base.set_amount("1000000");
  CLI::App app{"warden_loadgen: Authorize load driver"};
  app.add_option("--target", addresses, "host:port, repeatable")->required();
  app.add_option("--identities", identity_files,
                 "file of `AGENT WALLET [TOKEN]` lines; one per --target");
  app.add_option("--agent", *base.mutable_agent_id(),
                 "the one identity, without --identities");
  app.add_option("--wallet", *base.mutable_wallet_id());
  app.add_option("--concurrency", concurrency, "calls in flight")
      ->check(CLI::Range(1, 4096));
  app.add_option("--duration-s", duration_s)->check(CLI::Range(1, 600));
  app.add_option("--calls", max_calls, "stop after this many calls (0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app.add_option("--threads", threads, "client threads")
      ->check(CLI::Range(1, 64));
  app.add_option("--asset", *base.mutable_asset());
  app.add_option("--amount", *base.mutable_amount(), "base units");
  app.add_option("--pid", pids, "a server process whose CPU time to report");
  CLI11_PARSE(app, argc, argv);
  if (!identity_files.empty() && identity_files.size() != addresses.size()) {
    std::cerr << "--identities: give one file per --target\n";
    return 2;
  }
  if (identity_files.empty() &&
      (base.agent_id().empty() || base.wallet_id().empty())) {
    std::cerr << "--agent and --wallet are required without --identities\n";
    return 2;
  }

  std::vector<Target> targets;
  for (size_t i = 0; i < addresses.size(); ++i) {
    grpc::ChannelArguments args;
    // Distinct channels share one connection unless each has its own
    // subchannel pool.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    Target t;
    t.stub = v1::AuthorizationService::NewStub(grpc::CreateCustomChannel(
        addresses[i], grpc::InsecureChannelCredentials(), args));
    if (identity_files.empty()) {
      t.identities.push_back({base, {}});
    } else if (!ReadIdentities(identity_files[i], base, &t.identities)) {
      std::cerr << "--identities: cannot read identities from "
                << identity_files[i] << "\n";
      return 2;
    }
    targets.push_back(std::move(t));
  }

  const long ticks_per_s = sysconf(_SC_CLK_TCK);
  const int64_t cpu_before = CpuTicks(pids);
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::seconds(duration_s);
  std::vector<Totals> totals(threads);
  std::vector<std::thread> workers;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> issued{0};
  for (int t = 0; t < threads; ++t) {
    const int in_flight = concurrency / threads + (t < concurrency % threads);
    workers.emplace_back([&, t, in_flight] {
      grpc::CompletionQueue cq;
      Totals& mine = totals[t];
      auto issue = [&] {
        if (max_calls > 0 && issued.fetch_add(1) >= max_calls) return false;
        const int64_t n = next++;
        Target& target = targets[n % targets.size()];
        const Identity& who =
            target.identities[(n / targets.size()) % target.identities.size()];
        auto* call = new Call;
        call->context.set_deadline(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10));
        if (!who.bearer.empty()) {
          call->context.AddMetadata("authorization", who.bearer);
        }
        call->started = Clock::now();
        call->rpc =
            target.stub->AsyncAuthorize(&call->context, who.request, &cq);
        call->rpc->Finish(&call->response, &call->status, call);
        return true;
      };
      int outstanding = 0;
      for (int i = 0; i < in_flight && issue(); ++i) ++outstanding;
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
          switch (call->response.decision()) {
            case v1::DECISION_ALLOW:
              ++mine.allow;
              break;
            case v1::DECISION_DENY:
              ++mine.deny;
              break;
            case v1::DECISION_PENDING_APPROVAL:
              ++mine.pending;
              break;
            default:
              ++mine.other;
          }
        } else {
          if (mine.errors++ == 0)
            mine.first_error = call->status.error_message();
        }
        if (now < end && issue()) ++outstanding;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t cpu_after = CpuTicks(pids);
  Totals all;
  for (Totals& t : totals) {
    all.latencies_us.insert(all.latencies_us.end(), t.latencies_us.begin(),
                            t.latencies_us.end());
    all.allow += t.allow;
    all.deny += t.deny;
    all.pending += t.pending;
    all.other += t.other;
    all.errors += t.errors;
    if (all.first_error.empty()) all.first_error = t.first_error;
  }
  std::sort(all.latencies_us.begin(), all.latencies_us.end());
  auto pct = [&](double p) {
    if (all.latencies_us.empty()) return 0.0;
    size_t i = static_cast<size_t>(p * (all.latencies_us.size() - 1));
    return all.latencies_us[i];
  };
  const int64_t decided = all.allow + all.deny + all.pending + all.other;
  std::string cpu = "n/a";
  if (!pids.empty() && cpu_before >= 0 && cpu_after >= 0 && decided > 0) {
    cpu = std::to_string((cpu_after - cpu_before) * 1'000'000 / ticks_per_s /
                         decided);
  }
  std::printf(
      "concurrency=%d targets=%zu decisions/s=%.0f allow=%lld deny=%lld "
      "pending=%lld other=%lld errors=%lld p50_us=%.0f p99_us=%.0f "
      "p999_us=%.0f cpu_us/decision=%s\n",
      concurrency, targets.size(), decided / seconds,
      static_cast<long long>(all.allow), static_cast<long long>(all.deny),
      static_cast<long long>(all.pending), static_cast<long long>(all.other),
      static_cast<long long>(all.errors), pct(0.50), pct(0.99), pct(0.999),
      cpu.c_str());
  if (all.errors > 0) {
    std::fprintf(stderr, "first error: %s\n", all.first_error.c_str());
  }
  return all.errors == 0 ? 0 : 1;
}
