#include "services/authorization_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "adapters/evm/chains.h"
#include "adapters/evm/eip3009.h"
#include "governance/address.h"
#include "governance/money.h"
#include "governance/status_macros.h"
#include "grpcpp/alarm.h"
#include "services/call.h"
#include "services/metrics.h"
#include "services/proto_convert.h"

namespace warden {
namespace {

// The agent whose records `who` may act on: itself if it is an agent; for
// other principals (their roles decide), no restriction.
std::string OwnerOf(const Principal& who) {
  return who.Kind() == "agent" ? who.Id() : "";
}

// Streams one record until it is decided: reads it on the executor, writes
// it when it changed, then waits kWatchPollInterval on an alarm. One step is
// outstanding at a time, and the step that finds the call over (decided,
// cancelled, failed) finishes it, so Finish runs exactly once and nothing
// touches the reactor after it.
class Watcher final : public EncodingWriter<v1::Authorization> {
 public:
  // `read` reads the record (admitting the caller first); it runs on
  // `executor`, one call at a time.
  using Read = std::function<absl::StatusOr<Authorization>()>;
  Watcher(Executor* executor, Read read)
      : executor_(executor), read_(std::move(read)) {
    Poll();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    } else if (decided_) {
      Finish(grpc::Status::OK);
    } else {
      Wait();
    }
  }
  void OnCancel() override {
    cancelled_ = true;
    alarm_.Cancel();
  }
  void OnDone() override { delete this; }

 private:
  void Poll() {
    const bool queued = executor_->Submit([this] {
      if (absl::Now() >= until_) {
        Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "a watch lasts at most an hour; watch again"));
        return;
      }
      absl::StatusOr<Authorization> a = read_();
      if (cancelled_) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
        return;
      }
      if (!a.ok()) {
        Finish(ToGrpcStatus(a.status()));
        return;
      }
      decided_ = a->status != AuthorizationStatus::kHeld ||
                 a->decision == Decision::kAllow ||
                 a->decision == Decision::kDeny;
      v1::Authorization next;
      ToProto(*a, &next);
      std::string wire = next.SerializeAsString();
      if (wire == last_) {
        Wait();
        return;
      }
      last_ = std::move(wire);
      Write(next);
    });
    if (!queued) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server overloaded: request queue full"));
    }
  }
  void Wait() {
    alarm_.Set(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(
                       AuthorizationService::kWatchPollInterval),
               [this](bool ok) {
                 if (ok && !cancelled_) {
                   Poll();
                 } else {
                   Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                       "watch cancelled"));
                 }
               });
  }

  Executor* const executor_;
  const Read read_;
  // Without a deadline from the caller, a watch still ends.
  const absl::Time until_ = absl::Now() + absl::Hours(1);
  grpc::Alarm alarm_;
  std::atomic<bool> cancelled_{false};
  bool decided_ = false;
  std::string last_;  // The last record written, serialized.
};

// Counts the decision in the metrics.
void CountDecision(const Authorization& a) {
  if (Metrics* m = ProcessMetrics()) {
    m->CountDecision(DecisionName(a.decision),
                     a.violations.empty() ? "" : a.violations[0].code);
  }
}

// The caller's W3C traceparent header, or "".
std::string Traceparent(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("traceparent");
  return it == metadata.end()
             ? ""
             : std::string(it->second.data(), it->second.size());
}

// The engine's input from an AuthorizeRequest or a SubmitTransactionRequest,
// which share these fields.
template <typename Request>
AuthorizeInput AuthorizeInputOf(const grpc::CallbackServerContext& context,
                                const Principal& who, const Request& request) {
  AuthorizeInput in;
  in.traceparent = Traceparent(context);
  in.deadline = CallDeadline(context, absl::Now());
  in.org_id = Gatekeeper::OrgOf(who, {request.org_id()});
  in.agent_id = request.agent_id();
  in.wallet_id = request.wallet_id();
  in.asset = request.asset();
  in.amount = request.amount();
  in.destination = request.destination();
  in.idempotency_key = request.idempotency_key();
  in.memo = request.memo();
  if constexpr (std::is_same_v<Request, v1::AuthorizeRequest>) {
    in.calldata = request.calldata();
  } else {
    in.calldata = request.data();
  }
  in.actor = who.name;
  return in;
}

