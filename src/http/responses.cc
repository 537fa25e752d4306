#include "http/responses.h"

#include <cstring>

#include "http/handshake.h"

namespace ringway::http {
namespace {

// Appends into a fixed buffer; remembers whether anything did not fit.
class ResponseWriter {
 public:
  ResponseWriter(char* out, size_t cap) : out_(out), cap_(cap) {}

  void append(std::string_view s) {
    if (!fits_ || s.size() > cap_ - length_) {
      fits_ = false;
      return;
    }
    std::memcpy(out_ + length_, s.data(), s.size());
    length_ += s.size();
  }
  void append_decimal(size_t value) {
    char digits[20];
    size_t count = 0;
    do {
      digits[sizeof digits - 1 - count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    append({digits + sizeof digits - count, count});
  }
  void append_status_line(int status) {
    append("HTTP/1.1 ");
    append_decimal(static_cast<size_t>(status));
    append(" ");
    append(reason_phrase(status));
    append("\r\n");
  }
  // The length written, or 0 if it did not all fit.
  size_t length() const { return fits_ ? length_ : 0; }

 private:
  char* out_;
  size_t cap_;
  size_t length_ = 0;
  bool fits_ = true;
};

std::string_view body_text(int status) {
  switch (status) {
    case 200: return "ok\n";
    case 400: return "bad request\n";
    case 404: return "not found\n";
    case 405: return "method not allowed\n";
    case 426: return "upgrade required\n";
    case 431: return "request header fields too large\n";
    case 503: return "draining\n";
    default: return {};
  }
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return {};
  }
}

size_t write_switching_protocols(std::string_view key, char* out, size_t cap,
                                 std::string_view extensions) {
  char accept[kAcceptKeyLength];
  compute_accept_key(key, accept);
  ResponseWriter w(out, cap);
  w.append_status_line(101);
  w.append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
  w.append({accept, kAcceptKeyLength});
  if (!extensions.empty()) {
    w.append("\r\nSec-WebSocket-Extensions: ");
    w.append(extensions);
  }
  w.append("\r\n\r\n");
  return w.length();
}

size_t write_response(int status, char* out, size_t cap) {
  const std::string_view body = body_text(status);
  if (body.empty()) return 0;
  ResponseWriter w(out, cap);
  w.append_status_line(status);
  w.append("Content-Type: text/plain\r\nContent-Length: ");
  w.append_decimal(body.size());
  w.append("\r\nConnection: close\r\n");
  // RFC 6455 §4.2.2: tell the client which version we speak. RFC 9110: 405 lists what is allowed.
  if (status == 426) w.append("Sec-WebSocket-Version: 13\r\n");
  if (status == 405) w.append("Allow: GET\r\n");
  w.append("\r\n");
  w.append(body);
  return w.length();
}

namespace {
void append_head(std::string& out, int status, std::string_view content_type, size_t length,
                 bool keep_alive, uint64_t retry_after_ms) {
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(reason_phrase(status)).append("\r\n");
  out.append("Content-Type: ").append(content_type).append("\r\nContent-Length: ");
  out.append(std::to_string(length));
  out.append(keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n");
  if (retry_after_ms)
    out.append("Retry-After: ").append(std::to_string((retry_after_ms + 999) / 1000)).append("\r\n");
}
}  // namespace

void append_response(std::string& out, int status, std::string_view content_type,
                     std::string_view body, bool keep_alive, uint64_t retry_after_ms) {
  append_head(out, status, content_type, body.size(), keep_alive, retry_after_ms);
  out.append("\r\n").append(body);
}

void append_json_response(std::string& out, int status, std::string_view body, bool keep_alive,
                          uint64_t retry_after_ms) {
  append_head(out, status, "application/json", body.size(), keep_alive, retry_after_ms);
  if (status == 401) out.append("WWW-Authenticate: Bearer\r\n");
  if (status == 405) out.append("Allow: POST\r\n");
  out.append("\r\n").append(body);
}

}  // namespace ringway::http
