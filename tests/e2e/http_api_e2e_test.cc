// The HTTP/JSON API against a real wardend: every method it serves, called
// by every role, gets what the table in docs/security.md says (the gRPC
// rules, extended to HTTP); bad JSON, unknown fields, wrong types and bad
// parameters are 400 naming the field; no token 401; a wrong role 403, and
// each refusal is audited with the HTTP client's address. Approving over
// HTTP turns a pending spend into an ALLOW.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using nlohmann::json;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::RunCommand;
using testing::TempDir;
using testing::WardendProcess;

constexpr char kBundle[] = R"(
org: {id: acme}
departments:
  - id: eng
    limits: [{name: monthly, usd: "1000", window: "calendar:month"}]
    approvals: {approval_above_usd: "100", approvers: [user/alice]}
agents:
  - id: agent_a
    department: eng
    wallets: [{id: w1, vendor: local, chain: base, address: "0x01"}]
  - {id: agent_b, department: eng}
assets: [{symbol: USDC, decimals: 6, price_usd: "1"}]
)";

// A harmless body per method: each passes or fails after the access check.
// `owned`: an authorization of agent_a's.
std::map<std::string, std::string> Bodies(const std::string& owned) {
  return {
      {"AuthorizationService.BudgetStatus", R"({"scope": "agent/agent_a"})"},
      {"AuthorizationService.WhoAmI", "{}"},
      {"AuthorizationService.GetAuthorization",
       absl::StrCat(R"({"authorization_id": ")", owned, R"("})")},
      {"AdminService.ListPendingApprovals", "{}"},
      {"AdminService.Approve", R"({"authorization_id": "az_missing"})"},
      {"AdminService.Reject", R"({"authorization_id": "az_missing"})"},
      {"AdminService.ListFrozenScopes", "{}"},
      {"AdminService.FreezeScope",
       R"({"scope": {"agent_id": "nobody"}, "reason": "test"})"},
      {"AdminService.UnfreezeScope",
       R"({"scope": {"agent_id": "nobody"}, "reason": "test"})"},
      {"AdminService.ListPolicyChanges", "{}"},
      {"AuditService.QueryEvents", R"({"page_size": 5})"},
      {"AuditService.SpendSummary", R"({"group_by": "GROUP_BY_AGENT"})"},
      {"AuditService.VerifyChain", "{}"},
      {"AuditService.SecurityReport", "{}"},
  };
}

// Sends `request` on a fresh loopback connection to `port` and returns what
// comes back within 10 s (or until the server closes).
std::string RawExchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::write(fd, request.data(), request.size()) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;) {
      out.append(buffer, static_cast<size_t>(n));
      if (out.find("\r\n\r\n") != std::string::npos &&
          out.find("}") != std::string::npos) {
        break;
      }
    }
  }
  ::close(fd);
  return out;
}

