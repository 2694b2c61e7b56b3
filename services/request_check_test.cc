#include "services/request_check.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "warden/v1/admin.pb.h"
#include "warden/v1/authorization.pb.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

// A request whose agent_id bytes are not UTF-8, as a hostile client sends.
std::string WithInvalidUtf8AgentId() {
  v1::AuthorizeRequest req;
  req.set_agent_id("agent_a");
  req.set_asset("USDC");
  std::string wire = req.SerializeAsString();
  const size_t at = wire.find("agent_a");
  wire[at + 6] = static_cast<char>(0xff);
  return wire;
}

// Invalid UTF-8 is INVALID_ARGUMENT naming the field, not a parse failure.
TEST(RequestCheckTest, InvalidUtf8NamesTheField) {
  v1::AuthorizeRequest req;
  absl::Status st = ParseRequest(WithInvalidUtf8AgentId(), &req);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "agent_id: is not valid UTF-8");
}

// A nested message's field is named with its path.
TEST(RequestCheckTest, InvalidUtf8InANestedMessageNamesItsPath) {
  v1::FreezeScopeRequest req;
  req.mutable_scope()->set_agent_id("ab");
  std::string wire = req.SerializeAsString();
  wire[wire.find("ab") + 1] = static_cast<char>(0xc3);
  v1::FreezeScopeRequest parsed;
  absl::Status st = ParseRequest(wire, &parsed);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "scope.agent_id: is not valid UTF-8");
}

// Bytes that are no message at all are refused, naming the type.
TEST(RequestCheckTest, GarbageIsRefused) {
  v1::AuthorizeRequest req;
  absl::Status st = ParseRequest(std::string("\xff\xff\xff\xff", 4), &req);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("warden.v1.AuthorizeRequest"));
}

// Every string is held to its field's bound, and the error never quotes it.
TEST(RequestCheckTest, BoundsNameTheFieldAndTheLimit) {
  v1::AuthorizeRequest req;
  req.set_agent_id(std::string(1 << 20, 'a'));
  absl::Status st = CheckRequestBounds(req);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "agent_id: is 1048576 bytes; the limit is 64");

  req.set_agent_id(std::string(64, 'a'));
  req.set_memo(std::string(1024, 'm'));
  req.set_idempotency_key(std::string(128, 'k'));
  EXPECT_TRUE(CheckRequestBounds(req).ok());
  req.set_idempotency_key(std::string(129, 'k'));
  EXPECT_THAT(CheckRequestBounds(req).message(),
              HasSubstr("idempotency_key: is 129 bytes; the limit is 128"));

  v1::ApplyBundleRequest apply;
  apply.set_yaml(std::string(1 << 20, '#'));
  EXPECT_TRUE(CheckRequestBounds(apply).ok());
  apply.set_yaml(std::string((1 << 20) + 1, '#'));
  EXPECT_FALSE(CheckRequestBounds(apply).ok());
}

// Control bytes are refused in ids (they forge log lines), kept in free text.
TEST(RequestCheckTest, ControlBytesOnlyInFreeText) {
  v1::AuthorizeRequest req;
  req.set_agent_id("agent\x1b[31m");
  EXPECT_EQ(CheckRequestBounds(req).message(),
            "agent_id: holds a control byte (0x1b)");
  req.set_agent_id(std::string("a\0b", 3));
  EXPECT_EQ(CheckRequestBounds(req).message(),
            "agent_id: holds a control byte (0x00)");
  req.set_agent_id("agent_a");
  req.set_memo("line one\nline two\tend");
  EXPECT_TRUE(CheckRequestBounds(req).ok());
  req.set_memo("bell\a");
  EXPECT_FALSE(CheckRequestBounds(req).ok());
}

// Repeated fields hold a bounded number of values.
TEST(RequestCheckTest, RepeatedFieldsAreBounded) {
  v1::CreateTokenRequest req;
  for (int i = 0; i <= kMaxRepeated; ++i) req.add_roles("agent");
  EXPECT_THAT(CheckRequestBounds(req).message(),
              HasSubstr("roles: holds 65 values; the limit is 64"));
}

}  // namespace
}  // namespace warden
