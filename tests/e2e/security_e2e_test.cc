// Access control against a real `wardend --embedded` with auth on: every
// role calls every RPC and gets what the table in docs/security.md says;
// agents act only for themselves; other orgs are out of reach; revoked and
// expired tokens are refused; guessing a secret throttles the guessing address,
// never the token.

#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/access.h"
#include "tests/support/subprocess.h"
#include "tests/support/tcp_forwarder.h"
#include "tests/support/wardend_process.h"
#include "warden/v1/audit.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

constexpr const char* kBundle = R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: agent_a
    department: eng
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    wallets: [{id: wallet_a, vendor: local, chain: base, address: "0x0a"}]
  - id: agent_b
    department: eng
    wallets: [{id: wallet_b, vendor: local, chain: base, address: "0x0b"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1",
     chains: {base: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"}}
)";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// $1 from the agent's wallet.
v1::AuthorizeRequest SpendRequest(const std::string& agent) {
  v1::AuthorizeRequest req;
  req.set_agent_id(agent);
  req.set_wallet_id(agent == "agent_a" ? "wallet_a" : "wallet_b");
  req.set_asset("USDC");
  req.set_amount("1000000");
  return req;
}

// A submission for agent_a; its send fails (no key), so nothing stays held.
v1::SubmitTransactionRequest SubmitRequest() {
  v1::SubmitTransactionRequest req;
  req.set_agent_id("agent_a");
  req.set_wallet_id("wallet_a");
  req.set_asset("USDC");
  req.set_amount("1000000");
  req.set_destination("0x00000000000000000000000000000000000000b0");
  return req;
}

class SecurityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_path_ = dir_.Write("bundle.yaml", kBundle);
    audit_path_ = dir_.path() + "/audit.jsonl";
    const std::string token_file = dir_.path() + "/admin.token";
    // A local wallet adapter whose sends fail (the wallets have no keys),
    // so that agent_a can own an operation.
    const std::string keystore = dir_.path() + "/keystore";
    ASSERT_EQ(::mkdir(keystore.c_str(), 0700), 0);
    absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
        WARDEND_PATH,
        {"--auth", "--embedded", "--bundle", bundle_path_, "--audit-file",
         audit_path_, "--bootstrap-token-file", token_file, "--keystore",
         keystore, "--keystore-password-file", dir_.Write("pw", "pw\n"),
         "--chain-rpc", "base=http://127.0.0.1:9"});
    ASSERT_TRUE(w.ok()) << w.status();
    wardend_ = *std::move(w);
    channel_ = grpc::CreateChannel(wardend_->address(),
                                   grpc::InsecureChannelCredentials());
    authz_ = v1::AuthorizationService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
    audit_ = v1::AuditService::NewStub(channel_);
    tokens_["admin"] =
        std::string(absl::StripAsciiWhitespace(ReadFile(token_file)));
    ASSERT_FALSE(tokens_["admin"].empty());
    tokens_["agent"] = Mint("agent/agent_a", {"agent"});
    tokens_["agent_b"] = Mint("agent/agent_b", {"agent"});
    tokens_["approver"] = Mint("user/alice", {"approver"});
    tokens_["auditor"] = Mint("user/audrey", {"auditor"});
    tokens_["operator"] = Mint("user/olga", {"operator"});
    // A record of agent_a's, for the RPCs that take an authorization id.
    v1::AuthorizeResponse r;
    ASSERT_TRUE(Call("agent", [&](grpc::ClientContext* c) {
                  return authz_->Authorize(c, SpendRequest("agent_a"), &r);
                }).ok());
    owned_id_ = r.authorization_id();
    v1::SubmitTransactionResponse submitted;
    ASSERT_TRUE(Call("agent", [&](grpc::ClientContext* c) {
                  return authz_->SubmitTransaction(c, SubmitRequest(),
                                                   &submitted);
                }).ok());
    owned_operation_ = submitted.operation().operation_id();
    ASSERT_FALSE(owned_operation_.empty());
  }

  std::string Mint(const std::string& principal,
                   const std::vector<std::string>& roles,
                   int64_t ttl_seconds = 0) {
    v1::CreateTokenRequest req;
    req.set_principal(principal);
    for (const std::string& r : roles) req.add_roles(r);
    req.set_ttl_seconds(ttl_seconds);
    v1::CreateTokenResponse resp;
    grpc::Status st = Call("admin", [&](grpc::ClientContext* c) {
      return admin_->CreateToken(c, req, &resp);
    });
    EXPECT_TRUE(st.ok()) << st.error_message();
    token_ids_[principal] = resp.token().token_id();
    return resp.bearer_token();
  }

  grpc::Status Call(
      const std::string& who,
      const std::function<grpc::Status(grpc::ClientContext*)>& fn) {
    return CallWith(tokens_[who], fn);
  }
  static grpc::Status CallWith(
      const std::string& token,
      const std::function<grpc::Status(grpc::ClientContext*)>& fn) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) c.AddMetadata("authorization", "Bearer " + token);
    return fn(&c);
  }

  // One harmless call per RPC: it either fails the access check or fails
  // (or succeeds) for some other reason after it.
  std::map<std::string, std::function<grpc::Status(grpc::ClientContext*)>>
  Calls() {
    std::map<std::string, std::function<grpc::Status(grpc::ClientContext*)>> m;
    m["AuthorizationService.Authorize"] = [this](grpc::ClientContext* c) {
      v1::AuthorizeResponse r;
      return authz_->Authorize(c, SpendRequest("agent_a"), &r);
    };
    m["AuthorizationService.Settle"] = [this](grpc::ClientContext* c) {
      v1::SettleRequest req;
      req.set_authorization_id(owned_id_);
      req.set_amount("999999999999");  // Above the hold: INVALID_ARGUMENT.
      v1::Authorization r;
      return authz_->Settle(c, req, &r);
    };
    m["AuthorizationService.Void"] = [this](grpc::ClientContext* c) {
      v1::VoidRequest req;
      req.set_authorization_id(owned_id_);
      v1::Authorization r;
      return authz_->Void(c, req, &r);
    };
    m["AuthorizationService.GetAuthorization"] =
        [this](grpc::ClientContext* c) {
          v1::GetAuthorizationRequest req;
          req.set_authorization_id(owned_id_);
          v1::Authorization r;
          return authz_->GetAuthorization(c, req, &r);
        };
    m["AuthorizationService.WatchAuthorization"] =
        [this](grpc::ClientContext* c) {
          v1::GetAuthorizationRequest req;
          req.set_authorization_id(owned_id_);
          auto reader = authz_->WatchAuthorization(c, req);
          v1::Authorization r;
          while (reader->Read(&r)) {
          }
          return reader->Finish();
        };
    m["AuthorizationService.SubmitTransaction"] =
        [this](grpc::ClientContext* c) {
          v1::SubmitTransactionResponse r;
          return authz_->SubmitTransaction(c, SubmitRequest(), &r);
        };
    m["AuthorizationService.PayX402"] = [this](grpc::ClientContext* c) {
      // Refused before anything is held: wallet_a has no key to sign with.
      v1::PayX402Request req;
      req.set_agent_id("agent_a");
      req.set_wallet_id("wallet_a");
      req.set_resource("https://api.example.com/paid");
      v1::X402PaymentRequirements* r = req.mutable_requirements();
      r->set_scheme("exact");
      r->set_network("eip155:8453");
      r->set_asset("0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
      r->set_amount("1000000");
      r->set_pay_to("0x00000000000000000000000000000000000000b0");
      r->set_max_timeout_seconds(60);
      r->set_token_name("USD Coin");
      r->set_token_version("2");
      v1::PayX402Response resp;
      return authz_->PayX402(c, req, &resp);
    };
    m["AuthorizationService.GetOperation"] = [this](grpc::ClientContext* c) {
      v1::GetOperationRequest req;
      req.set_operation_id(owned_operation_);
      v1::Operation r;
      return authz_->GetOperation(c, req, &r);
    };
    m["AuthorizationService.BudgetStatus"] = [this](grpc::ClientContext* c) {
      v1::BudgetStatusRequest req;
      req.set_scope("agent/agent_a");
      v1::BudgetStatusResponse r;
      return authz_->BudgetStatus(c, req, &r);
    };
    m["AuthorizationService.WhoAmI"] = [this](grpc::ClientContext* c) {
      v1::WhoAmIResponse r;
      return authz_->WhoAmI(c, v1::WhoAmIRequest(), &r);
    };
    m["AdminService.ApplyBundle"] = [this](grpc::ClientContext* c) {
      v1::ApplyBundleRequest req;
      req.set_yaml(kBundle);
      req.set_dry_run(true);
      v1::ApplyBundleResponse r;
      return admin_->ApplyBundle(c, req, &r);
    };
    m["AdminService.GetBundle"] = [this](grpc::ClientContext* c) {
      v1::GetBundleResponse r;
      return admin_->GetBundle(c, v1::GetBundleRequest(), &r);
    };
    m["AdminService.RollbackBundle"] = [this](grpc::ClientContext* c) {
      v1::RollbackBundleRequest req;
      req.set_version(99);  // No such version: NOT_FOUND once admitted.
      v1::ApplyBundleResponse r;
      return admin_->RollbackBundle(c, req, &r);
    };
    m["AdminService.DecommissionAgent"] = [this](grpc::ClientContext* c) {
      v1::DecommissionAgentRequest req;
      req.set_agent_id("ghost");
      req.set_reason("test");
      v1::FreezeResponse r;
      return admin_->DecommissionAgent(c, req, &r);
    };
    for (const char* name : {"FreezeScope", "UnfreezeScope"}) {
      const bool freeze = std::string(name) == "FreezeScope";
      m[absl::StrCat("AdminService.", name)] =
          [this, freeze](grpc::ClientContext* c) {
            v1::FreezeScopeRequest req;
            req.mutable_scope()->set_wallet_id("ghost");
            req.set_reason("test");
            v1::FreezeResponse r;
            return freeze ? admin_->FreezeScope(c, req, &r)
                          : admin_->UnfreezeScope(c, req, &r);
          };
    }
    m["AdminService.ListPolicyChanges"] = [this](grpc::ClientContext* c) {
      v1::ListPolicyChangesResponse r;
      return admin_->ListPolicyChanges(c, {}, &r);
    };
    for (const char* name : {"ApprovePolicyChange", "RejectPolicyChange"}) {
      const bool approve = std::string(name) == "ApprovePolicyChange";
      m[absl::StrCat("AdminService.", name)] =
          [this, approve](grpc::ClientContext* c) {
            v1::PolicyChangeVoteRequest req;
            req.set_change_id("pc_unknown");
            v1::PolicyChangeVoteResponse r;
            return approve ? admin_->ApprovePolicyChange(c, req, &r)
                           : admin_->RejectPolicyChange(c, req, &r);
          };
    }
    m["AdminService.ListFrozenScopes"] = [this](grpc::ClientContext* c) {
      v1::ListFrozenScopesResponse r;
      return admin_->ListFrozenScopes(c, {}, &r);
    };
    m["AdminService.ListPendingApprovals"] = [this](grpc::ClientContext* c) {
      v1::ListPendingApprovalsResponse r;
      return admin_->ListPendingApprovals(c, {}, &r);
    };
    for (const char* name : {"Approve", "Reject"}) {
      const bool approve = std::string(name) == "Approve";
      m[absl::StrCat("AdminService.", name)] =
          [this, approve](grpc::ClientContext* c) {
            v1::ApprovalRequest req;
            req.set_authorization_id("az_unknown");
            v1::ApprovalResponse r;
            return approve ? admin_->Approve(c, req, &r)
                           : admin_->Reject(c, req, &r);
          };
    }
    m["AdminService.CreateToken"] = [this](grpc::ClientContext* c) {
      v1::CreateTokenRequest req;
      req.set_principal("not a principal");
      req.add_roles("admin");
      v1::CreateTokenResponse r;
      return admin_->CreateToken(c, req, &r);
    };
    m["AdminService.ListTokens"] = [this](grpc::ClientContext* c) {
      v1::ListTokensResponse r;
      return admin_->ListTokens(c, {}, &r);
    };
    m["AdminService.RevokeToken"] = [this](grpc::ClientContext* c) {
      v1::RevokeTokenRequest req;
      req.set_token_id("tok_0000000000000000");
      v1::ApiToken r;
      return admin_->RevokeToken(c, req, &r);
    };
    m["AuditService.QueryEvents"] = [this](grpc::ClientContext* c) {
      auto reader = audit_->QueryEvents(c, {});
      v1::AuditRecord r;
      while (reader->Read(&r)) {
      }
      return reader->Finish();
    };
    m["AuditService.SpendSummary"] = [this](grpc::ClientContext* c) {
      v1::SpendSummaryRequest req;
      req.set_group_by(v1::SpendSummaryRequest::GROUP_BY_AGENT);
      v1::SpendSummaryResponse r;
      return audit_->SpendSummary(c, req, &r);
    };
    m["AuditService.VerifyChain"] = [this](grpc::ClientContext* c) {
      v1::VerifyChainResponse r;
      return audit_->VerifyChain(c, {}, &r);
    };
    m["AuditService.SecurityReport"] = [this](grpc::ClientContext* c) {
      v1::SecurityReportResponse r;
      return audit_->SecurityReport(c, {}, &r);
    };
    m["AuditService.Reconcile"] = [this](grpc::ClientContext* c) {
      v1::ReconcileRequest req;
      req.mutable_since()->set_seconds(1);
      v1::ReconcileResponse r;
      return audit_->Reconcile(c, req, &r);
    };
    return m;
  }

  TempDir dir_;
  std::string bundle_path_, audit_path_;
  std::unique_ptr<WardendProcess> wardend_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AuthorizationService::Stub> authz_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  std::map<std::string, std::string> tokens_;     // role -> bearer token
  std::map<std::string, std::string> token_ids_;  // principal -> token id
  std::string owned_id_;         // An authorization of agent_a.
  std::string owned_operation_;  // An operation of agent_a.
};

