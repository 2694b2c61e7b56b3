#include "services/audit_service.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "governance/audit_codec.h"
#include "governance/money.h"
#include "governance/quote.h"
#include "governance/status_macros.h"
#include "services/call.h"
#include "services/proto_convert.h"
#include "services/security_report.h"

namespace warden {
namespace {

constexpr size_t kDefaultPage = 500;

absl::Status NoReader() {
  return absl::FailedPreconditionError(
      "this wardend has no audit trail to read");
}

// The audit trail's name of a decision filter; "" for none.
absl::StatusOr<std::string> DecisionFilter(int d) {
  switch (d) {
    case v1::DECISION_UNSPECIFIED:
      return "";
    case v1::DECISION_ALLOW:
      return "ALLOW";
    case v1::DECISION_DENY:
      return "DENY";
    case v1::DECISION_PENDING_APPROVAL:
      return "PENDING_APPROVAL";
    case v1::DECISION_DELAYED:
      return "DELAYED";
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("decision: ", d, " is not a Decision value"));
  }
}

void ToProto(const SpendRow& r, v1::SpendRow* out) {
  out->set_key(r.key);
  out->set_settled_usd(FormatUsdDecimal(r.settled_usd));
  out->set_held_usd(FormatUsdDecimal(r.held_usd));
  out->set_total_usd(
      FormatUsdDecimal(SaturatingAdd(r.settled_usd, r.held_usd)));
  out->set_count(r.count);
  if (r.period_start != absl::InfinitePast()) {
    *out->mutable_period_start() = ToTimestamp(r.period_start);
  }
}

// The key a caller's walks are counted under.
std::string CallerOf(const Principal& who) {
  return absl::StrCat(who.org_id, "/", who.name);
}

absl::StatusOr<Window::Period> PeriodOf(const v1::SpendSummaryRequest& r) {
  switch (r.period()) {
    case v1::SpendSummaryRequest::PERIOD_DAY:
      return Window::Period::kDay;
    case v1::SpendSummaryRequest::PERIOD_WEEK:
      return Window::Period::kWeek;
    case v1::SpendSummaryRequest::PERIOD_MONTH:
      return Window::Period::kMonth;
    case v1::SpendSummaryRequest::PERIOD_QUARTER:
      return Window::Period::kQuarter;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("period: unknown value ", r.period(),
                       " (day, week, month or quarter)"));
  }
}

// Spend over time is a page: from is required and [from, to or now) holds
// at most kMaxSpendPeriods periods.
absl::Status CheckPeriods(const SpendQuery& q) {
  if (q.from == absl::InfinitePast()) {
    return absl::InvalidArgumentError("from: required with a period");
  }
  const absl::Duration longest =
      Window{.kind = Window::Kind::kCalendar, .period = *q.period}.MaxLength();
  const absl::Time end = std::min(q.to, absl::Now() + absl::Hours(24));
  if (end - q.from > longest * kMaxSpendPeriods) {
    return absl::InvalidArgumentError(
        absl::StrCat("period: from..to spans more than ", kMaxSpendPeriods,
                     " periods; narrow it or pick a longer period"));
  }
  return absl::OkStatus();
}

// Streams a page that a worker fetched; deletes itself when done.
// The figures of an authorization event's record, from its body.
void SetSpendFields(const std::string& body, v1::AuditRecord* out) {
  absl::StatusOr<AuditEvent> e = DecodeAuditEvent(body);
  if (!e.ok() || !e->authorization) return;
  const Authorization& a = *e->authorization;
  out->set_chain(a.chain);
  out->set_asset(a.asset);
  out->set_amount(FormatBaseUnits(a.amount));
  out->set_amount_usd(FormatUsdDecimal(a.amount_usd));
  out->set_destination(a.destination);
  out->set_tx_hash(a.tx_hash);
  for (const Violation& v : a.violations) ToProto(v, out->add_violations());
}

