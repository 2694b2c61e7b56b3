#include "services/executor.h"

#include <utility>

namespace warden {

Executor::Executor(size_t threads, size_t max_queued)
    : max_queued_(max_queued) {
  for (size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] { Work(); });
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool Executor::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (closed_ || queue_.size() + awaiting_ >= max_queued_) return false;
  queue_.push_back(std::move(task));
  return true;
}

void Executor::Await() {
  absl::MutexLock lock(&mu_);
  ++awaiting_;
}

void Executor::Answered() {
  absl::MutexLock lock(&mu_);
  --awaiting_;
}

void Executor::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Executor* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
            return e->stopping_ || !e->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // Stopping, and nothing left to run.
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    task();
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

void Executor::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool Executor::closed() {
  absl::MutexLock lock(&mu_);
  return closed_;
}

Executor::Load Executor::load() {
  absl::MutexLock lock(&mu_);
  return {queue_.size(), running_};
}

bool Executor::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(
          +[](Executor* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
            return e->queue_.empty() && e->running_ == 0 && e->awaiting_ == 0;
          },
          this),
      deadline);
}

}  // namespace warden
