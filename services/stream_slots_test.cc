#include "services/stream_slots.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

TEST(StreamSlotsTest, BoundsEachCallerAndTheTotal) {
  StreamSlots slots(/*per_caller=*/2, /*total=*/3);
  std::vector<std::unique_ptr<StreamSlots::Slot>> held;
  for (int i = 0; i < 2; ++i) {
    auto s = slots.Take("acme/agent/a", "Watch");
    ASSERT_TRUE(s.ok());
    held.push_back(*std::move(s));
  }
  auto third = slots.Take("acme/agent/a", "Watch");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("Watch: at most 2"));
  // Another caller has its own share, up to the total.
  auto other = slots.Take("acme/agent/b", "Watch");
  ASSERT_TRUE(other.ok());
  auto over = slots.Take("acme/agent/c", "Watch");
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.status().message(), HasSubstr("3 streams open"));
  EXPECT_EQ(slots.open(), 3u);
  // A closed stream frees its slot.
  held.pop_back();
  EXPECT_EQ(slots.open(), 2u);
  EXPECT_TRUE(slots.Take("acme/agent/a", "Watch").ok());
  held.clear();
  other->reset();
  EXPECT_EQ(slots.open(), 0u);
}

TEST(StreamSlotsTest, RefusalsNameWhatIsBounded) {
  StreamSlots walks(/*per_caller=*/1, /*total=*/2, "audit trail walks running");
  auto a = walks.Take("acme/user/a", "VerifyChain");
  ASSERT_TRUE(a.ok());
  EXPECT_THAT(walks.Take("acme/user/a", "VerifyChain").status().message(),
              HasSubstr("VerifyChain: at most 1 audit trail walks running at "
                        "once per caller"));
  auto b = walks.Take("acme/user/b", "SecurityReport");
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(
      walks.Take("acme/user/c", "Reconcile").status().message(),
      HasSubstr("Reconcile: the server has 2 audit trail walks running"));
}

}  // namespace
}  // namespace warden