bool Refused(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
         st.error_code() == grpc::StatusCode::UNAUTHENTICATED;
}

// While four eyes are on (org.policy_changes), an admin cannot mint a
// token for an approver (and answer for it); the approver can for itself.
TEST_F(SecurityE2eTest, AdminsCannotMintApproversTokensUnderFourEyes) {
  std::string yaml = kBundle;
  yaml.replace(yaml.find("org: {id: acme}"),
               std::string("org: {id: acme}").size(),
               "org: {id: acme, policy_changes: {approvals_required: 1, "
               "approvers: [user/alice, user/bob]}}");
  grpc::Status applied = Call("admin", [&](grpc::ClientContext* c) {
    v1::ApplyBundleRequest req;
    req.set_yaml(yaml);
    v1::ApplyBundleResponse r;
    return admin_->ApplyBundle(c, req, &r);
  });
  ASSERT_TRUE(applied.ok()) << applied.error_message();
  auto mint = [&](const std::string& who, const std::string& principal,
                  const std::string& role) {
    return Call(who, [&](grpc::ClientContext* c) {
      v1::CreateTokenRequest req;
      req.set_principal(principal);
      req.add_roles(role);
      v1::CreateTokenResponse r;
      return admin_->CreateToken(c, req, &r);
    });
  };
  grpc::Status forged = mint("admin", "user/bob", "approver");
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(forged.error_message(),
              HasSubstr("user/bob approves policy changes"));
  // Anyone else's token is as before.
  EXPECT_TRUE(mint("admin", "user/zoe", "approver").ok());
}

