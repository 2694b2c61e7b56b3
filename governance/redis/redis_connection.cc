#include "governance/redis/redis_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

// OpenSSL's queued errors of this thread, oldest first, and the queue
// emptied.
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

bool IsIpAddress(const std::string& name) {
  in6_addr v6;
  in_addr v4;
  return inet_pton(AF_INET, name.c_str(), &v4) == 1 ||
         inet_pton(AF_INET6, name.c_str(), &v6) == 1;
}

}  // namespace

absl::StatusOr<std::shared_ptr<SSL_CTX>> MakeRedisTlsContext(
    const RedisTls& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "redis TLS: a client certificate and its key go together: give "
        "both, or neither");
  }
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("redis TLS: no context: ", OpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // Writes resume from where a partial one stopped, the buffer unchanged.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  const auto bad_file = [](const char* what, const std::string& path) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis TLS ", what, " \"", path, "\": ", OpenSslErrors()));
  };
  if (tls.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis TLS: the system's trust store cannot be read: ",
                       OpenSslErrors()));
    }
  } else if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(),
                                           nullptr) != 1) {
    return bad_file("CA file", tls.ca_file);
  }
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) !=
        1) {
      return bad_file("client certificate", tls.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1) {
      return bad_file("client key", tls.key_file);
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "redis TLS client key \"", tls.key_file,
          "\" is not the key of certificate \"", tls.cert_file, "\""));
    }
  }
  return ctx;
}

RedisConnection::RedisConnection(int fd, absl::Duration io_timeout)
    : fd_(fd), io_timeout_(io_timeout), reader_(redisReaderCreate()) {}

RedisConnection::~RedisConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (reader_ != nullptr) redisReaderFree(reader_);
  close(fd_);
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Open(
    const std::string& host, int port, const RedisTls& tls,
    std::shared_ptr<SSL_CTX> tls_context, absl::Duration connect_timeout,
    absl::Duration io_timeout) {
  const std::string where = absl::StrCat(host, ":", port);
  const absl::Time deadline = absl::Now() + connect_timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc =
          getaddrinfo(host.c_str(), absl::StrCat(port).c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(absl::StrCat(
        "redis connect to ", where, ": cannot resolve: ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found,
                                                               freeaddrinfo);
  std::string failure = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      failure = strerror(errno);
      continue;
    }
    // Owns fd from here on.
    std::unique_ptr<RedisConnection> c(new RedisConnection(fd, io_timeout));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        failure = strerror(errno);
        continue;
      }
      if (absl::Status st = c->Wait(true, deadline, "connecting"); !st.ok()) {
        failure = std::string(st.message());
        continue;
      }
      int error = 0;
      socklen_t len = sizeof(error);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 ||
          error != 0) {
        failure = strerror(error != 0 ? error : errno);
        continue;
      }
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (tls.enabled) {
      c->context_ = tls_context;
      if (absl::Status st =
              c->Handshake(host, tls, tls_context.get(), deadline);
          !st.ok()) {
        return absl::UnavailableError(
            absl::StrCat("redis TLS to ", where, ": ", st.message()));
      }
    }
    return c;
  }
  return absl::UnavailableError(
      absl::StrCat("redis connect to ", where, ": ", failure));
}

absl::Status RedisConnection::Handshake(const std::string& host,
                                        const RedisTls& tls, SSL_CTX* context,
                                        absl::Time deadline) {
  ERR_clear_error();
  ssl_ = SSL_new(context);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    return absl::InternalError(OpenSslErrors());
  }
  const std::string& name = tls.server_name.empty() ? host : tls.server_name;
  if (IsIpAddress(name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) !=
        1) {
      return absl::InternalError(OpenSslErrors());
    }
  } else if (SSL_set_tlsext_host_name(ssl_, name.c_str()) != 1 ||
             SSL_set1_host(ssl_, name.c_str()) != 1) {
    return absl::InternalError(OpenSslErrors());
  }
  while (true) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl_);
    if (rc == 1) return absl::OkStatus();
    const int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      WARDEN_RETURN_IF_ERROR(
          Wait(error == SSL_ERROR_WANT_WRITE, deadline, "in the handshake"));
      continue;
    }
    const long verified = SSL_get_verify_result(ssl_);
    if (verified != X509_V_OK) {
      return absl::UnavailableError(
          absl::StrCat("the server's certificate is refused for \"", name,
                       "\": ", X509_verify_cert_error_string(verified)));
    }
    return absl::UnavailableError(
        absl::StrCat("handshake failed: ", OpenSslErrors()));
  }
}

