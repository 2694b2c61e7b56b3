// Signed sends per second from one local wallet, against a real node
// (anvil), at three depths:
//   sign:    EIP-1559 signing hash + recoverable signature alone;
//   adapter: EvmSender::Send (estimate gas, fees, sign, broadcast) from
//            `concurrency` threads sharing the wallet;
//   submit:  SubmitTransaction through wardend --embedded (authorize, send,
//            record the operation and audit each step) from `concurrency`
//            gRPC clients.
// Every send is waited for until mined, and checked to have landed.
//
//   warden_submit_bench --sends 200 --concurrency 1,20
//
// Starts its own anvil and wardend on loopback and stops them on exit.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "adapters/evm/evm.h"
#include "adapters/local/evm_sender.h"
#include "adapters/local/keystore.h"
#include "tests/support/anvil_node.h"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using testing::AnvilNode;

constexpr char kPassword[] = "bench";

void Report(const char* what, int concurrency, int n, absl::Duration took,
            std::vector<absl::Duration> latencies) {
  std::string extra;
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    auto at = [&](double q) {
      return absl::FormatDuration(latencies[std::min(
          latencies.size() - 1, static_cast<size_t>(q * latencies.size()))]);
    };
    extra = absl::StrCat("  p50 ", at(0.5), "  p99 ", at(0.99));
  }
  std::printf("%-8s c=%-3d %6d sends in %-12s %8.0f /s%s\n", what, concurrency,
              n, absl::FormatDuration(took).c_str(),
              n / absl::ToDoubleSeconds(took), extra.c_str());
  std::fflush(stdout);
}