class HttpApiE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string token_file = dir_.path() + "/admin.tok";
    absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
        WARDEND_PATH,
        {"--auth", "--embedded", "--bundle", dir_.Write("b.yaml", kBundle),
         "--audit-file", audit_, "--bootstrap-token-file", token_file,
         "--http-listen", "127.0.0.1:0"});
    ASSERT_TRUE(w.ok()) << w.status();
    w_ = *std::move(w);
    std::ifstream in(token_file);
    std::getline(in, tokens_["admin"]);
    tokens_["agent"] = Mint("agent/agent_a", "agent");
    tokens_["agent_b"] = Mint("agent/agent_b", "agent");
    tokens_["approver"] = Mint("user/alice", "approver");
    tokens_["auditor"] = Mint("user/audrey", "auditor");
    tokens_["operator"] = Mint("user/olga", "operator");
    http_ = w_->http_url();
    ASSERT_TRUE(absl::StartsWith(http_, "http://")) << http_;
    http_ = http_.substr(7);
  }

  std::string Mint(const std::string& principal, const std::string& role) {
    absl::StatusOr<CommandResult> r = RunCommand(
        {WARDENCTL_PATH, "--server", w_->address(), "--token", tokens_["admin"],
         "token", "create", "--principal", principal, "--role", role},
        absl::Seconds(30));
    EXPECT_TRUE(r.ok() && r->exit_code == 0);
    return r.ok() ? std::string(absl::StripAsciiWhitespace(r->out)) : "";
  }

  // agent_a spends `amount` USDC base units, over gRPC.
  v1::AuthorizeResponse Spend(const std::string& amount) {
    v1::AuthorizeRequest request;
    request.set_agent_id("agent_a");
    request.set_wallet_id("w1");
    request.set_asset("USDC");
    request.set_amount(amount);
    v1::AuthorizeResponse response;
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer " + tokens_["agent"]);
    EXPECT_TRUE(w_->authz().Authorize(&c, request, &response).ok());
    return response;
  }

  // POSTs `body` to the method ("AdminService.Approve") as `who`.
  httplib::Result Post(const std::string& method, const std::string& body,
                       const std::string& who,
                       const std::string& type = "application/json") {
    httplib::Client client(http_);
    client.set_read_timeout(30, 0);
    httplib::Headers headers;
    if (!who.empty()) {
      headers.emplace("Authorization", "Bearer " + tokens_[who]);
    }
    std::string path = absl::StrCat("/warden.v1.", method);
    path[path.find('.', 11)] = '/';
    return client.Post(path, headers, body, type);
  }

  TempDir dir_;
  const std::string audit_ = dir_.path() + "/audit.jsonl";
  std::unique_ptr<WardendProcess> w_;
  std::string http_;  // host:port
  std::map<std::string, std::string> tokens_;
};

TEST_F(HttpApiE2eTest, EveryMethodForEveryRoleAsTheTableSays) {
  std::ifstream doc(std::string(WARDEN_SOURCE_DIR) + "/docs/security.md");
  std::stringstream text;
  text << doc.rdbuf();
  const std::map<std::string, std::string> bodies =
      Bodies(Spend("1000000").authorization_id());
  std::vector<std::string> roles;
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    if (!absl::ConsumePrefix(&line, "| ")) continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line, '|')) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
    if (cells[0] == "RPC") {
      roles.assign(cells.begin() + 1, cells.begin() + 6);
      continue;
    }
    auto body = bodies.find(cells[0]);
    if (roles.empty() || body == bodies.end()) continue;
    ++rows;
    for (size_t i = 0; i < roles.size(); ++i) {
      httplib::Result r = Post(cells[0], body->second, roles[i]);
      ASSERT_TRUE(r) << cells[0];
      SCOPED_TRACE(absl::StrCat(cells[0], " as ", roles[i], ": ", r->status,
                                " ", r->body));
      const json answer = json::parse(r->body, nullptr, false);
      ASSERT_TRUE(answer.is_object());
      if (cells[i + 1] == "no") {
        EXPECT_EQ(r->status, 403);
        EXPECT_EQ(answer["code"], "permission_denied");
      } else {
        EXPECT_NE(r->status, 401);
        EXPECT_NE(r->status, 403);
      }
      if (cells[i + 1] == "self") {
        httplib::Result other = Post(cells[0], body->second, "agent_b");
        ASSERT_TRUE(other);
        EXPECT_EQ(other->status, 403) << other->body;
      }
    }
    // No token: 401, with the challenge.
    httplib::Result anonymous = Post(cells[0], body->second, "");
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401) << cells[0];
    EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Bearer");
  }
  EXPECT_EQ(rows, static_cast<int>(bodies.size()));
  // Each refusal is in the audit trail with the HTTP client's address.
  std::ifstream trail(audit_);
  std::stringstream lines;
  lines << trail.rdbuf();
  EXPECT_THAT(lines.str(), HasSubstr("access.denied"));
  EXPECT_THAT(lines.str(), HasSubstr("from http:127.0.0.1:"));
}

