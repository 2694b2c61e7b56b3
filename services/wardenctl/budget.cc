// wardenctl budget status.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden::wardenctl {
namespace {

struct StatusFlags {
  // --org takes the org id optionally: `--org` alone is the server's org.
  std::vector<std::string> org;
  std::string department, agent, wallet;
  bool below = false;
};

bool Usd(const v1::LimitStatus& l) { return !l.limit_usd().empty(); }

Json LimitJson(const v1::LimitStatus& l) {
  Json j = {{"scope", l.scope()},
            {"name", l.name()},
            {"window", l.window()},
            {"on_violation", l.on_violation()},
            {"utilization", l.utilization()},
            {"window_start", TimeText(l.window_start())}};
  if (l.has_window_end()) j["window_end"] = TimeText(l.window_end());
  j["rolls_off_at"] =
      l.has_rolls_off_at() ? Json(TimeText(l.rolls_off_at())) : Json();
  if (Usd(l)) {
    j.update({{"limit_usd", l.limit_usd()},
              {"used_usd", l.used_usd()},
              {"settled_usd", l.settled_usd()},
              {"held_usd", l.held_usd()},
              {"pending_usd", l.pending_usd()},
              {"remaining_usd", l.remaining_usd()}});
  } else {
    j.update({{"limit_count", l.limit_count()},
              {"used_count", l.used_count()},
              {"settled_count", l.settled_count()},
              {"held_count", l.held_count()},
              {"pending_count", l.pending_count()},
              {"remaining_count", l.remaining_count()}});
  }
  return j;
}

std::string Figure(const v1::LimitStatus& l, const std::string& usd,
                   int64_t count) {
  return Usd(l) ? absl::StrCat("$", usd) : absl::StrCat(count);
}

int Status(const Globals& g, const StatusFlags& flags) {
  v1::BudgetStatusRequest request;
  int chosen = 0;
  request.set_org_id(g.org);
  if (!flags.org.empty()) {
    // `--org` alone: the org (the server's, or the global --org).
    ++chosen;
    if (!flags.org[0].empty()) {
      request.set_org_id(flags.org[0]);
      request.set_scope(absl::StrCat("org/", flags.org[0]));
    }
  }
  for (const auto& [kind, id] :
       {std::pair{"department", &flags.department},
        std::pair{"agent", &flags.agent}, std::pair{"wallet", &flags.wallet}}) {
    if (id->empty()) continue;
    ++chosen;
    request.set_scope(absl::StrCat(kind, "/", *id));
  }
  if (chosen != 1) {
    return Problem(
        "budget status: give exactly one of --org, --department, --agent or "
        "--wallet",
        kUsage);
  }
  request.set_include_below(flags.below);
  return Unary(
      g, &v1::AuthorizationService::Stub::BudgetStatus, request,
      [&g](const v1::BudgetStatusResponse& r) {
        if (g.json) {
          Json limits = Json::array();
          for (const v1::LimitStatus& l : r.limits()) {
            limits.push_back(LimitJson(l));
          }
          std::cout << Json{{"org_id", r.org_id()},
                            {"as_of", TimeText(r.as_of())},
                            {"limits", limits}}
                           .dump()
                    << "\n";
          return 0;
        }
        std::cout << "org " << r.org_id() << ", as of " << TimeText(r.as_of())
                  << "\n";
        if (r.limits().empty()) {
          std::cout << "no limits on this scope\n";
          return 0;
        }
        std::cout << absl::StrFormat(
            "%-24s %-14s %-16s %16s %16s %16s %16s %16s %6s  %s\n", "SCOPE",
            "LIMIT", "WINDOW", "CAP", "SETTLED", "HELD", "PENDING", "REMAINING",
            "USED", "ROLLS OFF");
        for (const v1::LimitStatus& l : r.limits()) {
          std::cout << absl::StrFormat(
              "%-24s %-14s %-16s %16s %16s %16s %16s %16s %5.1f%%  %s\n",
              l.scope(), l.name(), l.window(),
              Figure(l, l.limit_usd(), l.limit_count()),
              Figure(l, l.settled_usd(), l.settled_count()),
              Figure(l, l.held_usd(), l.held_count()),
              Figure(l, l.pending_usd(), l.pending_count()),
              Figure(l, l.remaining_usd(), l.remaining_count()),
              l.utilization() * 100,
              l.has_rolls_off_at() ? TimeText(l.rolls_off_at()) : "-");
        }
        return 0;
      });
}

}  // namespace

void AddBudgetCommands(CLI::App& app, const Globals& g, Commands& commands) {
  CLI::App* budget = app.add_subcommand("budget", "Budgets");
  budget->require_subcommand(1);
  auto flags = std::make_shared<StatusFlags>();
  CLI::App* status = budget->add_subcommand(
      "status",
      "Each limit's settled, held and pending spend, what is left, and when "
      "the window rolls off");
  status
      ->add_option("--org", flags->org,
                   "The org's limits (its id optional while the server serves "
                   "one org)")
      ->expected(0, 1);
  status->add_option("--department", flags->department,
                     "A department's limits (its usage includes the "
                     "departments under it)");
  status->add_option("--agent", flags->agent,
                     "An agent's limits, across all its wallets");
  status->add_option("--wallet", flags->wallet, "A wallet's limits");
  status->add_flag("--below", flags->below,
                   "Also every scope under it: departments, agents, wallets "
                   "(and an org's chain and asset limits)");
  commands.Add(status, "wardenctl budget status --department research --json",
               [&g, flags] { return Status(g, *flags); });
}

}  // namespace warden::wardenctl
