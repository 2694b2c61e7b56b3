// wardenctl audit verify | query | export | verify-file | retention |
// summary, and wardenctl reconcile: the audit trail, for auditors and
// finance.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "governance/audit_chain.h"
#include "governance/memory/file_audit_log.h"
#include "governance/postgres/postgres_audit_log.h"
#include "governance/postgres/retention.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/audit.grpc.pb.h"

namespace warden::wardenctl {
namespace {

// A record's violation codes, ';'-separated, for the CSV.
std::string ViolationCodes(const v1::AuditRecord& r) {
  std::string out;
  for (const v1::Violation& v : r.violations()) {
    absl::StrAppend(&out, out.empty() ? "" : ";", v.code());
  }
  return out;
}

Json RecordJson(const v1::AuditRecord& r) {
  return {{"org_id", r.org_id()},
          {"seq", r.seq()},
          {"time", TimeText(r.time())},
          {"type", r.type()},
          {"actor", r.actor()},
          {"gateway", r.gateway()},
          {"authorization_id", r.authorization_id()},
          {"agent_id", r.agent_id()},
          {"department_id", r.department_id()},
          {"wallet_id", r.wallet_id()},
          {"decision", r.decision()},
          {"status", r.status()},
          {"charged_usd", r.charged_usd()},
          {"chain", r.chain()},
          {"asset", r.asset()},
          {"amount", r.amount()},
          {"amount_usd", r.amount_usd()},
          {"destination", r.destination()},
          {"tx_hash", r.tx_hash()},
          {"violations", ViolationsJson(r.violations())},
          {"body", r.body()},
          {"prev_hash", r.prev_hash()},
          {"hash", r.hash()}};
}

constexpr const char* kCsvHeader =
    "org_id,seq,time,type,actor,authorization_id,agent_id,department_id,"
    "wallet_id,decision,status,charged_usd,chain,asset,amount,amount_usd,"
    "destination,tx_hash,violations,prev_hash,hash,body";

// RFC 4180: every field quoted, quotes doubled.
std::string CsvLine(const v1::AuditRecord& r) {
  std::string line;
  auto field = [&](const std::string& v) {
    if (!line.empty()) line += ',';
    line += '"';
    for (char c : v) {
      if (c == '"') line += '"';
      line += c;
    }
    line += '"';
  };
  for (const std::string& v : {r.org_id(),         std::to_string(r.seq()),
                               TimeText(r.time()), r.type(),
                               r.actor(),          r.authorization_id(),
                               r.agent_id(),       r.department_id(),
                               r.wallet_id(),      r.decision(),
                               r.status(),         r.charged_usd(),
                               r.chain(),          r.asset(),
                               r.amount(),         r.amount_usd(),
                               r.destination(),    r.tx_hash(),
                               ViolationCodes(r),  r.prev_hash(),
                               r.hash(),           r.body()}) {
    field(v);
  }
  return line;
}

// Pages through QueryEvents with the seq cursor until `max` events or the
// end, calling fn on each.
grpc::Status ForEachEvent(
    const Globals& g, v1::AuditService::Stub& stub,
    v1::QueryEventsRequest request, int64_t max,
    const std::function<void(const v1::AuditRecord&)>& fn) {
  constexpr int kPage = 2000;
  int64_t seen = 0;
  while (seen < max) {
    request.set_page_size(
        static_cast<int>(std::min<int64_t>(kPage, max - seen)));
    grpc::ClientContext context;
    PrepareContext(g, &context);
    auto reader = stub.QueryEvents(&context, request);
    v1::AuditRecord r;
    int got = 0;
    while (reader->Read(&r)) {
      fn(r);
      request.set_after_seq(r.seq());
      ++got;
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return status;
    seen += got;
    if (got < request.page_size()) break;
  }
  return grpc::Status::OK;
}

// Verifies a JSONL export (or an embedded-mode audit file) line by line:
// each hash (SHA-256 of prev_hash and body), each link, and seq
// rising by one (seq is outside the hash). The first line must be the
// trail's first record (seq 1, genesis prev_hash), or link to `anchor`:
// the hash of the record before it, taken from a trusted copy or a signed
// checkpoint. Without one, a file whose head was cut off would verify.
int VerifyExportFile(const std::string& path, const std::string& anchor,
                     bool json) {
  std::ifstream in(path);
  std::string text, prev = anchor.empty() ? warden::kGenesisHash : anchor;
  int64_t n = 0, prev_seq = 0;
  while (std::getline(in, text)) {
    ++n;
    absl::StatusOr<warden::ChainLine> line = warden::ParseChainLine(text);
    if (!line.ok()) {
      return PrintVerification(path, false, n, 0, n,
                               std::string(line.status().message()), json);
    }
    if (n == 1 && anchor.empty() &&
        (line->seq != 1 || line->prev_hash != prev)) {
      return PrintVerification(
          path, false, n, 0, line->seq,
          absl::StrCat("the file starts at seq ", line->seq,
                       ", not at the "
                       "trail's first record: the records before it are not "
                       "here to check; verify from a trusted hash of record ",
                       line->seq - 1,
                       " with --anchor (this line's prev_hash "
                       "is ",
                       line->prev_hash, ")"),
          json);
    }
    if (n > 1 && line->seq != prev_seq + 1) {
      return PrintVerification(
          path, false, n, 0, line->seq,
          absl::StrCat("seq ", line->seq, " follows seq ", prev_seq,
                       " (a record is missing, or a seq was changed)"),
          json);
    }
    if (line->prev_hash != prev) {
      return PrintVerification(path, false, n, 0, line->seq,
                               n == 1 ? "does not link to --anchor"
                                      : "does not link to the previous line",
                               json);
    }
    if (warden::ChainHash(line->prev_hash, line->body) != line->hash) {
      return PrintVerification(path, false, n, 0, line->seq,
                               "its body does not match its hash", json);
    }
    prev = line->hash;
    prev_seq = line->seq;
  }
  return PrintVerification(path, true, n, 0, 0, "", json);
}

struct VerifyFlags {
  std::string postgres, org;
};

int Verify(const Globals& g, const VerifyFlags& f) {
  if (!f.postgres.empty()) {
    absl::StatusOr<warden::ChainVerification> v =
        warden::VerifyAuditChain(f.postgres, f.org);
    if (!v.ok()) {
      std::cerr << "wardenctl: " << v.status().message() << "\n";
      return kCallFailed;
    }
    return PrintVerification(f.org, v->ok, v->records, v->checkpoints,
                             v->first_bad_seq, v->problem, g.json);
  }
  v1::VerifyChainRequest request;
  request.set_org_id(f.org.empty() ? g.org : f.org);
  return Unary(g, &v1::AuditService::Stub::VerifyChain, request,
               [&g, &request](const v1::VerifyChainResponse& response) {
                 return PrintVerification(
                     request.org_id().empty() ? "(default)" : request.org_id(),
                     response.ok(), response.records(), response.checkpoints(),
                     response.first_bad_seq(), response.problem(), g.json);
               });
}

// The filters of query and export, and where export writes.
struct QueryFlags {
  v1::QueryEventsRequest request;
  std::string from, to, decision;
  int64_t max = 100000;
  bool is_export = false;
  std::string out, format = "jsonl";
};

int Query(const Globals& g, QueryFlags f) {
  auto channel = Connect(g);
  if (channel == nullptr) return kUsage;
  auto stub = v1::AuditService::NewStub(channel);
  f.request.set_org_id(g.org);
  if (!f.decision.empty()) {
    v1::Decision d = v1::DECISION_UNSPECIFIED;
    v1::Decision_Parse("DECISION_" + f.decision, &d);
    f.request.set_decision(d);
  }
  if (!ParseTimeFlag("--from", f.from, f.request.mutable_from()) ||
      !ParseTimeFlag("--to", f.to, f.request.mutable_to())) {
    return kUsage;
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (f.is_export) {
    file.open(f.out);
    if (!file) {
      std::cerr << "wardenctl: --out: cannot write " << f.out << "\n";
      return kUsage;
    }
    out = &file;
    if (f.format == "csv") *out << kCsvHeader << "\n";
  }
  int64_t written = 0;
  const grpc::Status status =
      ForEachEvent(g, *stub, f.request, f.max, [&](const v1::AuditRecord& r) {
        if (f.is_export && f.format == "csv") {
          *out << CsvLine(r) << "\n";
        } else {
          *out << RecordJson(r).dump() << "\n";
        }
        ++written;
      });
  if (!status.ok()) return Fail(status);
  if (f.is_export) {
    std::cerr << "wrote " << written << " events to " << f.out << "\n";
  }
  return 0;
}

struct SummaryFlags {
  v1::SpendSummaryRequest request;
  std::string group, from, to, by;
};

int Summary(const Globals& g, SummaryFlags f) {
  f.request.set_org_id(g.org);
  static const std::map<std::string, v1::SpendSummaryRequest::GroupBy> kGroups =
      {{"department", v1::SpendSummaryRequest::GROUP_BY_DEPARTMENT},
       {"agent", v1::SpendSummaryRequest::GROUP_BY_AGENT},
       {"wallet", v1::SpendSummaryRequest::GROUP_BY_WALLET},
       {"chain", v1::SpendSummaryRequest::GROUP_BY_CHAIN},
       {"asset", v1::SpendSummaryRequest::GROUP_BY_ASSET}};
  f.request.set_group_by(kGroups.at(f.group));
  static const std::map<std::string, v1::SpendSummaryRequest::Period> kPeriods =
      {{"", v1::SpendSummaryRequest::PERIOD_UNSPECIFIED},
       {"day", v1::SpendSummaryRequest::PERIOD_DAY},
       {"week", v1::SpendSummaryRequest::PERIOD_WEEK},
       {"month", v1::SpendSummaryRequest::PERIOD_MONTH},
       {"quarter", v1::SpendSummaryRequest::PERIOD_QUARTER}};
  f.request.set_period(kPeriods.at(f.by));
  if (!ParseTimeFlag("--from", f.from, f.request.mutable_from()) ||
      !ParseTimeFlag("--to", f.to, f.request.mutable_to())) {
    return kUsage;
  }
  // Sent only when given: with --by, a zero `from` is the epoch.
  if (f.from.empty()) f.request.clear_from();
  if (f.to.empty()) f.request.clear_to();
  return Unary(
      g, &v1::AuditService::Stub::SpendSummary, f.request,
      [&g, &f](const v1::SpendSummaryResponse& response) {
        const bool periods = !f.by.empty();
        auto row_json = [periods](const v1::SpendRow& r) {
          Json row{{"key", r.key()},
                   {"settled_usd", r.settled_usd()},
                   {"held_usd", r.held_usd()},
                   {"total_usd", r.total_usd()},
                   {"count", r.count()}};
          if (periods && r.has_period_start()) {
            row["period_start"] = TimeText(r.period_start());
          }
          return row;
        };
        if (g.json) {
          Json rows = Json::array();
          for (const v1::SpendRow& r : response.rows())
            rows.push_back(row_json(r));
          std::cout << Json{{"rows", rows},
                            {"total", row_json(response.total())}}
                           .dump()
                    << "\n";
        } else {
          if (periods) std::cout << f.by << "\t";
          std::cout << f.group << "\tsettled_usd\theld_usd\ttotal_usd\tcount\n";
          for (const v1::SpendRow& r : response.rows()) {
            if (periods) std::cout << TimeText(r.period_start()) << "\t";
            std::cout << r.key() << "\t" << r.settled_usd() << "\t"
                      << r.held_usd() << "\t" << r.total_usd() << "\t"
                      << r.count() << "\n";
          }
          const v1::SpendRow& t = response.total();
          if (periods) std::cout << "\t";
          std::cout << "total\t" << t.settled_usd() << "\t" << t.held_usd()
                    << "\t" << t.total_usd() << "\t" << t.count() << "\n";
        }
        return 0;
      });
}

struct RetentionFlags {
  std::string postgres, export_dir;
  int64_t days = 365 * 7 + 2;
  bool export_only = false;
};

int Retention(const RetentionFlags& f) {
  absl::StatusOr<warden::RetentionReport> r =
      warden::ApplyRetention({.url = f.postgres,
                              .retention = absl::Hours(24 * f.days),
                              .export_dir = f.export_dir,
                              .export_only = f.export_only});
  if (!r.ok()) {
    std::cerr << "wardenctl: " << r.status().message() << "\n";
    return kCallFailed;
  }
  for (const std::string& e : r->exported)
    std::cout << "exported " << e << "\n";
  for (const std::string& d : r->dropped) std::cout << "dropped " << d << "\n";
  if (r->exported.empty() && r->dropped.empty()) {
    std::cout << "nothing older than " << f.days << " days\n";
  }
  return 0;
}

struct ReconcileFlags {
  std::string org, since;
};

// wardenctl report security: the findings, those needing attention first;
// exit code kChainBroken (3) when any does.
int SecurityReport(const Globals& g) {
  v1::SecurityReportRequest request;
  request.set_org_id(g.org);
  return Unary(g, &v1::AuditService::Stub::SecurityReport, request,
               [&g](const v1::SecurityReportResponse& r) {
                 std::vector<const v1::SecurityFinding*> findings;
                 for (const v1::SecurityFinding& f : r.findings()) {
                   findings.push_back(&f);
                 }
                 std::stable_sort(findings.begin(), findings.end(),
                                  [](const auto* a, const auto* b) {
                                    return a->attention() > b->attention();
                                  });
                 bool attention = false;
                 Json list = Json::array();
                 for (const v1::SecurityFinding* f : findings) {
                   attention = attention || f->attention();
                   list.push_back({{"kind", f->kind()},
                                   {"subject", f->subject()},
                                   {"detail", f->detail()},
                                   {"attention", f->attention()}});
                 }
                 if (g.json) {
                   std::cout
                       << Json{{"org_id", r.org_id()},
                               {"bundle_version", r.bundle_version()},
                               {"bundle_sha256", r.bundle_sha256()},
                               {"generated_at", TimeText(r.generated_at())},
                               {"attention", attention},
                               {"findings", list}}
                              .dump()
                       << "\n";
                 } else {
                   std::cout << "org " << r.org_id() << ": bundle v"
                             << r.bundle_version() << ", "
                             << (attention ? "needs attention"
                                           : "nothing needs attention")
                             << "\n";
                   for (const v1::SecurityFinding* f : findings) {
                     std::cout
                         << (f->attention() ? "  ATTENTION " : "  ok        ")
                         << f->kind() << " " << f->subject() << ": "
                         << f->detail() << "\n";
                   }
                 }
                 return attention ? kChainBroken : 0;
               });
}

int Reconcile(const Globals& g, const ReconcileFlags& flags) {
  v1::ReconcileRequest request;
  request.set_org_id(flags.org.empty() ? g.org : flags.org);
  absl::Duration ago;
  if (absl::ParseDuration(flags.since, &ago) && ago > absl::ZeroDuration()) {
    *request.mutable_since() =
        google::protobuf::util::TimeUtil::SecondsToTimestamp(
            absl::ToUnixSeconds(absl::Now() - ago));
  } else if (!ParseTimeFlag("--since", flags.since, request.mutable_since())) {
    return kUsage;
  }
  return Unary(g, &v1::AuditService::Stub::Reconcile, request,
               [&g](const v1::ReconcileResponse& response) {
                 auto kind = [](const v1::ReconcileFinding& f) {
                   return f.kind() == v1::ReconcileFinding::SHADOW_SPEND
                              ? "shadow_spend"
                              : "missing_settlement";
                 };
                 if (g.json) {
                   Json findings = Json::array();
                   for (const v1::ReconcileFinding& f : response.findings()) {
                     findings.push_back(
                         {{"kind", kind(f)},
                          {"wallet_id", f.wallet_id()},
                          {"vendor", f.vendor()},
                          {"tx_hash", f.tx_hash()},
                          {"from", f.from()},
                          {"to", f.to()},
                          {"asset", f.asset()},
                          {"amount", f.amount()},
                          {"time", TimeText(f.time())},
                          {"authorization_id", f.authorization_id()},
                          {"authorization_status", f.authorization_status()},
                          {"description", f.description()}});
                   }
                   std::cout
                       << Json{{"org_id", response.org_id()},
                               {"wallets_checked", response.wallets_checked()},
                               {"vendor_transactions",
                                response.vendor_transactions()},
                               {"unchecked", std::vector<std::string>(
                                                 response.unchecked().begin(),
                                                 response.unchecked().end())},
                               {"findings", findings},
                               {"audited", response.audited()}}
                              .dump()
                       << "\n";
                 } else {
                   std::cout
                       << "org " << response.org_id() << ": "
                       << response.wallets_checked() << " wallet(s) checked, "
                       << response.vendor_transactions()
                       << " vendor transaction(s), " << response.findings_size()
                       << " finding(s) (" << response.audited()
                       << " newly recorded in the audit trail)\n";
                   for (const v1::ReconcileFinding& f : response.findings()) {
                     std::cout << "  " << f.description() << "\n";
                   }
                   for (const std::string& u : response.unchecked()) {
                     std::cout << "  not checked: " << u << "\n";
                   }
                 }
                 return response.findings_size() > 0 ? kFindings : 0;
               });
}

}  // namespace

void AddAuditCommands(CLI::App& app, const Globals& g, Commands& commands) {
  CLI::App* audit = app.add_subcommand("audit", "Audit trail commands");
  audit->require_subcommand(1);

  auto verify = std::make_shared<VerifyFlags>();
  CLI::App* verify_cmd = audit->add_subcommand(
      "verify",
      "Walk an org's hash chain and checkpoint signatures (through the "
      "server, or directly with --postgres)");
  verify_cmd->add_option("--postgres", verify->postgres, "postgresql://...")
      ->envname("WARDEN_POSTGRES_URL");
  verify_cmd->add_option("--org", verify->org);
  commands.Add(verify_cmd, "wardenctl audit verify --org acme",
               [&g, verify] { return Verify(g, *verify); });

  for (const bool is_export : {false, true}) {
    auto flags = std::make_shared<QueryFlags>();
    flags->is_export = is_export;
    CLI::App* cmd =
        is_export
            ? audit->add_subcommand("export",
                                    "Write audit events to a file an auditor "
                                    "can verify offline")
            : audit->add_subcommand("query",
                                    "Print audit events as JSON lines");
    cmd->add_option("--department", *flags->request.mutable_department_id());
    cmd->add_option("--agent", *flags->request.mutable_agent_id());
    cmd->add_option("--wallet", *flags->request.mutable_wallet_id());
    cmd->add_option("--chain", *flags->request.mutable_chain());
    cmd->add_option("--asset", *flags->request.mutable_asset());
    cmd->add_option("--type", *flags->request.mutable_type(),
                    "one event type, e.g. authorization.decided");
    cmd->add_option("--decision", flags->decision,
                    "ALLOW, DENY or PENDING_APPROVAL")
        ->check(CLI::IsMember({"ALLOW", "DENY", "PENDING_APPROVAL"}));
    cmd->add_option("--from", flags->from, "RFC 3339, inclusive");
    cmd->add_option("--to", flags->to, "RFC 3339, exclusive");
    cmd->add_option("--max", flags->max, "stop after this many events")
        ->capture_default_str();
    if (is_export) {
      cmd->add_option("--format", flags->format)
          ->check(CLI::IsMember({"csv", "jsonl"}))
          ->capture_default_str();
      cmd->add_option("--out", flags->out)->required();
    }
    commands.Add(cmd,
                 is_export ? "wardenctl audit export --from "
                             "2026-04-01T00:00:00Z --format csv --out "
                             "april.csv"
                           : "wardenctl audit query --agent procurement_bot "
                             "--decision DENY --max 50",
                 [&g, flags] { return Query(g, *flags); });
  }

  auto file = std::make_shared<std::string>();
  auto anchor = std::make_shared<std::string>();
  CLI::App* verify_file = audit->add_subcommand(
      "verify-file", "Check the hash chain of a JSONL export, offline");
  verify_file->add_option("file", *file)->required()->check(CLI::ExistingFile);
  verify_file
      ->add_option("--anchor", *anchor,
                   "For a file that starts after the trail's first record: "
                   "the hash of the record before its first line, from a "
                   "trusted copy or a signed checkpoint")
      ->check([](const std::string& v) -> std::string {
        return v.size() == 64 && v.find_first_not_of("0123456789abcdef") ==
                                     std::string::npos
                   ? ""
                   : "must be 64 lower-case hex digits (a record's hash)";
      });
  commands.Add(
      verify_file, "wardenctl audit verify-file april.jsonl",
      [&g, file, anchor] { return VerifyExportFile(*file, *anchor, g.json); });

  auto retention = std::make_shared<RetentionFlags>();
  CLI::App* retention_cmd = audit->add_subcommand(
      "retention",
      "Export, then drop, monthly partitions older than the retention");
  retention_cmd
      ->add_option("--postgres", retention->postgres, "an owner role's URL")
      ->required()
      ->envname("WARDEN_POSTGRES_URL");
  retention_cmd->add_option("--export-dir", retention->export_dir)
      ->required()
      ->check(CLI::ExistingDirectory);
  retention_cmd->add_option("--retention-days", retention->days)
      ->capture_default_str()
      ->check(CLI::Range(int64_t{31}, int64_t{36500}));
  retention_cmd->add_flag("--export-only", retention->export_only,
                          "drop nothing");
  commands.Add(retention_cmd,
               "wardenctl audit retention --export-dir /backup/audit "
               "--retention-days 2557",
               [retention] { return Retention(*retention); });

  auto summary = std::make_shared<SummaryFlags>();
  CLI::App* summary_cmd = audit->add_subcommand(
      "summary", "Settled and held spend, grouped, over a period");
  summary_cmd
      ->add_option("--group-by", summary->group,
                   "department, agent, wallet, chain or asset")
      ->required()
      ->check(
          CLI::IsMember({"department", "agent", "wallet", "chain", "asset"}));
  summary_cmd->add_option("--from", summary->from, "RFC 3339, inclusive");
  summary_cmd->add_option("--to", summary->to, "RFC 3339, exclusive");
  summary_cmd
      ->add_option("--by", summary->by,
                   "day, week, month or quarter in the org's time zone: "
                   "spend over time (needs --from)")
      ->check(CLI::IsMember({"day", "week", "month", "quarter"}));
  commands.Add(summary_cmd,
               "wardenctl audit summary --group-by department --from "
               "2026-04-01T00:00:00Z --to 2026-05-01T00:00:00Z",
               [&g, summary] { return Summary(g, *summary); });

  auto reconcile = std::make_shared<ReconcileFlags>();
  CLI::App* reconcile_cmd = app.add_subcommand(
      "reconcile",
      "Compare each wallet's vendor transactions with Warden's "
      "authorizations: report shadow spend and missing settlements");
  reconcile_cmd->add_option(
      "--org", reconcile->org,
      "Org id (optional while the server serves one org)");
  reconcile_cmd
      ->add_option("--since", reconcile->since,
                   "RFC 3339 time, or how long ago (e.g. 24h, 90m)")
      ->required();
  commands.Add(reconcile_cmd, "wardenctl reconcile --since 24h --json",
               [&g, reconcile] { return Reconcile(g, *reconcile); });

  CLI::App* report =
      app.add_subcommand("report", "Reports on an org")->require_subcommand(1);
  CLI::App* security = report->add_subcommand(
      "security",
      "A baseline check of the org's set-up; exits 3 when something needs "
      "attention");
  commands.Add(security, "wardenctl report security --json",
               [&g] { return SecurityReport(g); });
}

}  // namespace warden::wardenctl
