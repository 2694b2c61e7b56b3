#ifndef WARDEN_ADAPTERS_METAMASK_MM_CLI_H_
#define WARDEN_ADAPTERS_METAMASK_MM_CLI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/metamask/subprocess.h"
#include "nlohmann/json.hpp"

namespace warden::metamask {

// What one run of the MetaMask Agent Wallet CLI came to. Headless, `mm`
// prints zero or more {"_notice": {...}} lines (an AWAITING_MFA pause, for
// example) and then one {"ok": true, "data": ...} or {"ok": false,
// "error": {"code", "message", "hint"}} envelope, on stdout or, for an
// error, on stderr
// (https://docs.metamask.io/agent-wallet/reference/error-codes/).
struct MmReply {
  enum class Kind {
    kOk,        // An {"ok": true} envelope.
    kError,     // An {"ok": false} envelope with its code.
    kNoAnswer,  // It ran, but no envelope came (a crash, a signal, garbage).
  };
  Kind kind = Kind::kNoAnswer;
  nlohmann::json data;  // kOk: the envelope's "data".
  std::string code;     // kError: "AUTH_FAILED", "NOT_INITIALIZED", ...
  std::string message;  // kError: the CLI's sentence (shortened).
  // kError: why a transaction failed, for TX_REVERTED (its failure_reason;
  // shortened), else empty.
  std::string failure_reason;
  std::vector<nlohmann::json> notices;  // The "_notice" objects, in order.
  int exit_code = -1;
  int term_signal = 0;

  // One line for error messages: "AUTH_FAILED: Authentication failed" or
  // "no JSON answer (killed by signal 9)". Never the raw output.
  std::string Summary() const;
  // Whether a notice of this kind (or naming this status) was printed.
  bool HasNotice(const std::string& kind) const;
};

// Reads what `mm` printed. Exposed for tests.
MmReply ParseMmOutput(const ProcessResult& result);

// The CLI's version, from its `mm --version` line
// ("@metamask/agent-wallet/6.1.5 linux-x64 node-v22.18.0"; before v6 the
// package was @metamask/agentic-cli).
struct MmVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string text;  // "6.1.5"
};
// INVALID_ARGUMENT when `line` names neither package with a version.
absl::StatusOr<MmVersion> ParseMmVersion(absl::string_view line);

// Runs the `mm` binary. Thread-safe.
class MmCli {
 public:
  // `home` becomes HOME for mm (its session and wallet files live in
  // $HOME/.metamask); empty inherits ours.
  MmCli(std::string path, std::string home, absl::Duration timeout);

  // `mm <args> --format json`. Errors are RunProcess's: the CLI could not
  // start (NeverStarted), or it ran past the timeout (DEADLINE_EXCEEDED) or
  // wrote too much (RESOURCE_EXHAUSTED) and was killed.
  absl::StatusOr<MmReply> Run(const std::vector<std::string>& args) const;
  // `mm --version`: FAILED_PRECONDITION when it does not run or answer.
  absl::StatusOr<MmVersion> Version() const;

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const std::string home_;
  const absl::Duration timeout_;
};

}  // namespace warden::metamask

#endif  // WARDEN_ADAPTERS_METAMASK_MM_CLI_H_
