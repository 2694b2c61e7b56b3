#include "services/request_check.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/unknown_field_set.h"
#include "governance/x402.h"

namespace warden {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr size_t kIdBytes = 64;

// Free text keeps tabs and newlines; YAML also carriage returns.
bool AllowedControl(absl::string_view field, char c) {
  if (field == "yaml") return c == '\t' || c == '\n' || c == '\r';
  if (field == "memo" || field == "comment" || field == "reason") {
    return c == '\t' || c == '\n';
  }
  return false;
}

std::string Path(const std::string& prefix, const FieldDescriptor* f) {
  return prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
}

// Finds the string field of `descriptor` whose bytes in `wire` are not
// UTF-8, descending into nested messages; empty if none.
std::string FindInvalidUtf8(const google::protobuf::Descriptor* descriptor,
                            const std::string& wire, const std::string& prefix,
                            int depth) {
  google::protobuf::UnknownFieldSet fields;
  if (depth > 8 || !fields.ParseFromString(wire)) return "";
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& u = fields.field(i);
    if (u.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    const FieldDescriptor* f = descriptor->FindFieldByNumber(u.number());
    if (f == nullptr) continue;
    if (f->type() == FieldDescriptor::TYPE_STRING &&
        !google::protobuf::internal::IsStructurallyValidUTF8(
            u.length_delimited())) {
      return Path(prefix, f);
    }
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      std::string inner = FindInvalidUtf8(
          f->message_type(), u.length_delimited(), Path(prefix, f), depth + 1);
      if (!inner.empty()) return inner;
    }
  }
  return "";
}

absl::Status CheckString(const std::string& path, absl::string_view field,
                         const std::string& value) {
  const size_t max = MaxFieldBytes(field);
  if (value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": is ", value.size(), " bytes; the limit is ", max));
  }
  for (char c : value) {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 || u == 0x7f) && !AllowedControl(field, c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": holds a control byte (0x",
                       absl::Hex(u, absl::kZeroPad2), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckMessage(const Message& m, const std::string& prefix,
                          int depth) {
  if (depth > 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ": nested too deeply"));
  }
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    const std::string path = Path(prefix, f);
    if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (n > kMaxRepeated) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": holds ", n, " values; the limit is ", kMaxRepeated));
      }
      for (int i = 0; i < n; ++i) {
        const std::string item = absl::StrCat(path, "[", i, "]");
        if (f->type() == FieldDescriptor::TYPE_STRING) {
          if (absl::Status st =
                  CheckString(item, f->name(), r->GetRepeatedString(m, f, i));
              !st.ok()) {
            return st;
          }
        } else if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
          if (absl::Status st =
                  CheckMessage(r->GetRepeatedMessage(m, f, i), item, depth + 1);
              !st.ok()) {
            return st;
          }
        }
      }
    } else if (f->type() == FieldDescriptor::TYPE_STRING) {
      if (absl::Status st = CheckString(path, f->name(), r->GetString(m, f));
          !st.ok()) {
        return st;
      }
    } else if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (absl::Status st = CheckMessage(r->GetMessage(m, f), path, depth + 1);
          !st.ok()) {
        return st;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

size_t MaxFieldBytes(absl::string_view field) {
  if (field == "yaml") return size_t{1} << 20;
  if (field == "data" || field == "calldata")
    return size_t{128} << 10;  // 64 KiB of calldata, hex.
  if (field == "memo" || field == "comment" || field == "reason") return 1024;
  if (field == "tx_hash") return 256;
  if (field == "resource") return x402::kMaxResourceLength;
  if (field == "idempotency_key" || field == "destination" ||
      field == "principal" || field == "approver" || field == "scope" ||
      field == "traceparent") {
    return 128;
  }
  if (field == "amount") return 80;  // 2^128-1 has 39 digits.
  if (absl::EndsWith(field, "_id") || field == "asset" || field == "chain" ||
      field == "vendor" || field == "roles") {
    return kIdBytes;
  }
  return 256;
}

absl::Status ParseRequest(const std::string& bytes, Message* message) {
  if (message->ParseFromString(bytes)) return absl::OkStatus();
  const std::string field =
      FindInvalidUtf8(message->GetDescriptor(), bytes, "", 0);
  if (!field.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": is not valid UTF-8"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "request: not a serialized ", message->GetDescriptor()->full_name()));
}

absl::Status CheckRequestBounds(const Message& request) {
  return CheckMessage(request, "", 0);
}

}  // namespace warden