// The table in docs/security.md, row by row, role by role.
TEST_F(SecurityE2eTest, RolesMatchTheDocumentedTable) {
  const std::string doc =
      ReadFile(std::string(WARDEN_SOURCE_DIR) + "/docs/security.md");
  auto calls = Calls();
  std::vector<std::string> roles;
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(doc, '\n')) {
    if (!absl::ConsumePrefix(&line, "| ")) continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line, '|')) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
    if (cells[0] == "RPC") {
      roles.assign(cells.begin() + 1, cells.begin() + 6);
      continue;
    }
    if (roles.empty() || calls.find(cells[0]) == calls.end()) continue;
    ++rows;
    for (size_t i = 0; i < roles.size(); ++i) {
      const std::string& expect = cells[i + 1];
      grpc::Status st = Call(roles[i], calls[cells[0]]);
      SCOPED_TRACE(absl::StrCat(cells[0], " as ", roles[i], ": ",
                                st.error_code(), " ", st.error_message()));
      if (expect == "no") {
        EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
      } else {
        EXPECT_FALSE(Refused(st));
      }
      if (expect == "self") {
        // Another agent on agent_a's request or record is refused.
        EXPECT_EQ(Call("agent_b", calls[cells[0]]).error_code(),
                  grpc::StatusCode::PERMISSION_DENIED);
      }
    }
  }
  // Every rule of the gateway has its row, and every row its rule.
  EXPECT_EQ(rows, static_cast<int>(RpcRules().size()));
  EXPECT_EQ(calls.size(), RpcRules().size());
  // And every RPC of the services has a rule.
  size_t methods = 0;
  for (const char* service :
       {"warden.v1.AuthorizationService", "warden.v1.AdminService",
        "warden.v1.AuditService"}) {
    const google::protobuf::ServiceDescriptor* s =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service);
    ASSERT_NE(s, nullptr) << service;
    for (int i = 0; i < s->method_count(); ++i) {
      ++methods;
      EXPECT_TRUE(
          calls.contains(absl::StrCat(s->name(), ".", s->method(i)->name())))
          << s->method(i)->full_name();
    }
  }
  EXPECT_EQ(methods, RpcRules().size());
}