// The longest EIP-712 domain name or version accepted, in bytes.
constexpr size_t kMaxDomainField = 128;
// How long a signed x402 payment may stay valid, at most.
constexpr int64_t kMaxX402TimeoutSeconds = 3600;

// The x402 network's chain id: "eip155:<id>" (v2) or a v1 network name.
absl::StatusOr<uint64_t> X402ChainId(absl::string_view network) {
  uint64_t id = 0;
  absl::string_view digits = network;
  if (absl::ConsumePrefix(&digits, "eip155:")) {
    if (!digits.empty() && digits.size() <= 20 && digits[0] != '0' &&
        std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) &&
        absl::SimpleAtoi(digits, &id) && id > 0) {
      return id;
    }
  } else if (std::optional<uint64_t> known = evm::KnownChainId(network)) {
    return *known;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "requirements.network: \"", network.substr(0, 64),
      "\" is not an EVM network (\"eip155:<chain id>\", or a name such as "
      "\"base\")"));
}

absl::StatusOr<PayInput> PayInputOf(const grpc::CallbackServerContext& context,
                                    const Principal& who,
                                    const v1::PayX402Request& request) {
  const v1::X402PaymentRequirements& r = request.requirements();
  if (r.scheme() != "exact") {
    return absl::InvalidArgumentError(
        absl::StrCat("requirements.scheme: \"", r.scheme().substr(0, 64),
                     "\": only \"exact\" payments are signed"));
  }
  PayInput in;
  WARDEN_ASSIGN_OR_RETURN(in.terms.chain_id, X402ChainId(r.network()));
  WARDEN_RETURN_IF_ERROR(
      ValidateAddress("requirements.asset", "ethereum", r.asset()));
  in.token_contract = r.asset();
  if (r.max_timeout_seconds() < 1 ||
      r.max_timeout_seconds() > kMaxX402TimeoutSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "requirements.max_timeout_seconds: ", r.max_timeout_seconds(),
        " is outside 1 to ", kMaxX402TimeoutSeconds));
  }
  in.terms.valid_for = absl::Seconds(r.max_timeout_seconds());
  for (const auto& [field, value] :
       {std::pair{"requirements.token_name", &r.token_name()},
        std::pair{"requirements.token_version", &r.token_version()}}) {
    if (value->empty() || value->size() > kMaxDomainField ||
        !std::all_of(value->begin(), value->end(),
                     [](char c) { return c >= ' ' && c < 0x7f; })) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": the token's EIP-712 domain ",
          field == std::string_view("requirements.token_name") ? "name"
                                                               : "version",
          " (the requirement's extra), 1 to ", kMaxDomainField,
          " printable ASCII bytes"));
    }
  }
  in.terms.token_name = r.token_name();
  in.terms.token_version = r.token_version();
  AuthorizeInput& a = in.authorize;
  a.traceparent = Traceparent(context);
  a.deadline = CallDeadline(context, absl::Now());
  a.org_id = Gatekeeper::OrgOf(who, {request.org_id()});
  a.agent_id = request.agent_id();
  a.wallet_id = request.wallet_id();
  a.amount = r.amount();
  a.destination = r.pay_to();
  if (a.destination.empty()) {
    return absl::InvalidArgumentError("requirements.pay_to: required");
  }
  a.x402_resource = request.resource();
  if (a.x402_resource.empty()) {
    return absl::InvalidArgumentError(
        "resource: required (the URL that answered 402)");
  }
  a.idempotency_key = request.idempotency_key();
  a.memo = request.memo();
  a.actor = who.name;
  return in;
}

