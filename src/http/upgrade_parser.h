#pragma once
// Incremental HTTP/1.1 request-head parser for the one request a connection sends before it
// upgrades (or gets a small response and is closed). Strict on purpose: anything a browser or a
// WebSocket library would not send is a 400, so there is no ambiguity to smuggle through.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ringway::http {

// Request line + headers + the final CRLF. Over -> 431.
inline constexpr size_t kMaxHeaderBytes = 8192;
// Header fields (the request line does not count). Over -> 431.
inline constexpr size_t kMaxHeaderCount = 64;
// First allocation for a request head; a typical browser upgrade request fits without growing.
inline constexpr size_t kInitialHeaderBufferBytes = 1024;

enum class ParseState { kNeedMore, kComplete, kError };

struct Header {
  std::string_view name, value;  // value has optional whitespace around it trimmed
};

// Views point into the parser's own buffer; valid until the parser's reset() or destruction.
struct Request {
  std::string_view method;
  std::string_view target;  // path + query as sent
  std::string_view path;    // target without "?query"
  int minor_version = 0;    // HTTP/1.x
  std::span<const Header> headers;

  // Case-insensitive name, first match, "" if absent.
  std::string_view header(std::string_view name) const;
};

// ASCII case-insensitive comparison (header names and tokens are ASCII).
bool equal_ignoring_ascii_case(std::string_view a, std::string_view b);

class UpgradeParser {
 public:
  UpgradeParser() = default;
  UpgradeParser(const UpgradeParser&) = delete;
  UpgradeParser& operator=(const UpgradeParser&) = delete;
  UpgradeParser(UpgradeParser&& other) noexcept;
  UpgradeParser& operator=(UpgradeParser&& other) noexcept;
  ~UpgradeParser();

  // Feeds bytes; returns how many of them were consumed. On kComplete, consumed stops right after
  // the blank line that ends the head: the caller keeps the rest (e.g. a WebSocket frame the
  // client pipelined). Bytes after kComplete/kError are not consumed. The result (state, status,
  // total consumed, request) does not depend on how the input is split across calls.
  size_t feed(std::span<const uint8_t> bytes);

  ParseState state() const { return state_; }
  // 400 or 431 when state() == kError (503 if memory for the head could not be had).
  int error_status() const { return error_status_; }
  // Valid when state() == kComplete.
  const Request& request() const { return request_; }
  // Frees the buffer: an idle parser owns no heap memory. Also freed on kError.
  void reset();
  // Heap bytes held now: at most kMaxHeaderBytes while kNeedMore; on kComplete also the header
  // table (at most kMaxHeaderCount entries).
  size_t memory() const;

 private:
  bool append(const uint8_t* bytes, size_t count);
  bool starts_header_over_count(uint8_t first_byte) const;
  bool head_can_still_fit() const;
  void on_line_end();
  void finish();
  void fail(int status);
  void release();

  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
  size_t line_start_ = 0;     // offset of the line still being received
  size_t header_count_ = 0;   // complete header lines seen so far
  bool request_line_seen_ = false;
  Header* header_table_ = nullptr;  // allocated on completion, header_count_ entries
  ParseState state_ = ParseState::kNeedMore;
  int error_status_ = 0;
  Request request_;
};

}  // namespace ringway::http