// The balance of `to` once it reaches `want`, or after 10 s (a node may
// mine what it accepted a little later).
absl::uint128 LandedAt(AnvilNode& anvil, const std::string& to,
                       absl::uint128 want) {
  absl::uint128 got = 0;
  for (int i = 0; i < 200; ++i) {
    got = anvil.Balance(to).value_or(0);
    if (got >= want) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return got;
}

// Runs fn(i) for i in [0, n) on `concurrency` threads; returns the time.
absl::Duration Run(int n, int concurrency, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
  for (std::thread& t : threads) t.join();
  return absl::Now() - start;
}

int Main(int sends, const std::vector<int>& concurrencies,
         const std::string& wardend) {
  absl::StatusOr<std::unique_ptr<AnvilNode>> anvil = AnvilNode::Start();
  if (!anvil.ok()) {
    std::fprintf(stderr, "%s\n", anvil.status().ToString().c_str());
    return 1;
  }
  testing::TempDir dir;
  const std::string keystore = dir.path() + "/keys";
  absl::StatusOr<evm::Address> address =
      evm::Keystore::Add(keystore, kPassword, evm::KdfParams{.n = 1024});
  absl::StatusOr<evm::Keystore> keys = evm::Keystore::Open(keystore, kPassword);
  if (!address.ok() || !keys.ok()) {
    std::fprintf(stderr, "keystore: %s\n", address.status().ToString().c_str());
    return 1;
  }
  const std::string from = evm::Hex(*address);
  if (!(*anvil)
           ->SendFromDev({{"to", from}, {"value", "0x56bc75e2d63100000"}})
           .ok()) {
    std::fprintf(stderr, "funding the wallet failed\n");
    return 1;
  }
  const evm::PrivateKey* key = keys->Find(*address);

  // Signing alone.
  evm::Eip1559Tx tx{.chain_id = 31337, .gas_limit = 21000, .value = 1};
  const int signs = 2000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < signs; ++i) {
    tx.nonce = i;
    const evm::Signature sig = key->Sign(evm::SigningHash(tx));
    if (sig.y_parity > 1) return 1;
  }
  Report("sign", 1, signs, absl::Now() - start, {});

  // The adapter's sender.
  for (int c : concurrencies) {
    auto sender =
        evm::EvmSender::Create(key, 31337,
                               std::make_unique<evm::JsonRpcClient>(
                                   (*anvil)->url(), absl::Seconds(10)));
    if (!sender.ok()) return 1;
    const evm::Address to = evm::PrivateKey::Generate().address();
    absl::Mutex mu;
    std::vector<absl::Duration> latencies;
    std::atomic<int> failed{0};
    const absl::Duration took = Run(sends, c, [&](int) {
      const absl::Time t0 = absl::Now();
      absl::StatusOr<evm::EvmSender::Sent> s = (*sender)->Send(to, 1, "");
      if (!s.ok() || !s->acknowledged) {
        if (failed++ == 0) {
          std::fprintf(
              stderr, "adapter: %s\n",
              s.ok() ? s->error.c_str() : s.status().ToString().c_str());
        }
      }
      absl::MutexLock lock(&mu);
      latencies.push_back(absl::Now() - t0);
    });
    const absl::uint128 got = LandedAt(**anvil, evm::Hex(to), sends);
    if (failed > 0 || got != absl::uint128(sends)) {
      std::fprintf(stderr, "adapter: %d failed, %d of %d landed\n",
                   failed.load(), static_cast<int>(absl::Uint128Low64(got)),
                   sends);
      return 1;
    }
    Report("adapter", c, sends, took, latencies);
  }

  // Through the gateway.
  const std::string bundle = dir.Write("bundle.yaml", absl::StrCat(R"(
org: {id: bench}
departments: [{id: d}]
agents:
  - id: a
    department: d
    wallets: [{id: w, vendor: local, chain: anvil, address: ")",
                                                                   from, R"("}]
assets:
  - {symbol: ETH, decimals: 18, price_usd: "3000", chains: {anvil: native}}
)"));
  absl::StatusOr<std::unique_ptr<testing::WardendProcess>> w =
      testing::WardendProcess::Start(
          wardend, {"--embedded", "--bundle", bundle, "--audit-file",
                    dir.path() + "/audit.jsonl", "--keystore", keystore,
                    "--keystore-password-file",
                    dir.Write("password", absl::StrCat(kPassword, "\n")),
                    "--chain-rpc", "anvil=" + (*anvil)->url()});
  if (!w.ok()) {
    std::fprintf(stderr, "wardend: %s\n", w.status().ToString().c_str());
    return 1;
  }
  int round = 0;
  for (int c : concurrencies) {
    const std::string to = evm::Hex(evm::PrivateKey::Generate().address());
    absl::Mutex mu;
    std::vector<absl::Duration> latencies;
    std::atomic<int> failed{0};
    ++round;
    const absl::Duration took = Run(sends, c, [&](int i) {
      v1::SubmitTransactionRequest r;
      r.set_agent_id("a");
      r.set_wallet_id("w");
      r.set_asset("ETH");
      r.set_amount("1");
      r.set_destination(to);
      r.set_idempotency_key(absl::StrCat("bench-", round, "-", i));
      grpc::ClientContext ctx;
      v1::SubmitTransactionResponse out;
      const absl::Time t0 = absl::Now();
      grpc::Status st = (*w)->authz().SubmitTransaction(&ctx, r, &out);
      if (!st.ok() ||
          out.operation().state() != v1::OPERATION_STATE_SUBMITTED) {
        if (failed++ == 0) {
          std::fprintf(stderr, "submit: %s\n",
                       st.ok() ? out.operation().DebugString().c_str()
                               : st.error_message().c_str());
        }
      }
      absl::MutexLock lock(&mu);
      latencies.push_back(absl::Now() - t0);
    });
    const absl::uint128 got = LandedAt(**anvil, to, sends);
    if (failed > 0 || got != absl::uint128(sends)) {
      std::fprintf(stderr, "submit: %d failed, %d of %d landed\n",
                   failed.load(), static_cast<int>(absl::Uint128Low64(got)),
                   sends);
      return 1;
    }
    Report("submit", c, sends, took, latencies);
  }
  return 0;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  CLI::App app{"Signed sends per second from one local wallet"};
  int sends = 200;
  std::vector<int> concurrencies = {1, 20};
  std::string wardend;
  app.add_option("--sends", sends, "Sends per run")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--concurrency", concurrencies, "Concurrent senders per run")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--wardend", wardend, "The wardend binary")->required();
  CLI11_PARSE(app, argc, argv);
  return warden::Main(sends, concurrencies, wardend);
}