// The engine names the fields of an Authorize; PayX402 names its own.
absl::Status RenameFields(absl::Status st) {
  absl::string_view message = st.message();
  for (const auto& [from, to] :
       {std::pair{"amount:", "requirements.amount:"},
        std::pair{"destination:", "requirements.pay_to:"}}) {
    if (absl::ConsumePrefix(&message, from)) {
      return absl::Status(st.code(), absl::StrCat(to, message));
    }
  }
  return st;
}

void ToProto(const evm::SignedTransferAuthorization& s,
             v1::X402Authorization* out) {
  const evm::TransferAuthorization& a = s.authorization;
  out->set_from(Eip55(evm::Hex(a.from)));
  out->set_to(Eip55(evm::Hex(a.to)));
  out->set_value(FormatBaseUnits(a.value));
  out->set_valid_after(absl::StrCat(a.valid_after));
  out->set_valid_before(absl::StrCat(a.valid_before));
  out->set_nonce(evm::Hex(a.nonce));
  out->set_signature(s.signature);
}

}  // namespace

AuthorizationService::AuthorizationService(Engine* engine, Submitter* submitter,
                                           Executor* executor, Gatekeeper* gate)
    : RawService("warden.v1.AuthorizationService"),
      engine_(engine),
      submitter_(submitter),
      executor_(executor),
      gate_(gate) {
  Serve("Authorize", &AuthorizationService::Authorize);
  Serve("Settle", &AuthorizationService::Settle);
  Serve("Void", &AuthorizationService::Void);
  Serve("GetAuthorization", &AuthorizationService::GetAuthorization);
  Serve("WatchAuthorization", &AuthorizationService::Watch);
  Serve("SubmitTransaction", &AuthorizationService::SubmitTransaction);
  Serve("GetOperation", &AuthorizationService::GetOperation);
  Serve("PayX402", &AuthorizationService::PayX402);
  Serve("BudgetStatus", &AuthorizationService::BudgetStatus);
  Serve("WhoAmI", &AuthorizationService::WhoAmI);
  CheckAllServed();
}

grpc::ServerUnaryReactor* AuthorizationService::Authorize(
    grpc::CallbackServerContext* context, const v1::AuthorizeRequest* request,
    v1::AuthorizeResponse* response) {
  // The decision is answered from the audit log's callback: no worker
  // waits for its group commit.
  return RunUnaryAsync<AuthorizeOutput>(
      executor_, gate_, context, "AuthorizationService.Authorize",
      {request->org_id(), request->agent_id()},
      [this, context, request](const Principal& who, auto done) {
        engine_->AuthorizeAsync(AuthorizeInputOf(*context, who, *request),
                                std::move(done));
      },
      [response](const AuthorizeOutput& out) {
        CountDecision(out.authorization);
        ToProto(out.authorization, out.replayed, response);
      });
}

absl::StatusOr<Authorization> AuthorizationService::Audited(
    const Principal& who, const char* rpc,
    absl::StatusOr<Authorization> result) {
  if (absl::IsPermissionDenied(result.status())) {
    return gate_->Deny(who, rpc, std::string(result.status().message()));
  }
  return result;
}