TEST_F(SecurityE2eTest, AgentsActOnlyForThemselvesWithinTheirOrg) {
  v1::AuthorizeResponse r;
  grpc::Status st = Call("agent", [&](grpc::ClientContext* c) {
    return authz_->Authorize(c, SpendRequest("agent_b"), &r);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("may act only for itself"));

  // An auditor of acme asking about another org.
  v1::VerifyChainRequest other;
  other.set_org_id("globex");
  v1::VerifyChainResponse vr;
  st = Call("auditor", [&](grpc::ClientContext* c) {
    return audit_->VerifyChain(c, other, &vr);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("may not act in org globex"));

  // An admin applying another org's bundle.
  v1::ApplyBundleRequest apply;
  apply.set_yaml(absl::StrReplaceAll(kBundle, {{"id: acme", "id: globex"}}));
  v1::ApplyBundleResponse ar;
  st = Call("admin", [&](grpc::ClientContext* c) {
    return admin_->ApplyBundle(c, apply, &ar);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // An approver answering as someone else.
  v1::ApprovalRequest vote;
  vote.set_authorization_id(owned_id_);
  vote.set_approver("user/bob");
  v1::ApprovalResponse vres;
  st = Call("approver", [&](grpc::ClientContext* c) {
    return admin_->Approve(c, vote, &vres);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Every refusal is in the audit trail with who and what.
  const std::string trail = ReadFile(audit_path_);
  for (const char* refusal :
       {"may act only for itself", "may not act in org globex",
        "the bundle is for org globex", "may answer only as itself"}) {
    EXPECT_THAT(trail, HasSubstr(refusal));
  }
  EXPECT_THAT(trail, HasSubstr("access.denied"));
  EXPECT_THAT(trail, HasSubstr("agent/agent_a from ipv"));
}

// Oversized requests are refused before they are read into memory whole;
// a bundle within the request limit but past the bundle limit is named.
TEST_F(SecurityE2eTest, OversizedRequestsAreRefused) {
  v1::ApplyBundleRequest apply;
  apply.set_dry_run(true);
  apply.set_yaml(std::string(2 << 20, '#'));
  v1::ApplyBundleResponse r;
  auto send = [&](grpc::ClientContext* c) {
    return admin_->ApplyBundle(c, apply, &r);
  };
  EXPECT_EQ(Call("admin", send).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  apply.set_yaml(std::string((1 << 20) + 10, '#'));
  grpc::Status st = Call("admin", send);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "yaml: is 1048586 bytes; the limit is 1048576");
}

// Hostile bytes are refused first, naming the field, before any
// credential is looked at: invalid UTF-8 is INVALID_ARGUMENT (gRPC's own
// parser would answer UNIMPLEMENTED), and a 1 MB id leaves nothing in the
// audit trail.
TEST_F(SecurityE2eTest, HostileRequestsAreRefusedBeforeAuthentication) {
  auto raw_call = [&](const std::string& method, const std::string& bytes) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    c.AddMetadata("authorization", "Bearer " + tokens_["agent"]);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&c, method, grpc::StubOptions(), &request, &response,
                   [&](grpc::Status st) { done.set_value(std::move(st)); });
    return done.get_future().get();
  };
  v1::AuthorizeRequest req = SpendRequest("agent_a");
  std::string wire = req.SerializeAsString();
  wire[wire.find("agent_a") + 2] = static_cast<char>(0xfe);
  grpc::Status st = raw_call("/warden.v1.AuthorizationService/Authorize", wire);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "agent_id: is not valid UTF-8");

  const size_t audit_before = ReadFile(audit_path_).size();
  v1::AuthorizeRequest huge = SpendRequest("agent_a");
  huge.set_agent_id(std::string(1 << 20, 'x'));
  v1::AuthorizeResponse r;
  // Even without a credential: bounds come first.
  st = CallWith("", [&](grpc::ClientContext* c) {
    return authz_->Authorize(c, huge, &r);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "agent_id: is 1048576 bytes; the limit is 64");
  huge.set_agent_id("agent\x1b[2J\nforged line");
  st = Call("agent", [&](grpc::ClientContext* c) {
    return authz_->Authorize(c, huge, &r);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "agent_id: holds a control byte (0x1b)");
  // A streaming method is served the same way.
  v1::GetAuthorizationRequest get;
  get.set_authorization_id(std::string(100, 'z'));
  grpc::ClientContext c;
  c.AddMetadata("authorization", "Bearer " + tokens_["agent"]);
  auto reader = authz_->WatchAuthorization(&c, get);
  v1::Authorization a;
  EXPECT_FALSE(reader->Read(&a));
  st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "authorization_id: is 100 bytes; the limit is 64");
  EXPECT_EQ(ReadFile(audit_path_).size(), audit_before);
}

TEST_F(SecurityE2eTest, MissingRevokedAndExpiredTokensAreRefused) {
  v1::GetAuthorizationRequest get;
  get.set_authorization_id(owned_id_);
  v1::Authorization a;
  auto read = [&](grpc::ClientContext* c) {
    return authz_->GetAuthorization(c, get, &a);
  };
  EXPECT_EQ(CallWith("", read).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Call("agent", read).ok());

  v1::RevokeTokenRequest revoke;
  revoke.set_token_id(token_ids_["agent/agent_a"]);
  v1::ApiToken revoked;
  ASSERT_TRUE(Call("admin", [&](grpc::ClientContext* c) {
                return admin_->RevokeToken(c, revoke, &revoked);
              }).ok());
  EXPECT_TRUE(revoked.has_revoked_at());
  grpc::Status st = Call("agent", read);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("was revoked"));

  const std::string brief = Mint("agent/agent_a", {"agent"}, 1);
  absl::SleepFor(absl::Milliseconds(1100));
  st = CallWith(brief, read);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("expired"));
}

// Guessing a token's secret from one address throttles that address only:
// the right secret still works, from anywhere (a token id is public, so a
// lock on it would let anyone lock any principal out); the failures up to
// the throttle are audited one by one, those during it are not.
TEST_F(SecurityE2eTest, GuessingThrottlesTheSourceNeverTheToken) {
  absl::StatusOr<std::unique_ptr<TcpForwarder>> forwarder =
      TcpForwarder::Start(wardend_->port(), "127.0.0.2");
  ASSERT_TRUE(forwarder.ok()) << forwarder.status();
  auto attacker_channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*forwarder)->port()),
                          grpc::InsecureChannelCredentials());
  auto attacker = v1::AuditService::NewStub(attacker_channel);
  const std::string good = tokens_["auditor"];
  v1::VerifyChainResponse r;
  auto from_attacker = [&](grpc::ClientContext* c) {
    return attacker->VerifyChain(c, {}, &r);
  };
  auto from_auditor = [&](grpc::ClientContext* c) {
    return audit_->VerifyChain(c, {}, &r);
  };
  // The same token id with guessed secrets; never the real one, as its
  // last character always differs.
  std::string guess = good;
  grpc::Status st;
  for (int i = 0; i < 8; ++i) {
    guess.back() = good.back() == '0' ? '1' : '0';
    guess[guess.size() - 2] = "0123456789"[i];
    st = CallWith(guess, from_attacker);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    if (i == 4) {
      EXPECT_THAT(st.error_message(), HasSubstr("throttled for 30s"));
    }
  }
  // The right secret passes from the auditor's own address ...
  EXPECT_EQ(CallWith(good, from_auditor).error_code(), grpc::StatusCode::OK);
  // ... and even from the throttled one.
  EXPECT_EQ(CallWith(good, from_attacker).error_code(), grpc::StatusCode::OK);
  // However hard the source keeps guessing, the right secret from it still
  // passes, every time.
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(CallWith(guess, from_attacker).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(CallWith(good, from_attacker).error_code(), grpc::StatusCode::OK);
  }

  const std::string trail = ReadFile(audit_path_);
  int denied = 0;
  for (absl::string_view line : absl::StrSplit(trail, '\n')) {
    if (absl::StrContains(line, "access.denied") &&
        absl::StrContains(line, "wrong token secret")) {
      ++denied;
      EXPECT_THAT(line, HasSubstr("127.0.0.2"));
    }
  }
  EXPECT_EQ(denied, 5);
  EXPECT_THAT(trail, HasSubstr("ipv4:127.0.0.2 is throttled for 30s"));
}

