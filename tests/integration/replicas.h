#ifndef WARDEN_TESTS_INTEGRATION_REPLICAS_H_
#define WARDEN_TESTS_INTEGRATION_REPLICAS_H_

#include <stdlib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/support/redis_server.h"
#include "tests/support/wardend_process.h"

namespace warden::testing {

// How the replicas reach Redis.
enum class RedisTransport { kTcp, kMutualTls, kCluster };

// One private Redis and two wardend replicas on it, for the suite.
class ReplicasTest : public ::testing::Test {
 protected:
  // `bundle` is written to a file both replicas load. With kMutualTls, they
  // reach Redis over mutual TLS; with kCluster, a Redis Cluster of three
  // primaries and three replicas (redis_ is then null).
  static void StartReplicas(const std::string& bundle,
                            RedisTransport transport = RedisTransport::kTcp) {
    dir_ = new TempDir;
    const bool tls = transport == RedisTransport::kMutualTls;
    std::string url;
    if (transport == RedisTransport::kCluster) {
      absl::StatusOr<std::unique_ptr<RedisCluster>> c = RedisCluster::Start(3);
      ASSERT_TRUE(c.ok()) << c.status();
      cluster_ = c->release();
      url = cluster_->urls();
    } else {
      absl::StatusOr<std::unique_ptr<RedisServer>> r =
          tls ? RedisServer::StartTls(/*client_certs=*/true)
              : RedisServer::Start();
      ASSERT_TRUE(r.ok()) << r.status();
      redis_ = r->release();
      url = tls ? redis_->tls_url() : redis_->url();
    }
    const std::string path = dir_->Write("bundle.yaml", bundle);
    for (int i = 0; i < 2; ++i) {
      std::vector<std::string> args = {
          "--bundle",
          path,
          "--audit-file",
          absl::StrCat(dir_->path(), "/audit", i, ".jsonl"),
          "--redis-command-timeout-ms",
          "500",
          "--shutdown-grace-ms",
          "1000"};
      if (cluster_ != nullptr) args.push_back("--redis-cluster");
      if (tls) {
        const std::string certs = redis_->cert_dir();
        args.insert(args.end(),
                    {"--redis-tls-ca", certs + "/ca.pem", "--redis-tls-cert",
                     certs + "/redis-client.pem", "--redis-tls-key",
                     certs + "/redis-client.key"});
      }
      // The first replica gets Redis by flag, the second by environment.
      if (i == 0) {
        args.insert(args.end(), {"--redis", url});
      } else {
        ::setenv("WARDEN_REDIS_URL", url.c_str(), 1);
      }
      absl::StatusOr<std::unique_ptr<WardendProcess>> w =
          WardendProcess::Start(WARDEND_PATH, args);
      ::unsetenv("WARDEN_REDIS_URL");
      ASSERT_TRUE(w.ok()) << w.status();
      replicas_[i] = w->release();
    }
  }

  static void TearDownTestSuite() {
    for (WardendProcess*& w : replicas_) {
      delete w;
      w = nullptr;
    }
    delete redis_;
    redis_ = nullptr;
    delete cluster_;
    cluster_ = nullptr;
    delete dir_;
  }

  struct Result {
    grpc::Status status;
    v1::AuthorizeResponse response;
  };

  // Sends `total` Authorize calls from `threads` threads, alternating
  // replicas; request(i) builds call i.
  static std::vector<Result> Blast(
      int total, int threads,
      const std::function<v1::AuthorizeRequest(int)>& request) {
    std::vector<Result> results(total);
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i = next++; i < total; i = next++) {
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(10));
          results[i].status = replicas_[i % 2]->authz().Authorize(
              &context, request(i), &results[i].response);
        }
      });
    }
    for (std::thread& t : pool) t.join();
    return results;
  }

  static v1::AuthorizeRequest Spend(const std::string& agent,
                                    const std::string& wallet,
                                    int64_t dollars) {
    v1::AuthorizeRequest r;
    r.set_agent_id(agent);
    r.set_wallet_id(wallet);
    r.set_asset("USDC");
    r.set_amount(std::to_string(dollars * 1'000'000));
    // Each agent pays its own address, so that per-destination limits
    // bind only the tests that aim at one.
    r.set_destination(
        absl::StrFormat("0x%040x", std::hash<std::string>{}(agent)));
    return r;
  }

  static int Allowed(const std::vector<Result>& results) {
    int allowed = 0;
    for (const Result& r : results) {
      EXPECT_TRUE(r.status.ok()) << r.status.error_message();
      if (r.response.decision() == v1::DECISION_ALLOW) ++allowed;
    }
    return allowed;
  }

  static TempDir* dir_;
  static RedisServer* redis_;
  static RedisCluster* cluster_;
  static WardendProcess* replicas_[2];
};

inline TempDir* ReplicasTest::dir_ = nullptr;
inline RedisServer* ReplicasTest::redis_ = nullptr;
inline RedisCluster* ReplicasTest::cluster_ = nullptr;
inline WardendProcess* ReplicasTest::replicas_[2] = {nullptr, nullptr};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_INTEGRATION_REPLICAS_H_