grpc::ServerUnaryReactor* AuthorizationService::Settle(
    grpc::CallbackServerContext* context, const v1::SettleRequest* request,
    v1::Authorization* response) {
  static constexpr char kRpc[] = "AuthorizationService.Settle";
  return RunUnary(
      executor_, gate_, context, kRpc, {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<Authorization> {
        SettleInput in;
        in.org_id = Gatekeeper::OrgOf(who, {request->org_id()});
        in.authorization_id = request->authorization_id();
        in.amount = request->amount();
        in.tx_hash = request->tx_hash();
        in.actor = who.name;
        in.owner = OwnerOf(who);
        WARDEN_RETURN_IF_ERROR(
            submitter_->CheckNotSubmitted(in.org_id, in.authorization_id));
        return Audited(who, kRpc, engine_->Settle(in));
      },
      [response](const Authorization& a) { ToProto(a, response); });
}

grpc::ServerUnaryReactor* AuthorizationService::Void(
    grpc::CallbackServerContext* context, const v1::VoidRequest* request,
    v1::Authorization* response) {
  static constexpr char kRpc[] = "AuthorizationService.Void";
  return RunUnary(
      executor_, gate_, context, kRpc, {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<Authorization> {
        const std::string org = Gatekeeper::OrgOf(who, {request->org_id()});
        WARDEN_RETURN_IF_ERROR(
            submitter_->CheckNotSubmitted(org, request->authorization_id()));
        return Audited(who, kRpc,
                       engine_->Void(org, request->authorization_id(), who.name,
                                     OwnerOf(who)));
      },
      [response](const Authorization& a) { ToProto(a, response); });
}

grpc::ServerUnaryReactor* AuthorizationService::GetAuthorization(
    grpc::CallbackServerContext* context,
    const v1::GetAuthorizationRequest* request, v1::Authorization* response) {
  static constexpr char kRpc[] = "AuthorizationService.GetAuthorization";
  return RunUnary(
      executor_, gate_, context, kRpc, {request->org_id()},
      [this, request](const Principal& who) {
        return Audited(who, kRpc,
                       engine_->Get(Gatekeeper::OrgOf(who, {request->org_id()}),
                                    request->authorization_id(), OwnerOf(who)));
      },
      [response](const Authorization& a) { ToProto(a, response); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* AuthorizationService::Watch(
    grpc::CallbackServerContext* context, v1::GetAuthorizationRequest request) {
  static constexpr char kRpc[] = "AuthorizationService.WatchAuthorization";
  // The caller, once admitted, and its slot among the open watches, held
  // until the watch ends (the Watcher, which owns this state, is deleted).
  struct Admitted {
    std::optional<Principal> who;
    std::unique_ptr<StreamSlots::Slot> slot;
  };
  auto admitted = std::make_shared<Admitted>();
  return new Watcher(
      executor_,
      [this, context, admitted, org = request.org_id(),
       id = request.authorization_id()]() -> absl::StatusOr<Authorization> {
        if (!admitted->who.has_value()) {
          absl::StatusOr<Principal> who = gate_->Admit(*context, kRpc, {org});
          if (!who.ok()) return who.status();
          WARDEN_ASSIGN_OR_RETURN(
              admitted->slot,
              watches_.Take(absl::StrCat(who->org_id, "/", who->name), kRpc));
          admitted->who = *std::move(who);
        }
        const Principal& who = *admitted->who;
        return Audited(
            who, kRpc,
            engine_->Get(Gatekeeper::OrgOf(who, {org}), id, OwnerOf(who)));
      });
}

grpc::ServerUnaryReactor* AuthorizationService::SubmitTransaction(
    grpc::CallbackServerContext* context,
    const v1::SubmitTransactionRequest* request,
    v1::SubmitTransactionResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AuthorizationService.SubmitTransaction",
      {request->org_id(), request->agent_id()},
      [this, context, request](const Principal& who) {
        return submitter_->Submit(
            {.authorize = AuthorizeInputOf(*context, who, *request)});
      },
      [response](const SubmitOutput& out) {
        CountDecision(out.authorized.authorization);
        ToProto(out.authorized.authorization, out.authorized.replayed,
                response->mutable_authorization());
        if (out.operation)
          ToProto(*out.operation, response->mutable_operation());
      });
}

grpc::ServerUnaryReactor* AuthorizationService::PayX402(
    grpc::CallbackServerContext* context, const v1::PayX402Request* request,
    v1::PayX402Response* response) {
  return RunUnary(
      executor_, gate_, context, "AuthorizationService.PayX402",
      {request->org_id(), request->agent_id()},
      [this, context,
       request](const Principal& who) -> absl::StatusOr<SubmitOutput> {
        WARDEN_ASSIGN_OR_RETURN(PayInput in,
                                PayInputOf(*context, who, *request));
        absl::StatusOr<SubmitOutput> out = submitter_->Pay(in);
        if (!out.ok()) return RenameFields(out.status());
        return out;
      },
      [response](const SubmitOutput& out) {
        CountDecision(out.authorized.authorization);
        ToProto(out.authorized.authorization, out.authorized.replayed,
                response->mutable_authorization());
        if (!out.operation) return;
        ToProto(*out.operation, response->mutable_operation());
        // A payment only while its hold is live: never with a DENY (one
        // voided by a freeze, settled or expired).
        if (out.operation->state == OperationState::kFailed ||
            out.authorized.authorization.decision != Decision::kAllow) {
          return;
        }
        absl::StatusOr<evm::SignedTransferAuthorization> signed_auth =
            evm::DecodeX402Ref(out.operation->vendor_ref);
        if (signed_auth.ok())
          ToProto(*signed_auth, response->mutable_payment());
      });
}

grpc::ServerUnaryReactor* AuthorizationService::GetOperation(
    grpc::CallbackServerContext* context,
    const v1::GetOperationRequest* request, v1::Operation* response) {
  static constexpr char kRpc[] = "AuthorizationService.GetOperation";
  return RunUnary(
      executor_, gate_, context, kRpc, {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<Operation> {
        // Asking the vendor (a node, an API) may take its whole timeout:
        // a caller past its share of polls gets the stored state, so that
        // no one caller ties up the workers others need.
        absl::StatusOr<std::unique_ptr<StreamSlots::Slot>> poll =
            polls_.Take(absl::StrCat(who.org_id, "/", who.name), kRpc);
        absl::StatusOr<Operation> op =
            submitter_->Get(Gatekeeper::OrgOf(who, {request->org_id()}),
                            request->operation_id(), OwnerOf(who), poll.ok());
        if (absl::IsPermissionDenied(op.status())) {
          return gate_->Deny(who, kRpc, std::string(op.status().message()));
        }
        return op;
      },
      [response](const Operation& op) { ToProto(op, response); });
}

grpc::ServerUnaryReactor* AuthorizationService::BudgetStatus(
    grpc::CallbackServerContext* context,
    const v1::BudgetStatusRequest* request,
    v1::BudgetStatusResponse* response) {
  static constexpr char kRpc[] = "AuthorizationService.BudgetStatus";
  return RunUnary(
      executor_, gate_, context, kRpc, {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<BudgetReport> {
        // Auditors, approvers and admins read any scope; an agent its own.
        const bool reader = who.Has(Role::kAuditor) ||
                            who.Has(Role::kApprover) || who.Has(Role::kAdmin);
        if (!reader && who.Kind() != "agent") {
          return gate_->Deny(who, kRpc,
                             absl::StrCat(who.name,
                                          " has only the agent role but is "
                                          "not an agent"));
        }
        absl::StatusOr<BudgetReport> report = engine_->BudgetStatus(
            Gatekeeper::OrgOf(who, {request->org_id()}), request->scope(),
            request->include_below(), reader ? "" : who.Id());
        if (absl::IsPermissionDenied(report.status())) {
          return gate_->Deny(who, kRpc, std::string(report.status().message()));
        }
        return report;
      },
      [response](const BudgetReport& out) {
        response->set_org_id(out.org_id);
        *response->mutable_as_of() = ToTimestamp(out.as_of);
        for (const LimitStatus& s : out.limits) {
          ToProto(s, response->add_limits());
        }
      });
}

grpc::ServerUnaryReactor* AuthorizationService::WhoAmI(
    grpc::CallbackServerContext* context, const v1::WhoAmIRequest*,
    v1::WhoAmIResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AuthorizationService.WhoAmI", {},
      [](const Principal& who) -> absl::StatusOr<Principal> { return who; },
      [response](const Principal& who) {
        response->set_org_id(who.org_id);
        response->set_principal(who.name);
        for (Role r : who.roles) response->add_roles(RoleName(r));
      });
}

}  // namespace warden
