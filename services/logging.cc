#include "services/logging.h"

#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace warden {
namespace {

struct CallFields {
  bool set = false;
  std::string request_id, principal, rpc;
};
thread_local CallFields call_fields;

// `s` as a JSON string, quotes included; invalid UTF-8 is replaced.
std::string Quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false,
                                nlohmann::json::error_handler_t::replace);
}

void Append(const std::string& s, spdlog::memory_buf_t& dest) {
  dest.append(s.data(), s.data() + s.size());
}

// %* : the message as a JSON string.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    Append(Quoted(std::string(msg.payload.data(), msg.payload.size())), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

// %& : the call's fields, when the line is logged while serving one.
class JsonCallFields final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (!call_fields.set) return;
    Append(",\"request_id\":" + Quoted(call_fields.request_id) +
               ",\"principal\":" + Quoted(call_fields.principal) +
               ",\"rpc\":" + Quoted(call_fields.rpc),
           dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonCallFields>();
  }
};

}  // namespace

absl::Status ValidateLogging(const std::string& format,
                             const std::string& level) {
  if (format != "json" && format != "text") {
    return absl::InvalidArgumentError(
        absl::StrCat("log.format: \"", format, "\" must be json or text"));
  }
  if (level != "debug" && level != "info" && level != "warn" &&
      level != "error") {
    return absl::InvalidArgumentError(absl::StrCat(
        "log.level: \"", level, "\" must be debug, info, warn or error"));
  }
  return absl::OkStatus();
}

absl::Status ConfigureLogging(const std::string& format,
                              const std::string& level) {
  if (absl::Status st = ValidateLogging(format, level); !st.ok()) return st;
  spdlog::set_default_logger(spdlog::stderr_color_mt("wardend"));
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
        spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessage>('*').add_flag<JsonCallFields>('&');
    formatter->set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","message":%*%&})");
    spdlog::set_formatter(std::move(formatter));
  }
  return absl::OkStatus();
}

std::string RequestIdOf(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("x-request-id");
  if (it != metadata.end() && !it->second.empty() && it->second.size() <= 128) {
    return std::string(it->second.data(), it->second.size());
  }
  static std::atomic<uint64_t> next{0};
  static const uint64_t boot = absl::ToUnixNanos(absl::Now());
  return absl::StrCat(absl::Hex(boot, absl::kZeroPad16), "-", ++next);
}

LogContext::LogContext(std::string request_id, std::string principal,
                       std::string rpc) {
  call_fields = {true, std::move(request_id), std::move(principal),
                 std::move(rpc)};
}

LogContext::~LogContext() { call_fields = {}; }

void LogContext::set_principal(std::string principal) {
  call_fields.principal = std::move(principal);
}

}  // namespace warden
