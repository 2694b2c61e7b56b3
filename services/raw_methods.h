#ifndef WARDEN_SERVICES_RAW_METHODS_H_
#define WARDEN_SERVICES_RAW_METHODS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "services/proto_convert.h"
#include "services/request_check.h"

// gRPC answers a request its protobuf parser refuses (a proto3 string that
// is not UTF-8) with a bare UNIMPLEMENTED, before any of our code runs.
// Serving each method from raw bytes instead lets the services parse the
// request themselves (services/request_check.h): a bad request is then
// INVALID_ARGUMENT naming the field, and every request is checked against
// its bounds before authentication. The typed method implementations stay
// as they are.
namespace warden {

// Encodes a raw unary call's typed response into the call's bytes just
// before it finishes; RunUnary (services/call.h) takes it from here.
class RawResponse {
 public:
  virtual ~RawResponse() = default;
  // Serializes the response if `ok`, then deletes this call's state.
  virtual void EncodeAndRelease(bool ok) = 0;

  // The raw call whose typed method runs now on this thread, if any.
  static RawResponse*& Current() {
    thread_local RawResponse* current = nullptr;
    return current;
  }
};

namespace internal_raw {

inline grpc::Status ToGrpc(const absl::Status& st) { return ToGrpcStatus(st); }

// Parses and checks `in`; non-OK says why, naming the field.
template <typename Request>
absl::Status Decode(const grpc::ByteBuffer& in, Request* request) {
  std::string bytes;
  if (grpc::Slice slice; in.TrySingleSlice(&slice).ok()) {
    bytes.assign(reinterpret_cast<const char*>(slice.begin()), slice.size());
  } else {
    std::vector<grpc::Slice> slices;
    (void)in.Dump(&slices);
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  absl::Status st = ParseRequest(bytes, request);
  if (st.ok()) st = CheckRequestBounds(*request);
  return st;
}

template <typename Request, typename Response>
class UnaryCall final : public RawResponse {
 public:
  explicit UnaryCall(grpc::ByteBuffer* out) : out_(out) {}
  void EncodeAndRelease(bool ok) override {
    if (ok) {
      bool own = false;
      (void)grpc::SerializationTraits<Response>::Serialize(response, out_,
                                                           &own);
    }
    delete this;
  }
  Request request;
  Response response;

 private:
  grpc::ByteBuffer* const out_;
};

// A server stream refused before it started.
class RefusedStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedStream(const absl::Status& st) { Finish(ToGrpc(st)); }
  void OnDone() override { delete this; }
};

}  // namespace internal_raw

// A handler serving a unary method from raw bytes through `typed` (the
// method's typed implementation, which finishes through RunUnary).
template <typename Request, typename Response, typename Typed>
grpc::internal::MethodHandler* RawUnaryHandler(Typed typed) {
  return new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer,
                                                  grpc::ByteBuffer>(
      [typed](grpc::CallbackServerContext* context, const grpc::ByteBuffer* in,
              grpc::ByteBuffer* out) -> grpc::ServerUnaryReactor* {
        auto* call = new internal_raw::UnaryCall<Request, Response>(out);
        if (absl::Status st = internal_raw::Decode(*in, &call->request);
            !st.ok()) {
          delete call;
          grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
          reactor->Finish(internal_raw::ToGrpc(st));
          return reactor;
        }
        RawResponse::Current() = call;
        grpc::ServerUnaryReactor* reactor =
            typed(context, &call->request, &call->response);
        // RunUnary took it; a method that did not is a programming error,
        // as its response would never be sent.
        GPR_ASSERT(RawResponse::Current() == nullptr);
        return reactor;
      });
}

// A handler serving a server-streaming method from raw bytes through
// `typed`, which takes the parsed request by value (it may outlive this
// call) and returns a reactor writing serialized messages.
template <typename Request, typename Typed>
grpc::internal::MethodHandler* RawStreamHandler(Typed typed) {
  return new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer,
                                                            grpc::ByteBuffer>(
      [typed](grpc::CallbackServerContext* context, const grpc::ByteBuffer* in)
          -> grpc::ServerWriteReactor<grpc::ByteBuffer>* {
        Request request;
        if (absl::Status st = internal_raw::Decode(*in, &request); !st.ok()) {
          return new internal_raw::RefusedStream(st);
        }
        return typed(context, std::move(request));
      });
}

// A server-streaming reactor of `Message`s, written serialized.
template <typename Message>
class EncodingWriter : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 protected:
  // Starts writing `m`; one write at a time, as for any reactor.
  void Write(const Message& m) {
    bool own = false;
    buffer_.Clear();
    (void)grpc::SerializationTraits<Message>::Serialize(m, &buffer_, &own);
    StartWrite(&buffer_);
  }

 private:
  grpc::ByteBuffer buffer_;
};

// A generated CallbackService whose methods are all served from raw bytes:
// the derived service (`Self`) registers each of its typed methods in its
// constructor with Serve, then calls CheckAllServed.
template <typename Self, typename Generated>
class RawService : public Generated {
 protected:
  // `service` is the proto's full name, e.g. "warden.v1.AdminService".
  explicit RawService(const char* service)
      : descriptor_(google::protobuf::DescriptorPool::generated_pool()
                        ->FindServiceByName(service)) {
    GPR_ASSERT(descriptor_ != nullptr);
  }

  template <typename Request, typename Response>
  void Serve(const char* method,
             grpc::ServerUnaryReactor* (Self::*typed)(
                 grpc::CallbackServerContext*, const Request*, Response*)) {
    Self* self = static_cast<Self*>(this);
    this->MarkMethodRawCallback(
        Index(method),
        RawUnaryHandler<Request, Response>(
            [self, typed](grpc::CallbackServerContext* c, const Request* q,
                          Response* r) { return (self->*typed)(c, q, r); }));
  }
  template <typename Request>
  void Serve(const char* method,
             grpc::ServerWriteReactor<grpc::ByteBuffer>* (Self::*typed)(
                 grpc::CallbackServerContext*, Request)) {
    Self* self = static_cast<Self*>(this);
    this->MarkMethodRawCallback(
        Index(method),
        RawStreamHandler<Request>(
            [self, typed](grpc::CallbackServerContext* c, Request q) {
              return (self->*typed)(c, std::move(q));
            }));
  }
  // Every method of the service was served: none is left to gRPC's parser.
  void CheckAllServed() const {
    GPR_ASSERT(served_ == descriptor_->method_count());
  }

 private:
  int Index(const char* method) {
    const google::protobuf::MethodDescriptor* m =
        descriptor_->FindMethodByName(method);
    GPR_ASSERT(m != nullptr);
    ++served_;
    return m->index();
  }

  const google::protobuf::ServiceDescriptor* const descriptor_;
  int served_ = 0;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_RAW_METHODS_H_