TEST_F(HttpApiE2eTest, BadInputIsNamed) {
  struct Case {
    std::string method, body, type;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"AuditService.SpendSummary", "{not json", "application/json", 400,
       "request body:"},
      {"AuditService.SpendSummary", R"({"bogus": 1})", "application/json", 400,
       "bogus"},
      {"AuditService.SpendSummary", R"({"group_by": "GROUP_BY_PLANET"})",
       "application/json", 400, "group_by"},
      {"AuditService.QueryEvents", R"({"page_size": "many"})",
       "application/json", 400, "page_size"},
      {"AuditService.QueryEvents", R"({"page_size": 9223372036854775808})",
       "application/json", 400, "page_size"},
      {"AuditService.QueryEvents", R"({"page_size": 6000})", "application/json",
       400, "page_size: must be from 0"},
      {"AuditService.QueryEvents", R"({"type": "Bad\nType"})",
       "application/json", 400, "type: "},
      {"AuditService.QueryEvents", R"({"from": "yesterday"})",
       "application/json", 400, "from"},
      {"AuditService.SpendSummary", "{}", "text/plain", 400, "Content-Type"},
      {"AuditService.SpendSummary", std::string(2 << 20, ' '),
       "application/json", 413, "larger than 1 MiB"},
      {"AdminService.ApplyBundle", "{}", "application/json", 404,
       "no method /warden.v1.AdminService/ApplyBundle"},
  };
  for (const Case& c : cases) {
    httplib::Result r = Post(c.method, c.body, "auditor", c.type);
    ASSERT_TRUE(r) << c.method;
    EXPECT_EQ(r->status, c.status) << c.body.substr(0, 60) << ": " << r->body;
    EXPECT_THAT(r->body, HasSubstr(c.message)) << c.body.substr(0, 60);
  }
  // A budget status scope the policy lacks: 404 naming the field.
  httplib::Result missing = Post("AuthorizationService.BudgetStatus",
                                 R"({"scope": "agent/nobody"})", "auditor");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("scope: "));
}