class RecordWriter final : public EncodingWriter<v1::AuditRecord> {
 public:
  // Called once, from any thread, with the page or the error.
  void Start(absl::StatusOr<std::vector<v1::AuditRecord>> page) {
    if (!page.ok()) {
      Finish(ToGrpcStatus(page.status()));
      return;
    }
    records_ = *std::move(page);
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (next_ == records_.size()) {
      Finish(grpc::Status::OK);
      return;
    }
    Write(records_[next_++]);
  }

  std::vector<v1::AuditRecord> records_;
  size_t next_ = 0;
};

}  // namespace

AuditService::AuditService(Engine* engine, AuditReader* reader,
                           Reconciler* reconciler, CredentialStore* credentials,
                           const AdapterRegistry* adapters, Executor* executor,
                           Gatekeeper* gate)
    : RawService("warden.v1.AuditService"),
      engine_(engine),
      reader_(reader),
      reconciler_(reconciler),
      credentials_(credentials),
      adapters_(adapters),
      executor_(executor),
      gate_(gate) {
  Serve("QueryEvents", &AuditService::StreamEvents);
  Serve("SpendSummary", &AuditService::SpendSummary);
  Serve("VerifyChain", &AuditService::VerifyChain);
  Serve("Reconcile", &AuditService::Reconcile);
  Serve("SecurityReport", &AuditService::SecurityReport);
  CheckAllServed();
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* AuditService::StreamEvents(
    grpc::CallbackServerContext* context, v1::QueryEventsRequest query) {
  auto* writer = new RecordWriter;
  auto work = [this, context,
               request = std::make_shared<v1::QueryEventsRequest>(std::move(
                   query))]() -> absl::StatusOr<std::vector<v1::AuditRecord>> {
    WARDEN_ASSIGN_OR_RETURN(Principal who,
                            gate_->Admit(*context, "AuditService.QueryEvents",
                                         {request->org_id()}));
    if (reader_ == nullptr) return NoReader();
    if (request->page_size() < 0 ||
        request->page_size() > static_cast<int>(kMaxAuditPage)) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_size: must be from 0 (default ", kDefaultPage,
                       ") to ", kMaxAuditPage));
    }
    AuditQuery q;
    WARDEN_ASSIGN_OR_RETURN(q.org_id, engine_->ResolveOrg(Gatekeeper::OrgOf(
                                          who, {request->org_id()})));
    q.department_id = request->department_id();
    q.agent_id = request->agent_id();
    q.wallet_id = request->wallet_id();
    q.chain = request->chain();
    q.asset = request->asset();
    WARDEN_ASSIGN_OR_RETURN(q.decision, DecisionFilter(request->decision()));
    q.type = request->type();
    if (q.type.size() > 64 ||
        !std::all_of(q.type.begin(), q.type.end(), [](char c) {
          return absl::ascii_islower(c) || c == '.' || c == '_';
        })) {
      return absl::InvalidArgumentError(
          absl::StrCat("type: ", Quote(q.type),
                       " is not an event type (such as "
                       "authorization.decided)"));
    }
    WARDEN_ASSIGN_OR_RETURN(
        q.from, TimeFromProto(request->from(), "from", absl::InfinitePast()));
    WARDEN_ASSIGN_OR_RETURN(
        q.to, TimeFromProto(request->to(), "to", absl::InfiniteFuture()));
    q.after_seq = request->after_seq();
    q.limit = request->page_size() == 0
                  ? kDefaultPage
                  : static_cast<size_t>(request->page_size());
    std::vector<v1::AuditRecord> page;
    WARDEN_RETURN_IF_ERROR(reader_->Query(q, [&](const AuditRecord& a) {
      v1::AuditRecord& r = page.emplace_back();
      r.set_org_id(a.org_id);
      r.set_seq(a.seq);
      *r.mutable_time() = ToTimestamp(a.time);
      r.set_type(a.type);
      r.set_actor(a.actor);
      r.set_gateway(a.gateway);
      r.set_authorization_id(a.authorization_id);
      r.set_agent_id(a.agent_id);
      r.set_department_id(a.department_id);
      r.set_wallet_id(a.wallet_id);
      r.set_decision(a.decision);
      r.set_status(a.status);
      r.set_charged_usd(FormatUsdDecimal(a.charged_usd));
      r.set_body(a.body);
      r.set_prev_hash(a.prev_hash);
      r.set_hash(a.hash);
      SetSpendFields(a.body, &r);
      return true;
    }));
    return page;
  };
  if (!executor_->Submit(
          [writer, work = std::move(work)] { writer->Start(work()); })) {
    writer->Start(
        absl::UnavailableError("server overloaded: request queue full"));
  }
  return writer;
}

