#include "services/stream_slots.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden {

StreamSlots::Slot::~Slot() { owner_->Release(caller_); }

absl::StatusOr<std::unique_ptr<StreamSlots::Slot>> StreamSlots::Take(
    const std::string& caller, const char* rpc) {
  absl::MutexLock lock(&mu_);
  if (open_ >= total_) {
    return absl::ResourceExhaustedError(
        absl::StrCat(rpc, ": the server has ", open_, " ", noun_,
                     ", its most; retry later"));
  }
  size_t& mine = by_caller_[caller];
  if (mine >= per_caller_) {
    return absl::ResourceExhaustedError(
        absl::StrCat(rpc, ": at most ", per_caller_, " ", noun_,
                     " at once per caller; wait for one to end"));
  }
  ++mine;
  ++open_;
  return std::unique_ptr<Slot>(new Slot(this, caller));
}

void StreamSlots::Release(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  auto it = by_caller_.find(caller);
  if (--it->second == 0) by_caller_.erase(it);
  --open_;
}

size_t StreamSlots::open() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

}  // namespace warden