// Found by an attack: a control byte in the token crashed wardend (gRPC
// metadata takes printable ASCII only), a gzip body inflated to gigabytes
// before any check, a second Authorization header was read as the first,
// and slow clients held every worker.
TEST_F(HttpApiE2eTest, HostileHeadersAndBodiesAreRefusedBeforeAnyWork) {
  httplib::Client client(http_);
  client.set_read_timeout(30, 0);
  const std::string path = "/warden.v1.AuthorizationService/BudgetStatus";
  for (const char bad : {'\x01', '\t', '\x7f', '\x80', '\xff'}) {
    httplib::Result r = client.Post(
        path, {{"Authorization", std::string("Bearer x") + bad + "y"}}, "{}",
        "application/json");
    ASSERT_TRUE(r) << static_cast<int>(bad);
    EXPECT_EQ(r->status, 401);
    EXPECT_THAT(r->body, HasSubstr("Authorization: not a bearer token"));
  }
  httplib::Result huge =
      client.Post(path, {{"Authorization", "Bearer " + std::string(5000, 'a')}},
                  "{}", "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 401);
  httplib::Result two =
      client.Post(path,
                  {{"Authorization", "Bearer " + tokens_["auditor"]},
                   {"Authorization", "Bearer " + tokens_["agent"]}},
                  "{}", "application/json");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->status, 401);
  EXPECT_THAT(two->body, HasSubstr("give one header"));
  // Any Content-Encoding: 415, whatever the body (not decompressed).
  httplib::Result gz = client.Post(path, {{"Content-Encoding", "gzip"}},
                                   "\x1f\x8bnot-gzip", "application/json");
  ASSERT_TRUE(gz);
  EXPECT_EQ(gz->status, 415);
  EXPECT_THAT(gz->body, HasSubstr("Content-Encoding"));
  httplib::Result jsonx =
      client.Post(path, {{"Authorization", "Bearer " + tokens_["auditor"]}},
                  "{}", "application/jsonx");
  ASSERT_TRUE(jsonx);
  EXPECT_EQ(jsonx->status, 400);
  // A chunked body is refused before it is read (this httplib would read
  // it whole, past the 1 MiB limit): 411 while the chunks keep coming. A
  // POST with no length is 400 in the API's error form.
  const int port = std::stoi(http_.substr(http_.rfind(':') + 1));
  EXPECT_THAT(
      RawExchange(port,
                  "POST /warden.v1.AuditService/VerifyChain HTTP/1.1\r\n"
                  "Host: x\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n"
                  "100000\r\n" +
                      std::string(4096, ' ')),
      HasSubstr("HTTP/1.1 411"));
  const std::string no_length =
      RawExchange(port,
                  "POST /warden.v1.AuditService/VerifyChain HTTP/1.1\r\n"
                  "Host: x\r\nContent-Type: application/json\r\n"
                  "Connection: close\r\n\r\n");
  EXPECT_THAT(no_length, HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(no_length, HasSubstr("\"code\":\"invalid_argument\""));
  EXPECT_THAT(no_length, HasSubstr("X-Content-Type-Options: nosniff"));
  // Still serving, on both ports.
  EXPECT_EQ(Post("AuthorizationService.BudgetStatus", "{}", "auditor")->status,
            200);
  EXPECT_EQ(Spend("1").decision(), v1::DECISION_ALLOW);
}

// A slow client (a header line every second) holds one worker, not the
// port: with 16 of them trickling, a call is answered at once.
TEST_F(HttpApiE2eTest, SlowClientsDoNotBlockThePort) {
  std::vector<std::unique_ptr<httplib::Client>> held;
  std::vector<std::thread> slow;
  std::atomic<bool> stop{false};
  const int port = std::stoi(http_.substr(http_.rfind(':') + 1));
  for (int i = 0; i < 16; ++i) {
    slow.emplace_back([&, port] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
          0) {
        const std::string start =
            "POST /warden.v1.AuditService/VerifyChain HTTP/1.1\r\nHost: x\r\n";
        (void)!::write(fd, start.data(), start.size());
        for (int n = 0; n < 8 && !stop; ++n) {
          absl::SleepFor(absl::Seconds(1));
          const std::string line = absl::StrCat("X-Slow-", n, ": 1\r\n");
          (void)!::write(fd, line.data(), line.size());
        }
      }
      ::close(fd);
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  const absl::Time start = absl::Now();
  httplib::Result r = Post("AuditService.VerifyChain", "{}", "auditor");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  stop = true;
  for (std::thread& t : slow) t.join();
}

TEST_F(HttpApiE2eTest, ApprovingOverHttpAllows) {
  // $150 from agent_a: above the $100 approval threshold.
  const v1::AuthorizeResponse pending = Spend("150000000");
  ASSERT_EQ(pending.decision(), v1::DECISION_PENDING_APPROVAL);
  httplib::Result list =
      Post("AdminService.ListPendingApprovals", "{}", "approver");
  ASSERT_TRUE(list);
  const json approvals = json::parse(list->body);
  ASSERT_EQ(approvals["approvals"].size(), 1u) << list->body;
  EXPECT_EQ(approvals["approvals"][0]["authorization_id"],
            pending.authorization_id());
  EXPECT_EQ(approvals["approvals"][0]["amount_usd"], "150.00");
  httplib::Result approved =
      Post("AdminService.Approve",
           json{{"authorization_id", pending.authorization_id()},
                {"comment", "PO 7"}}
               .dump(),
           "approver");
  ASSERT_TRUE(approved);
  EXPECT_EQ(approved->status, 200) << approved->body;
  EXPECT_EQ(json::parse(approved->body)["authorization"]["decision"],
            "DECISION_ALLOW");
  // The budget now holds it; the agent reads its own status over HTTP.
  httplib::Result status = Post("AuthorizationService.BudgetStatus",
                                R"({"scope": "department/eng"})", "auditor");
  ASSERT_TRUE(status);
  EXPECT_EQ(json::parse(status->body)["limits"][0]["held_usd"], "150.00");
}

}  // namespace
}  // namespace warden