// TLS with client certificates: the certificate's SAN URI is the
// principal; a certificate from another CA, or none, gets no connection.
TEST(TlsE2eTest, MutualTlsNamesThePrincipal) {
  TempDir dir;
  const std::string script =
      std::string(WARDEN_SOURCE_DIR) + "/deploy/dev/make-certs.sh";
  for (const char* ca : {"ca1", "ca2"}) {
    absl::StatusOr<CommandResult> made =
        RunCommand({"/bin/bash", script, dir.path() + "/" + ca, "acme",
                    "agent/agent_a", "user/audrey?roles=auditor"},
                   absl::Seconds(60));
    ASSERT_TRUE(made.ok() && made->exit_code == 0)
        << (made.ok() ? made->err : made.status().ToString());
  }
  const std::string ca1 = dir.path() + "/ca1/";
  const std::string ca2 = dir.path() + "/ca2/";
  absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
      WARDEND_PATH,
      {"--auth", "--embedded", "--bundle", dir.Write("bundle.yaml", kBundle),
       "--audit-file", dir.path() + "/audit.jsonl", "--bootstrap-token-file",
       dir.path() + "/admin.token", "--tls-cert", ca1 + "server.pem",
       "--tls-key", ca1 + "server.key", "--tls-client-ca", ca1 + "ca.pem"});
  ASSERT_TRUE(w.ok()) << w.status();
  const std::string address = (*w)->address();

  auto stub = [&](const std::string& client_dir, const std::string& who) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(ca1 + "ca.pem");
    if (!who.empty()) {
      ssl.pem_cert_chain = ReadFile(client_dir + who + ".pem");
      ssl.pem_private_key = ReadFile(client_dir + who + ".key");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return v1::AuthorizationService::NewStub(
        grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args));
  };
  auto authorize = [&](v1::AuthorizationService::Stub& s,
                       const std::string& agent) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::AuthorizeResponse r;
    return s.Authorize(&c, SpendRequest(agent), &r);
  };

  auto agent_a = stub(ca1, "agent_agent_a");
  EXPECT_TRUE(authorize(*agent_a, "agent_a").ok());
  EXPECT_EQ(authorize(*agent_a, "agent_b").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // The auditor's certificate does not make it an agent.
  EXPECT_EQ(authorize(*stub(ca1, "user_audrey"), "agent_a").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Another CA's certificate, no certificate, or no TLS: no connection.
  EXPECT_EQ(authorize(*stub(ca2, "agent_agent_a"), "agent_a").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(authorize(*stub(ca1, ""), "agent_a").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  auto plain = v1::AuthorizationService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(authorize(*plain, "agent_a").error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // wardenctl checks the certificate against --tls-server-name when given
  // (a port-forward): a name the certificate lacks gets no connection,
  // although the address itself is in it.
  auto ctl = [&](const std::string& name) {
    absl::StatusOr<CommandResult> r =
        RunCommand({WARDENCTL_PATH, "--server", address, "--tls-ca",
                    ca1 + "ca.pem", "--tls-cert", ca1 + "agent_agent_a.pem",
                    "--tls-key", ca1 + "agent_agent_a.key", "--tls-server-name",
                    name, "get", "az_missing"},
                   absl::Seconds(30));
    return r.ok() ? r->err : r.status().ToString();
  };
  EXPECT_THAT(ctl("localhost"), HasSubstr("NOT_FOUND"));
  EXPECT_THAT(ctl("warden.elsewhere.example"), HasSubstr("UNAVAILABLE"));
}

// Plaintext beyond loopback, and no auth beyond loopback, are refused at
// start.
TEST(TlsE2eTest, PlaintextOnlyOnLoopback) {
  TempDir dir;
  const std::string bundle = dir.Write("bundle.yaml", kBundle);
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{
           {}, {"--insecure-plaintext", "--insecure-no-auth"}}) {
    std::vector<std::string> argv = {
        WARDEND_PATH, "--embedded",   "--bundle",
        bundle,       "--audit-file", dir.path() + "/audit.jsonl",
        "--listen",   "0.0.0.0:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<CommandResult> r = RunCommand(argv, absl::Seconds(30));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 2);
    EXPECT_THAT(r->err, HasSubstr("loopback only"));
  }
}

}  // namespace
}  // namespace warden::testing
