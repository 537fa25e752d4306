#include "http/upgrade_parser.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace ringway::http {
namespace {

constexpr int kBadRequest = 400;
constexpr int kHeadersTooLarge = 431;
constexpr int kOutOfMemory = 503;

// The shortest possible rest of a head is "\r\n\r\n" (end the current line, then the blank
// line). Within this many bytes of the limit we go byte by byte so that a 431 is reported at
// exactly the byte that makes it certain, however the input is split.
constexpr size_t kEndSlack = 4;

constexpr std::array<bool, 256> make_token_table() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<uint8_t>(c)] = true;
  return table;
}
constexpr std::array<bool, 256> kTokenChar = make_token_table();

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTokenChar[static_cast<uint8_t>(c)]) return false;
  }
  return true;
}

// field-vchar, SP, HTAB and obs-text: every byte except controls (CR, LF, NUL...) and DEL.
bool is_field_value_char(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// Visible ASCII: no spaces, controls or non-ASCII in a request target.
bool is_target_char(uint8_t c) { return c > 0x20 && c < 0x7f; }

bool is_optional_whitespace(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_optional_whitespace(std::string_view s) {
  while (!s.empty() && is_optional_whitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_optional_whitespace(s.back())) s.remove_suffix(1);
  return s;
}

struct RequestLine {
  std::string_view method, target;
  int minor_version = 0;
};

// `METHOD SP target SP HTTP/1.x`, exactly one space each; the target is in origin-form.
bool parse_request_line(std::string_view line, RequestLine* out) {
  const size_t method_end = line.find(' ');
  if (method_end == std::string_view::npos) return false;
  const std::string_view method = line.substr(0, method_end);
  if (!is_token(method)) return false;

  const size_t target_start = method_end + 1;
  const size_t target_end = line.find(' ', target_start);
  if (target_end == std::string_view::npos) return false;
  const std::string_view target = line.substr(target_start, target_end - target_start);
  if (target.empty() || target.front() != '/') return false;
  for (char c : target) {
    if (!is_target_char(static_cast<uint8_t>(c))) return false;
  }

  constexpr std::string_view kVersionPrefix = "HTTP/1.";
  const std::string_view version = line.substr(target_end + 1);
  if (version.size() != kVersionPrefix.size() + 1 || !version.starts_with(kVersionPrefix)) {
    return false;
  }
  const char minor = version.back();
  if (minor < '0' || minor > '9') return false;

  *out = {method, target, minor - '0'};
  return true;
}

// `name ":" OWS value OWS` with a token name; no space before the colon, no obs-fold.
bool parse_header_line(std::string_view line, Header* out) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return false;
  const std::string_view value = trim_optional_whitespace(line.substr(colon + 1));
  for (char c : value) {
    if (!is_field_value_char(static_cast<uint8_t>(c))) return false;
  }
  *out = {name, value};
  return true;
}

bool is_all_digits(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Message-level rules that need the whole head. Returns 0 or an error status.
int check_message_framing(const Request& request) {
  size_t host_count = 0, content_length_count = 0, transfer_encoding_count = 0;
  std::string_view content_length;
  for (const Header& h : request.headers) {
    if (equal_ignoring_ascii_case(h.name, "Host")) {
      ++host_count;
    } else if (equal_ignoring_ascii_case(h.name, "Content-Length")) {
      ++content_length_count;
      content_length = h.value;
    } else if (equal_ignoring_ascii_case(h.name, "Transfer-Encoding")) {
      ++transfer_encoding_count;
    }
  }
  if (host_count != 1) return kBadRequest;
  // Duplicate or conflicting body framing is how requests get smuggled: refuse it outright.
  if (content_length_count > 1) return kBadRequest;
  if (content_length_count == 1 && !is_all_digits(content_length)) return kBadRequest;
  if (content_length_count == 1 && transfer_encoding_count > 0) return kBadRequest;
  if (request.method == "GET") {
    if (transfer_encoding_count > 0) return kBadRequest;
    const bool zero_length = content_length.find_first_not_of('0') == std::string_view::npos;
    if (content_length_count == 1 && !zero_length) return kBadRequest;
  }
  return 0;
}

}  // namespace

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Request::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (equal_ignoring_ascii_case(h.name, name)) return h.value;
  }
  return {};
}

