// fake_mm: stands in for MetaMask's `mm` CLI in tests. Like mm it keeps its
// session in $HOME/.metamask/session.json; it sends its arguments and that
// session token to a FakeMetaMask server (URL from $FAKE_MM_URL, else
// $HOME/.metamask/fake_mm_url), prints what the server says mm would print
// and exits as mm would (or dies by SIGKILL when the server injects a
// crash).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace {

using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

int Fail(const std::string& code, const std::string& message) {
  Write(stderr,
        json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}
                .dump() +
            "\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* home_env = std::getenv("HOME");
  const std::string home = home_env != nullptr ? home_env : "";
  const json session =
      json::parse(ReadFile(home + "/.metamask/session.json"), nullptr, false);
  const std::string token =
      session.is_object() ? session.value("cliToken", "") : "";
  const char* url_env = std::getenv("FAKE_MM_URL");
  std::string url =
      url_env != nullptr ? url_env : ReadFile(home + "/.metamask/fake_mm_url");
  absl::StripAsciiWhitespace(&url);
  if (url.empty()) {
    return Fail("NETWORK_UNREACHABLE",
                "fake_mm: set FAKE_MM_URL or $HOME/.metamask/fake_mm_url");
  }
  json request{{"argv", json::array()}, {"token", token}};
  for (int i = 1; i < argc; ++i) request["argv"].push_back(argv[i]);

  httplib::Client client(url);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(660, 0);  // Longer than mm's longest wait.
  httplib::Result res =
      client.Post("/v1/cli", request.dump(), "application/json");
  if (!res || res->status != 200) {
    return Fail("NETWORK_UNREACHABLE",
                "fake_mm: the fake wallet service "
                "did not answer");
  }
  const json answer = json::parse(res->body, nullptr, false);
  if (!answer.is_object()) {
    return Fail("NETWORK_UNREACHABLE", "fake_mm: unreadable answer");
  }
  if (answer.value("crash", false)) ::raise(SIGKILL);
  Write(stdout, answer.value("stdout", ""));
  Write(stderr, answer.value("stderr", ""));
  return answer.value("exit_code", 1);
}
