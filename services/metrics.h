#ifndef WARDEN_SERVICES_METRICS_H_
#define WARDEN_SERVICES_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "governance/telemetry.h"
#include "services/http_listener.h"

namespace warden {

// Label name -> value, e.g. {{"decision", "ALLOW"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

// The gateway's metrics, exposed in the Prometheus text format (version
// 0.0.4): counters, histograms, and gauges read when scraped. There is no
// Prometheus C++ client in Debian; this is the small part of one Warden
// needs. Thread-safe.
class Metrics final : public TelemetryObserver {
 public:
  Metrics();

  // A decision: ALLOW, DENY, PENDING_APPROVAL or DELAYED, and the first
  // violation's code ("" for none).
  void CountDecision(const std::string& decision, const std::string& code);
  // One RPC: its name ("AuthorizationService.Authorize"), gRPC code name
  // and duration.
  void ObserveRpc(const std::string& rpc, const std::string& code,
                  absl::Duration took);

  // TelemetryObserver.
  void BackendCall(absl::string_view backend, absl::string_view op,
                   absl::Duration took, bool ok) override;
  void AuditCommit(size_t records, absl::Duration took, bool ok) override;
  void AdapterCall(absl::string_view vendor, absl::string_view call,
                   absl::string_view outcome, absl::Duration took) override;

  // A gauge computed at each scrape: `read` returns its series.
  using GaugeReader = std::function<std::vector<std::pair<Labels, double>>()>;
  void AddGauge(const std::string& name, const std::string& help,
                GaugeReader read);

  // Every metric in the text exposition format.
  std::string Render();

 private:
  struct Series {
    double value = 0;               // Counter or gauge.
    std::vector<uint64_t> buckets;  // Histogram: per bound, cumulative
    double sum = 0;                 // when rendered.
    uint64_t count = 0;
  };
  struct Family {
    std::string help;
    std::string type;  // counter, gauge or histogram.
    std::vector<double> bounds;
    std::map<std::string, Series> series;  // Rendered labels -> series.
  };
  void Add(const std::string& name, const Labels& labels, double by);
  void Observe(const std::string& name, const Labels& labels, double value);
  Family& Declare(const std::string& name, const std::string& help,
                  const std::string& type, std::vector<double> bounds = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::pair<std::string, GaugeReader>>>
      gauges_ ABSL_GUARDED_BY(mu_);
};

// The process's metrics, for the code far from the server's wiring (the
// RPC helpers, the submitter). Null until set; set it once at start.
void SetProcessMetrics(Metrics* metrics);
Metrics* ProcessMetrics();

// Serves GET /metrics from `metrics` on `listen` (host:port; port 0 picks
// one) on its own thread, until destroyed.
absl::StatusOr<std::unique_ptr<HttpListener>> StartMetricsServer(
    Metrics* metrics, const std::string& listen);

}  // namespace warden

#endif  // WARDEN_SERVICES_METRICS_H_
