#include "services/http_gateway.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/access.h"
#include "services/console_assets.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/audit.grpc.pb.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden {
namespace {

namespace v1 = warden::v1;

// The largest request body: the largest request the methods served take is
// a few kilobytes.
constexpr size_t kMaxBody = 1 << 20;
constexpr auto kCallDeadline = std::chrono::seconds(30);
constexpr size_t kMaxTokenHeader = 4096;
constexpr size_t kWorkers = 64;

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::UNIMPLEMENTED:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

void Answer(httplib::Response& res, grpc::StatusCode code,
            const std::string& message) {
  res.status = HttpStatusOf(code);
  if (code == grpc::StatusCode::UNAUTHENTICATED) {
    res.set_header("WWW-Authenticate", "Bearer");
  }
  res.set_content(
      nlohmann::json{{"code", absl::AsciiStrToLower(absl::StatusCodeToString(
                                  static_cast<absl::StatusCode>(code)))},
                     {"message", message}}
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      "application/json");
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  // Messages of the API always print.
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

// One served method: parses the body into its request, calls it, writes
// the answer.
using Handler = std::function<void(const httplib::Request&, httplib::Response&,
                                   grpc::ClientContext*)>;

template <typename Request>
bool Parse(const httplib::Request& req, httplib::Response& res,
           Request* request) {
  const std::string body = req.body.empty() ? "{}" : req.body;
  const auto st = google::protobuf::util::JsonStringToMessage(body, request);
  if (!st.ok()) {
    Answer(res, grpc::StatusCode::INVALID_ARGUMENT,
           absl::StrCat("request body: ", std::string(st.message())));
    return false;
  }
  return true;
}

template <typename Stub, typename Request, typename Response>
Handler Unary(std::shared_ptr<Stub> stub,
              grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&,
                                        Response*)) {
  return [stub, rpc](const httplib::Request& req, httplib::Response& res,
                     grpc::ClientContext* context) {
    Request request;
    if (!Parse(req, res, &request)) return;
    Response response;
    const grpc::Status st = ((*stub).*rpc)(context, request, &response);
    if (!st.ok()) return Answer(res, st.error_code(), st.error_message());
    res.set_content(ToJson(response), "application/json");
  };
}

// A server-streaming method (bounded by its request's page size):
// {"records": [...]}.
template <typename Stub, typename Request, typename Response>
Handler Streaming(std::shared_ptr<Stub> stub,
                  std::unique_ptr<grpc::ClientReader<Response>> (Stub::*rpc)(
                      grpc::ClientContext*, const Request&)) {
  return [stub, rpc](const httplib::Request& req, httplib::Response& res,
                     grpc::ClientContext* context) {
    Request request;
    if (!Parse(req, res, &request)) return;
    std::unique_ptr<grpc::ClientReader<Response>> reader =
        ((*stub).*rpc)(context, request);
    std::string out = "{\"records\":[";
    Response r;
    for (bool first = true; reader->Read(&r); first = false) {
      if (!first) out += ',';
      out += ToJson(r);
    }
    const grpc::Status st = reader->Finish();
    if (!st.ok()) return Answer(res, st.error_code(), st.error_message());
    res.set_content(out + "]}", "application/json");
  };
}

std::map<std::string, Handler> Handlers(
    const std::shared_ptr<grpc::Channel>& channel) {
  auto authz = std::shared_ptr<v1::AuthorizationService::Stub>(
      v1::AuthorizationService::NewStub(channel));
  auto admin = std::shared_ptr<v1::AdminService::Stub>(
      v1::AdminService::NewStub(channel));
  auto audit = std::shared_ptr<v1::AuditService::Stub>(
      v1::AuditService::NewStub(channel));
  using A = v1::AuthorizationService::Stub;
  using M = v1::AdminService::Stub;
  using U = v1::AuditService::Stub;
  return {
      {"AuthorizationService/BudgetStatus", Unary(authz, &A::BudgetStatus)},
      {"AuthorizationService/WhoAmI", Unary(authz, &A::WhoAmI)},
      {"AuthorizationService/GetAuthorization",
       Unary(authz, &A::GetAuthorization)},
      {"AdminService/ListPendingApprovals",
       Unary(admin, &M::ListPendingApprovals)},
      {"AdminService/Approve", Unary(admin, &M::Approve)},
      {"AdminService/Reject", Unary(admin, &M::Reject)},
      {"AdminService/ListFrozenScopes", Unary(admin, &M::ListFrozenScopes)},
      {"AdminService/FreezeScope", Unary(admin, &M::FreezeScope)},
      {"AdminService/UnfreezeScope", Unary(admin, &M::UnfreezeScope)},
      {"AdminService/ListPolicyChanges", Unary(admin, &M::ListPolicyChanges)},
      {"AuditService/QueryEvents", Streaming(audit, &U::QueryEvents)},
      {"AuditService/SpendSummary", Unary(audit, &U::SpendSummary)},
      {"AuditService/VerifyChain", Unary(audit, &U::VerifyChain)},
      {"AuditService/SecurityReport", Unary(audit, &U::SecurityReport)},
  };
}

// A console file with headers that keep it to itself: scripts, styles and
// calls from this origin only, no framing, no guessing of types.
void ServeConsole(const std::string& name, httplib::Response& res) {
  const std::string file = name.empty() ? "index.html" : name;
  for (const ConsoleAsset& a : ConsoleAssets()) {
    if (a.name != file) continue;
    res.set_content(a.body.data(), a.body.size(),
                    std::string(a.content_type).c_str());
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'self'; style-src 'self'; "
                   "connect-src 'self'; img-src 'self'; form-action 'none'; "
                   "base-uri 'none'; frame-ancestors 'none'");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");
    return;
  }
  res.status = 404;
  res.set_content("no such console file\n", "text/plain");
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpListener>> StartHttpGateway(
    const HttpGatewayOptions& options, std::shared_ptr<grpc::Channel> channel) {
  std::unique_ptr<httplib::Server> server =
      options.tls_cert_path.empty()
          ? std::make_unique<httplib::Server>()
          : std::make_unique<httplib::SSLServer>(options.tls_cert_path.c_str(),
                                                 options.tls_key_path.c_str());
  server->set_payload_max_length(kMaxBody);
  // No response is to be read as anything but its declared type.
  server->set_default_headers({{"X-Content-Type-Options", "nosniff"}});
  server->set_read_timeout(5, 0);
  server->set_write_timeout(30, 0);
  server->set_keep_alive_timeout(5);
  // A slow client holds a worker while it trickles its request in: many
  // workers (threads that mostly wait) make that expensive to do to all.
  server->new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  // Before any body is read: what is refused whatever the method.
  server->set_pre_routing_handler([](const httplib::Request& req,
                                     httplib::Response& res) {
    using Handled = httplib::Server::HandlerResponse;
    // `status` overrides the code's HTTP status.
    auto refuse = [&](grpc::StatusCode code, const std::string& message,
                      int status = 0) {
      Answer(res, code, message);
      if (status != 0) res.status = status;
      res.set_header("Connection", "close");
      return Handled::Handled;
    };
    // Compressed bodies are refused: a small one can inflate to gigabytes
    // before any check (the body limit counts what is sent).
    if (req.has_header("Content-Encoding") &&
        !absl::EqualsIgnoreCase(req.get_header_value("Content-Encoding"),
                                "identity")) {
      return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                    "Content-Encoding: compressed bodies are not accepted",
                    415);
    }
    // The body limit counts a Content-Length; this httplib reads a chunked
    // body whole, however long, before any check: refused unread.
    if (req.has_header("Transfer-Encoding")) {
      return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                    "Transfer-Encoding: send the body with a Content-Length, "
                    "not chunked",
                    411);
    }
    if (req.get_header_value_count("Authorization") > 1) {
      return refuse(grpc::StatusCode::UNAUTHENTICATED,
                    "Authorization: give one header, not several");
    }
    // gRPC metadata takes printable ASCII only.
    const std::string token = req.get_header_value("Authorization");
    if (token.size() > kMaxTokenHeader ||
        !std::all_of(token.begin(), token.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f; })) {
      return refuse(grpc::StatusCode::UNAUTHENTICATED,
                    "Authorization: not a bearer token (printable ASCII, at "
                    "most 4 KiB)");
    }
    const std::string type = req.get_header_value("Content-Type");
    const std::string media = std::string(absl::StripAsciiWhitespace(
        absl::string_view(type).substr(0, type.find(';'))));
    if (req.method == "POST" && !type.empty() &&
        !absl::EqualsIgnoreCase(media, "application/json")) {
      return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                    "Content-Type: must be application/json");
    }
    return Handled::Unhandled;
  });
  auto handlers =
      std::make_shared<std::map<std::string, Handler>>(Handlers(channel));
  server->Post(
      R"(/warden\.v1\.([A-Za-z]+/[A-Za-z]+))",
      [handlers, key = options.gateway_key](const httplib::Request& req,
                                            httplib::Response& res) {
        auto it = handlers->find(req.matches[1].str());
        if (it == handlers->end()) {
          return Answer(res, grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no method ", req.path,
                                     " on the HTTP API (docs/api.md)"));
        }
        if (!req.body.empty() && !req.has_header("Content-Type")) {
          return Answer(res, grpc::StatusCode::INVALID_ARGUMENT,
                        "Content-Type: must be application/json");
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
        if (req.has_header("Authorization")) {
          context.AddMetadata("authorization",
                              req.get_header_value("Authorization"));
        }
        context.AddMetadata(
            kHttpPeerMetadata,
            absl::StrCat(req.remote_addr, ":", req.remote_port));
        context.AddMetadata(kGatewayKeyMetadata, key);
        it->second(req, res, &context);
      });
  // The web console: its files, built in, under /console/.
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/console/");
  });
  server->Get("/console", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/console/");
  });
  server->Get(R"(/console/([A-Za-z0-9._-]*))",
              [](const httplib::Request& req, httplib::Response& res) {
                ServeConsole(req.matches[1].str(), res);
              });
  // What httplib refuses itself, answered in the API's error form too.
  server->set_error_handler([](const httplib::Request& req,
                               httplib::Response& res) {
    if (!res.body.empty()) return;
    const int status = res.status;
    switch (status) {
      case 404:
        Answer(res, grpc::StatusCode::NOT_FOUND,
               absl::StrCat("no method ", req.path,
                            " on the HTTP API (docs/api.md)"));
        break;
      case 413:
        Answer(res, grpc::StatusCode::INVALID_ARGUMENT,
               "request body: larger than 1 MiB");
        break;
      case 414:
        Answer(res, grpc::StatusCode::INVALID_ARGUMENT,
               "request line: too long");
        break;
      case 400:
        Answer(res, grpc::StatusCode::INVALID_ARGUMENT,
               "request: malformed HTTP (a POST body needs a "
               "Content-Length)");
        break;
      default:
        Answer(res, grpc::StatusCode::UNKNOWN, absl::StrCat("HTTP ", status));
    }
    res.status = status;
  });
  return HttpListener::Start("http.listen", options.listen, std::move(server));
}

}  // namespace warden
