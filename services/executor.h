#ifndef WARDEN_SERVICES_EXECUTOR_H_
#define WARDEN_SERVICES_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace warden {

// A fixed pool of threads with a bounded queue, for the engine's blocking
// work (Redis round trips, audit fsyncs). gRPC's callback threads must never
// block: a handler submits its work here and returns; the worker finishes
// the call. With many workers, concurrent calls also share group commits.
// Thread-safe.
class Executor {
 public:
  Executor(size_t threads, size_t max_queued);
  // Runs what is queued, then joins the workers.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // False (and `task` is dropped) when max_queued tasks are already waiting
  // (counting the calls awaiting an answer, below), or after Close.
  bool Submit(std::function<void()> task);

  // A call whose task has returned but whose answer is still to come (an
  // Authorize awaiting its audit sync) holds a queue slot from Await until
  // Answered, so that a slow disk sheds calls as a busy pool does.
  void Await();
  void Answered();

  // Refuses every later Submit (the server is shutting down); what was
  // submitted still runs.
  void Close();
  bool closed();
  // Waits until nothing is queued, running or awaited, or `deadline`; true
  // if idle.
  bool WaitIdle(absl::Time deadline);

  // Tasks waiting and tasks running now (the server's saturation metrics).
  struct Load {
    size_t queued = 0;
    size_t running = 0;
  };
  Load load();

 private:
  void Work();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  size_t awaiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_EXECUTOR_H_