UpgradeParser::UpgradeParser(UpgradeParser&& other) noexcept
    : buffer_(std::exchange(other.buffer_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      size_(std::exchange(other.size_, 0)),
      line_start_(std::exchange(other.line_start_, 0)),
      header_count_(std::exchange(other.header_count_, 0)),
      request_line_seen_(std::exchange(other.request_line_seen_, false)),
      header_table_(std::exchange(other.header_table_, nullptr)),
      state_(std::exchange(other.state_, ParseState::kNeedMore)),
      error_status_(std::exchange(other.error_status_, 0)),
      request_(std::exchange(other.request_, Request{})) {}

UpgradeParser& UpgradeParser::operator=(UpgradeParser&& other) noexcept {
  if (this != &other) {
    release();
    buffer_ = std::exchange(other.buffer_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    size_ = std::exchange(other.size_, 0);
    line_start_ = std::exchange(other.line_start_, 0);
    header_count_ = std::exchange(other.header_count_, 0);
    request_line_seen_ = std::exchange(other.request_line_seen_, false);
    header_table_ = std::exchange(other.header_table_, nullptr);
    state_ = std::exchange(other.state_, ParseState::kNeedMore);
    error_status_ = std::exchange(other.error_status_, 0);
    request_ = std::exchange(other.request_, Request{});
  }
  return *this;
}

UpgradeParser::~UpgradeParser() { release(); }

void UpgradeParser::release() {
  std::free(buffer_);
  buffer_ = nullptr;
  capacity_ = 0;
  delete[] header_table_;
  header_table_ = nullptr;
  request_ = Request{};
}

void UpgradeParser::reset() {
  release();
  size_ = 0;
  line_start_ = 0;
  header_count_ = 0;
  request_line_seen_ = false;
  state_ = ParseState::kNeedMore;
  error_status_ = 0;
}

size_t UpgradeParser::memory() const {
  return capacity_ + (header_table_ ? header_count_ * sizeof(Header) : 0);
}

void UpgradeParser::fail(int status) {
  // The connection is answered and closed after an error; the bytes are of no further use.
  release();
  state_ = ParseState::kError;
  error_status_ = status;
}

size_t UpgradeParser::feed(std::span<const uint8_t> bytes) {
  size_t consumed = 0;
  while (state_ == ParseState::kNeedMore && consumed < bytes.size()) {
    const uint8_t* next = bytes.data() + consumed;
    if (starts_header_over_count(*next)) {
      fail(kHeadersTooLarge);
      break;
    }
    // Copy up to and including the next LF in one go while far from the limit; near it, one
    // byte at a time. Each byte is scanned once, so one-byte feeds stay linear.
    size_t take = 1;
    if (size_ + kEndSlack < kMaxHeaderBytes) {
      const size_t scan = std::min(bytes.size() - consumed, kMaxHeaderBytes - kEndSlack - size_);
      const void* lf = std::memchr(next, '\n', scan);
      take = lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - next) + 1 : scan;
    }
    if (!append(next, take)) {
      fail(kOutOfMemory);
      break;
    }
    consumed += take;
    if (buffer_[size_ - 1] == '\n') on_line_end();
    if (state_ == ParseState::kNeedMore && !head_can_still_fit()) fail(kHeadersTooLarge);
  }
  return consumed;
}

bool UpgradeParser::append(const uint8_t* bytes, size_t count) {
  const size_t needed = size_ + count;  // never above kMaxHeaderBytes: feed() bounds count
  if (needed > capacity_) {
    size_t capacity = capacity_ ? capacity_ : kInitialHeaderBufferBytes;
    while (capacity < needed) capacity *= 2;
    capacity = std::min(capacity, kMaxHeaderBytes);
    void* grown = std::realloc(buffer_, capacity);
    if (!grown) return false;
    buffer_ = static_cast<char*>(grown);
    capacity_ = capacity;
  }
  std::memcpy(buffer_ + size_, bytes, count);
  size_ = needed;
  return true;
}

// A line that does not start with CR after kMaxHeaderCount headers cannot be the blank line
// that ends the head, so the count is over as soon as its first byte arrives.
bool UpgradeParser::starts_header_over_count(uint8_t first_byte) const {
  return request_line_seen_ && line_start_ == size_ && header_count_ == kMaxHeaderCount &&
         first_byte != '\r';
}

bool UpgradeParser::head_can_still_fit() const {
  const size_t line_length = size_ - line_start_;
  size_t fewest_bytes_to_end;
  if (line_length == 0) {
    fewest_bytes_to_end = 2;  // "\r\n"
  } else if (line_length == 1 && buffer_[line_start_] == '\r') {
    fewest_bytes_to_end = 1;  // "\n"
  } else if (buffer_[size_ - 1] == '\r') {
    fewest_bytes_to_end = 3;  // "\n\r\n"
  } else {
    fewest_bytes_to_end = 4;  // "\r\n\r\n"
  }
  return size_ + fewest_bytes_to_end <= kMaxHeaderBytes;
}

void UpgradeParser::on_line_end() {
  const std::string_view line(buffer_ + line_start_, size_ - line_start_);
  line_start_ = size_;
  if (line.size() < 2 || line[line.size() - 2] != '\r') return fail(kBadRequest);  // bare LF
  const std::string_view content = line.substr(0, line.size() - 2);

  if (!request_line_seen_) {
    RequestLine request_line;
    if (!parse_request_line(content, &request_line)) return fail(kBadRequest);
    request_line_seen_ = true;
    return;
  }
  if (content.empty()) return finish();
  Header header;
  if (!parse_header_line(content, &header)) return fail(kBadRequest);
  ++header_count_;
}

// Lines were validated as they arrived; now that the buffer will not move again, build the
// views into it.
void UpgradeParser::finish() {
  const std::string_view head(buffer_, size_);
  size_t line_begin = 0;
  auto next_line = [&]() {
    const size_t lf = head.find('\n', line_begin);
    const std::string_view content = head.substr(line_begin, lf - 1 - line_begin);
    line_begin = lf + 1;
    return content;
  };

  RequestLine request_line;
  parse_request_line(next_line(), &request_line);
  if (header_count_ > 0) {
    header_table_ = new (std::nothrow) Header[header_count_];
    if (!header_table_) return fail(kOutOfMemory);
    for (size_t i = 0; i < header_count_; ++i) parse_header_line(next_line(), &header_table_[i]);
  }

  request_.method = request_line.method;
  request_.target = request_line.target;
  request_.path = request_line.target.substr(0, request_line.target.find('?'));
  request_.minor_version = request_line.minor_version;
  request_.headers = {header_table_, header_count_};

  if (const int status = check_message_framing(request_); status != 0) return fail(status);
  state_ = ParseState::kComplete;
}

}  // namespace ringway::http