grpc::ServerUnaryReactor* AuditService::SpendSummary(
    grpc::CallbackServerContext* context,
    const v1::SpendSummaryRequest* request,
    v1::SpendSummaryResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AuditService.SpendSummary",
      {request->org_id()},
      [this,
       request](const Principal& who) -> absl::StatusOr<std::vector<SpendRow>> {
        if (reader_ == nullptr) return NoReader();
        SpendQuery q;
        switch (request->group_by()) {
          case v1::SpendSummaryRequest::GROUP_BY_DEPARTMENT:
            q.group = SpendGroup::kDepartment;
            break;
          case v1::SpendSummaryRequest::GROUP_BY_AGENT:
            q.group = SpendGroup::kAgent;
            break;
          case v1::SpendSummaryRequest::GROUP_BY_WALLET:
            q.group = SpendGroup::kWallet;
            break;
          case v1::SpendSummaryRequest::GROUP_BY_CHAIN:
            q.group = SpendGroup::kChain;
            break;
          case v1::SpendSummaryRequest::GROUP_BY_ASSET:
            q.group = SpendGroup::kAsset;
            break;
          default:
            return absl::InvalidArgumentError(
                "group_by: required (department, agent, wallet, chain or "
                "asset)");
        }
        WARDEN_ASSIGN_OR_RETURN(q.org_id, engine_->ResolveOrg(Gatekeeper::OrgOf(
                                              who, {request->org_id()})));
        WARDEN_ASSIGN_OR_RETURN(q.from, TimeFromProto(request->from(), "from",
                                                      absl::InfinitePast()));
        WARDEN_ASSIGN_OR_RETURN(
            q.to, TimeFromProto(request->to(), "to", absl::InfiniteFuture()));
        if (request->period() != v1::SpendSummaryRequest::PERIOD_UNSPECIFIED) {
          WARDEN_ASSIGN_OR_RETURN(q.period, PeriodOf(*request));
          // With a period, a `from` set to the epoch is the epoch (a zero
          // Timestamp otherwise reads as unset, and `from` is required).
          if (request->has_from() && q.from == absl::InfinitePast()) {
            q.from = absl::UnixEpoch();
          }
          WARDEN_RETURN_IF_ERROR(CheckPeriods(q));
          WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                                  engine_->GetBundle(q.org_id, 0));
          q.zone = policy->org.timezone;
        }
        return reader_->SpendSummary(q);
      },
      [response](const std::vector<SpendRow>& rows) {
        SpendRow total{.key = "total"};
        for (const SpendRow& r : rows) {
          ToProto(r, response->add_rows());
          total.settled_usd = SaturatingAdd(total.settled_usd, r.settled_usd);
          total.held_usd = SaturatingAdd(total.held_usd, r.held_usd);
          total.count += r.count;
        }
        ToProto(total, response->mutable_total());
      });
}

grpc::ServerUnaryReactor* AuditService::VerifyChain(
    grpc::CallbackServerContext* context, const v1::VerifyChainRequest* request,
    v1::VerifyChainResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AuditService.VerifyChain",
      {request->org_id()},
      [this,
       request](const Principal& who) -> absl::StatusOr<ChainVerification> {
        if (reader_ == nullptr) return NoReader();
        WARDEN_ASSIGN_OR_RETURN(
            std::string org,
            engine_->ResolveOrg(Gatekeeper::OrgOf(who, {request->org_id()})));
        WARDEN_ASSIGN_OR_RETURN(auto slot,
                                walks_.Take(CallerOf(who), "VerifyChain"));
        return reader_->Verify(org);
      },
      [response](const ChainVerification& v) {
        response->set_ok(v.ok);
        response->set_records(v.records);
        response->set_checkpoints(v.checkpoints);
        response->set_first_bad_seq(v.first_bad_seq);
        response->set_problem(v.problem);
      });
}

