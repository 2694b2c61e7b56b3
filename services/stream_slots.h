#ifndef WARDEN_SERVICES_STREAM_SLOTS_H_
#define WARDEN_SERVICES_STREAM_SLOTS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace warden {

// A bound on long-lived or heavy calls (WatchAuthorization streams, walks of
// a whole audit trail): at most `per_caller` at once for one caller and
// `total` for the whole process, so that one credential cannot keep the
// server polling for thousands of watchers or its workers walking trails.
// `noun` names them in refusals ("streams open"). Thread-safe.
class StreamSlots {
 public:
  StreamSlots(size_t per_caller, size_t total,
              std::string noun = "streams open")
      : per_caller_(per_caller), total_(total), noun_(std::move(noun)) {}

  // Held while a stream is open; destroying it frees the slot.
  class Slot {
   public:
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    friend class StreamSlots;
    Slot(StreamSlots* owner, std::string caller)
        : owner_(owner), caller_(std::move(caller)) {}
    StreamSlots* const owner_;
    const std::string caller_;
  };

  // A slot for `caller` (an org and principal name), or RESOURCE_EXHAUSTED
  // naming `rpc` and the bound reached.
  absl::StatusOr<std::unique_ptr<Slot>> Take(const std::string& caller,
                                             const char* rpc);

  size_t open() const;

 private:
  void Release(const std::string& caller);

  const size_t per_caller_;
  const size_t total_;
  const std::string noun_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, size_t> by_caller_ ABSL_GUARDED_BY(mu_);
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_STREAM_SLOTS_H_