absl::Status RedisConnection::Wait(bool for_write, absl::Time deadline,
                                   const char* doing) {
  pollfd p{.fd = fd_,
           .events = static_cast<short>(for_write ? POLLOUT : POLLIN),
           .revents = 0};
  while (true) {
    const int64_t ms =
        std::clamp<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(
                                deadline - absl::Now(), absl::Milliseconds(1))),
                            0, INT_MAX);
    const int rc = poll(&p, 1, static_cast<int>(ms));
    if (rc > 0) return absl::OkStatus();  // Ready, or an error to read.
    if (rc == 0) {
      return absl::UnavailableError(absl::StrCat("timed out ", doing));
    }
    if (errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("poll: ", strerror(errno)));
    }
  }
}

void RedisConnection::Append(const std::vector<const char*>& args,
                             const std::vector<size_t>& lens) {
  char* command = nullptr;
  const int n = redisFormatCommandArgv(&command, static_cast<int>(args.size()),
                                       const_cast<const char**>(args.data()),
                                       lens.data());
  if (n > 0) out_.append(command, static_cast<size_t>(n));
  redisFreeCommand(command);
}

absl::Status RedisConnection::Send(absl::Time deadline) {
  size_t sent = 0;
  while (sent < out_.size()) {
    const size_t left = std::min<size_t>(out_.size() - sent, INT_MAX);
    if (ssl_ != nullptr) {
      ERR_clear_error();
      const int n = SSL_write(ssl_, out_.data() + sent, static_cast<int>(left));
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        WARDEN_RETURN_IF_ERROR(
            Wait(error == SSL_ERROR_WANT_WRITE, deadline, "writing"));
        continue;
      }
      return absl::UnavailableError(
          absl::StrCat("TLS write: ", OpenSslErrors()));
    }
    const ssize_t n = send(fd_, out_.data() + sent, left, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      WARDEN_RETURN_IF_ERROR(Wait(true, deadline, "writing"));
    } else if (errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("write: ", strerror(errno)));
    }
  }
  out_.clear();
  return absl::OkStatus();
}

absl::StatusOr<redisReply*> RedisConnection::Read(absl::Time deadline) {
  size_t read = 0;  // Bytes of this reply so far.
  while (true) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
      return absl::UnavailableError(
          absl::StrCat("protocol error: ", reader_->errstr));
    }
    if (reply != nullptr) return static_cast<redisReply*>(reply);
    if (read > kMaxReplyBytes) {
      return absl::UnavailableError(absl::StrCat(
          "a reply of more than ", kMaxReplyBytes >> 20, " MiB: refused"));
    }
    char buf[16 * 1024];
    if (ssl_ != nullptr) {
      ERR_clear_error();
      const int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n > 0) {
        redisReaderFeed(reader_, buf, static_cast<size_t>(n));
        read += static_cast<size_t>(n);
        continue;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        WARDEN_RETURN_IF_ERROR(
            Wait(error == SSL_ERROR_WANT_WRITE, deadline, "reading"));
        continue;
      }
      return absl::UnavailableError(
          error == SSL_ERROR_ZERO_RETURN
              ? std::string("the server closed the connection")
              : absl::StrCat("TLS read: ", OpenSslErrors()));
    }
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      redisReaderFeed(reader_, buf, static_cast<size_t>(n));
      read += static_cast<size_t>(n);
    } else if (n == 0) {
      return absl::UnavailableError("the server closed the connection");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      WARDEN_RETURN_IF_ERROR(Wait(false, deadline, "reading"));
    } else if (errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("read: ", strerror(errno)));
    }
  }
}

absl::StatusOr<redisReply*> RedisConnection::Call(
    const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  Append(args, lens);
  const absl::Time deadline = absl::Now() + io_timeout_;
  WARDEN_RETURN_IF_ERROR(Send(deadline));
  return Read(deadline);
}

}  // namespace warden