grpc::ServerUnaryReactor* AuditService::Reconcile(
    grpc::CallbackServerContext* context, const v1::ReconcileRequest* request,
    v1::ReconcileResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AuditService.Reconcile", {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<ReconcileReport> {
        if (reader_ == nullptr) return NoReader();
        WARDEN_ASSIGN_OR_RETURN(
            const absl::Time since,
            TimeFromProto(request->since(), "since", absl::InfinitePast()));
        if (since == absl::InfinitePast()) {
          return absl::InvalidArgumentError(
              "since: is required (vendor transactions at or after it are "
              "compared)");
        }
        WARDEN_ASSIGN_OR_RETURN(auto slot,
                                walks_.Take(CallerOf(who), "Reconcile"));
        return reconciler_->Run(Gatekeeper::OrgOf(who, {request->org_id()}),
                                since, who.name);
      },
      [response](const ReconcileReport& r) {
        response->set_org_id(r.org_id);
        response->set_wallets_checked(r.wallets_checked);
        response->set_vendor_transactions(r.vendor_transactions);
        for (const std::string& u : r.unchecked) response->add_unchecked(u);
        for (const ReconcileFinding& f : r.findings) {
          v1::ReconcileFinding* out = response->add_findings();
          out->set_kind(f.kind == ReconcileFinding::Kind::kShadowSpend
                            ? v1::ReconcileFinding::SHADOW_SPEND
                            : v1::ReconcileFinding::MISSING_SETTLEMENT);
          out->set_wallet_id(f.wallet_id);
          out->set_vendor(f.vendor);
          out->set_tx_hash(f.transaction.tx_hash);
          out->set_from(f.transaction.from);
          out->set_to(f.transaction.to);
          out->set_asset(f.asset);
          out->set_amount(FormatBaseUnits(f.transaction.amount));
          *out->mutable_time() = ToTimestamp(f.transaction.time);
          out->set_authorization_id(f.authorization_id);
          out->set_authorization_status(f.authorization_status);
          out->set_description(f.description);
        }
        response->set_audited(r.audited);
      });
}

grpc::ServerUnaryReactor* AuditService::SecurityReport(
    grpc::CallbackServerContext* context,
    const v1::SecurityReportRequest* request,
    v1::SecurityReportResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AuditService.SecurityReport",
      {request->org_id()},
      [this, request](
          const Principal& who) -> absl::StatusOr<warden::SecurityReport> {
        WARDEN_ASSIGN_OR_RETURN(
            std::string org,
            engine_->ResolveOrg(Gatekeeper::OrgOf(who, {request->org_id()})));
        WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                                engine_->GetBundle(org, 0));
        WARDEN_ASSIGN_OR_RETURN(auto slot,
                                walks_.Take(CallerOf(who), "SecurityReport"));
        SecuritySources in{
            .policy = policy.get(),
            .freeze_control =
                [this](const Wallet& w) { return adapters_->FreezeControl(w); },
            .reader = reader_,
            .now = absl::Now()};
        WARDEN_ASSIGN_OR_RETURN(in.changes,
                                engine_->ListPolicyChanges(org, false));
        // This replica's latest uses first, so that the report has them (a
        // failed write is kept for the next flush; the report goes on).
        gate_->FlushUses().IgnoreError();
        WARDEN_ASSIGN_OR_RETURN(in.tokens, credentials_->ListTokens(org));
        return BuildSecurityReport(in);
      },
      [response](const warden::SecurityReport& r) {
        response->set_org_id(r.org_id);
        response->set_bundle_version(r.bundle_version);
        response->set_bundle_sha256(r.bundle_sha256);
        *response->mutable_generated_at() = ToTimestamp(absl::Now());
        for (const SecurityFinding& f : r.findings) {
          v1::SecurityFinding* out = response->add_findings();
          out->set_kind(f.kind);
          out->set_subject(f.subject);
          out->set_detail(f.detail);
          out->set_attention(f.attention);
        }
      });
}

}  // namespace warden
