#include "adapters/metamask/mm_cli.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace warden::metamask {
namespace {

// Vendor sentences go into Warden's errors and audit trail: keep them short.
constexpr size_t kMessageMaxChars = 300;

std::string Shorten(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::string out(text.substr(0, kMessageMaxChars));
  if (text.size() > kMessageMaxChars) out += "...";
  return out;
}

std::string StringField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// The last top-level JSON object with an "ok" key: an NDJSON line, or a
// pretty-printed document that may follow log lines. Tries each line that
// opens an object, from the last one back, parsing to the end.
std::optional<nlohmann::json> LastEnvelope(const std::string& output) {
  std::vector<absl::string_view> lines = absl::StrSplit(output, '\n');
  for (size_t i = lines.size(); i-- > 0;) {
    if (!absl::StartsWith(absl::StripLeadingAsciiWhitespace(lines[i]), "{")) {
      continue;
    }
    const size_t at = static_cast<size_t>(lines[i].data() - output.data());
    nlohmann::json parsed =
        nlohmann::json::parse(output.substr(at), nullptr, false);
    if (parsed.is_object() && parsed.contains("ok")) return parsed;
  }
  return std::nullopt;
}

void CollectNotices(const std::string& output,
                    std::vector<nlohmann::json>* notices) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::StartsWith(line, "{") || !absl::StrContains(line, "_notice")) {
      continue;
    }
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.contains("_notice")) {
      notices->push_back(parsed["_notice"]);
    }
  }
}

}  // namespace

std::string MmReply::Summary() const {
  switch (kind) {
    case Kind::kOk:
      return "ok";
    case Kind::kError:
      return message.empty() ? code : absl::StrCat(code, ": ", message);
    case Kind::kNoAnswer:
      if (term_signal != 0) {
        return absl::StrCat("no JSON answer (killed by signal ", term_signal,
                            ")");
      }
      return absl::StrCat("no JSON answer (exit code ", exit_code, ")");
  }
  return "";
}

bool MmReply::HasNotice(const std::string& kind_or_status) const {
  for (const nlohmann::json& n : notices) {
    if (absl::EqualsIgnoreCase(StringField(n, "kind"), kind_or_status) ||
        absl::EqualsIgnoreCase(StringField(n, "status"), kind_or_status)) {
      return true;
    }
  }
  return false;
}

MmReply ParseMmOutput(const ProcessResult& result) {
  MmReply reply;
  reply.exit_code = result.exit_code;
  reply.term_signal = result.term_signal;
  CollectNotices(result.out, &reply.notices);
  CollectNotices(result.err, &reply.notices);
  std::optional<nlohmann::json> envelope = LastEnvelope(result.out);
  if (!envelope.has_value()) envelope = LastEnvelope(result.err);
  if (!envelope.has_value()) return reply;
  const nlohmann::json& ok = (*envelope)["ok"];
  if (ok.is_boolean() && ok.get<bool>()) {
    // A success envelope from a process that then died is not a success.
    if (result.term_signal != 0) return reply;
    reply.kind = MmReply::Kind::kOk;
    reply.data = envelope->value("data", nlohmann::json::object());
    return reply;
  }
  if (!ok.is_boolean()) return reply;
  // {"ok": false, "error": {"code", "message"}}; a flat {"ok": false,
  // "code", "message"} is read too.
  const nlohmann::json& error =
      envelope->contains("error") && (*envelope)["error"].is_object()
          ? (*envelope)["error"]
          : *envelope;
  reply.code = StringField(error, "code");
  if (reply.code.empty()) return reply;
  reply.kind = MmReply::Kind::kError;
  reply.message = Shorten(StringField(error, "message"));
  reply.failure_reason = Shorten(StringField(error, "failure_reason"));
  if (reply.failure_reason.empty()) {
    reply.failure_reason = Shorten(StringField(error, "failureReason"));
  }
  return reply;
}

MmCli::MmCli(std::string path, std::string home, absl::Duration timeout)
    : path_(std::move(path)), home_(std::move(home)), timeout_(timeout) {}

absl::StatusOr<MmReply> MmCli::Run(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {path_};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--format");
  argv.push_back("json");
  ProcessOptions options;
  options.timeout = timeout_;
  if (!home_.empty()) options.env["HOME"] = home_;
  // Headless: no colours, no prompts.
  options.env.emplace("NO_COLOR", "1");
  absl::StatusOr<ProcessResult> ran = RunProcess(argv, options);
  if (!ran.ok()) return ran.status();
  return ParseMmOutput(*ran);
}

absl::StatusOr<MmVersion> ParseMmVersion(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  for (absl::string_view package :
       {"@metamask/agent-wallet/", "@metamask/agentic-cli/"}) {
    const size_t at = line.find(package);
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = line.substr(at + package.size());
    rest = rest.substr(0, rest.find(' '));
    std::vector<absl::string_view> parts = absl::StrSplit(rest, '.');
    MmVersion v;
    if (parts.size() >= 3 && absl::SimpleAtoi(parts[0], &v.major) &&
        absl::SimpleAtoi(parts[1], &v.minor) &&
        // A pre-release suffix ("0-beta.1") does not change the patch.
        absl::SimpleAtoi(parts[2].substr(0, parts[2].find('-')), &v.patch)) {
      v.text = std::string(rest);
      return v;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not an mm version line: \"",
                   absl::CHexEscape(line.substr(0, 80)), "\""));
}

absl::StatusOr<MmVersion> MmCli::Version() const {
  ProcessOptions options;
  options.timeout = timeout_;
  if (!home_.empty()) options.env["HOME"] = home_;
  options.env.emplace("NO_COLOR", "1");
  absl::StatusOr<ProcessResult> ran = RunProcess({path_, "--version"}, options);
  if (!ran.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "mm --version (", path_, ") did not run: ", ran.status().message()));
  }
  absl::StatusOr<MmVersion> v = ParseMmVersion(ran->out);
  if (!v.ok() || ran->exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("mm --version (", path_, ") exited ", ran->exit_code,
                     v.ok() ? "" : absl::StrCat(": ", v.status().message())));
  }
  return v;
}

}  // namespace warden::metamask
