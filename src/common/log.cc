#include "common/log.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace ringway {

namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<bool> g_json{false};
std::atomic<LogLimiter*> g_limiters{nullptr};

const char* name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "?";
}

uint64_t mono_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

// The path after the last "src/" keeps summary lines short.
const char* short_site(const char* site) {
  const char* s = std::strstr(site, "src/");
  return s ? s + 4 : site;
}
}  // namespace

void set_log_level(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }
void set_log_json(bool json) { g_json.store(json, std::memory_order_relaxed); }
bool log_json() { return g_json.load(std::memory_order_relaxed); }
LogLevel log_level() { return g_level.load(std::memory_order_relaxed); }

namespace {

int timestamp(char* out, size_t cap) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  return snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900, t.tm_mon + 1,
                  t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
}

// Appends s to out[len..cap) as JSON string content (quotes, backslashes, controls escaped).
size_t append_json_escaped(char* out, size_t len, size_t cap, std::string_view s) {
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (len + 7 >= cap) break;
    if (c == '"' || c == '\\') {
      out[len++] = '\\';
      out[len++] = char(c);
    } else if (c < 0x20) {
      len += size_t(snprintf(out + len, cap - len, "\\u%04x", c));
    } else {
      out[len++] = char(c);
    }
  }
  return len;
}

void emit(char* line, size_t n, size_t cap) {
  if (n >= cap - 1) n = cap - 2;
  line[n++] = '\n';
  fwrite(line, 1, n, stderr);  // one write per line: lines from threads do not interleave
}

}  // namespace

void log_write(LogLevel level, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  size_t mlen = std::min(size_t(m), sizeof msg - 1);
  char line[1400];
  size_t n = 0;
  if (g_json.load(std::memory_order_relaxed)) {
    n = size_t(snprintf(line, sizeof line, "{\"ts\":\""));
    n += size_t(timestamp(line + n, sizeof line - n));
    n += size_t(snprintf(line + n, sizeof line - n, "\",\"level\":\"%s\",\"msg\":\"", name(level)));
    n = append_json_escaped(line, n, sizeof line - 3, {msg, mlen});
    line[n++] = '"';
    line[n++] = '}';
  } else {
    n = size_t(timestamp(line, sizeof line));
    n += size_t(snprintf(line + n, sizeof line - n, " %s ", name(level)));
    size_t take = std::min(mlen, sizeof line - n - 2);
    std::memcpy(line + n, msg, take);
    n += take;
  }
  emit(line, n, sizeof line);
}

LogEvent::LogEvent(const char* name) : json_(g_json.load(std::memory_order_relaxed)) {
  if (json_) {
    len_ = size_t(snprintf(buf_, sizeof buf_, "\"event\":\"%s\"", name));
  } else {
    len_ = size_t(snprintf(buf_, sizeof buf_, "event=%s", name));
  }
}

LogEvent& LogEvent::str(const char* key, std::string_view value) {
  if (len_ + 8 + std::strlen(key) >= sizeof buf_) return *this;
  if (json_) {
    len_ += size_t(snprintf(buf_ + len_, sizeof buf_ - len_, ",\"%s\":\"", key));
    len_ = append_json_escaped(buf_, len_, sizeof buf_ - 2, value);
    buf_[len_++] = '"';
    return *this;
  }
  bool quote = value.empty() || value.find_first_of(" \"=") != std::string_view::npos;
  len_ += size_t(snprintf(buf_ + len_, sizeof buf_ - len_, " %s=%s", key, quote ? "\"" : ""));
  if (quote) {
    len_ = append_json_escaped(buf_, len_, sizeof buf_ - 2, value);
    buf_[len_++] = '"';
  } else {
    size_t take = std::min(value.size(), sizeof buf_ - len_ - 2);
    std::memcpy(buf_ + len_, value.data(), take);
    len_ += take;
  }
  return *this;
}

LogEvent& LogEvent::num(const char* key, uint64_t value) {
  if (len_ + 32 + std::strlen(key) >= sizeof buf_) return *this;
  len_ += size_t(snprintf(buf_ + len_, sizeof buf_ - len_, json_ ? ",\"%s\":%llu" : " %s=%llu",
                          key, static_cast<unsigned long long>(value)));
  return *this;
}

void LogEvent::write(LogLevel level) {
  if (level < log_level()) return;
  char line[1400];
  size_t n = 0;
  if (json_) {
    n = size_t(snprintf(line, sizeof line, "{\"ts\":\""));
    n += size_t(timestamp(line + n, sizeof line - n));
    n += size_t(snprintf(line + n, sizeof line - n, "\",\"level\":\"%s\",", name(level)));
    std::memcpy(line + n, buf_, len_);
    n += len_;
    line[n++] = '}';
  } else {
    n = size_t(timestamp(line, sizeof line));
    n += size_t(snprintf(line + n, sizeof line - n, " %s ", name(level)));
    std::memcpy(line + n, buf_, len_);
    n += len_;
  }
  emit(line, n, sizeof line);
}

LogLimiter::LogLimiter(LogLevel level, const char* site) : level_(level), site_(site) {
  LogLimiter* head = g_limiters.load(std::memory_order_relaxed);
  do {
    next_ = head;
  } while (!g_limiters.compare_exchange_weak(head, this, std::memory_order_release,
                                             std::memory_order_relaxed));
}

void LogLimiter::report(uint64_t n) {
  if (n == 0) return;
  suppressed_total_.fetch_add(n, std::memory_order_relaxed);
  log_write(level_, "%llu similar lines suppressed in the last %llu ms (%s)",
            static_cast<unsigned long long>(n), static_cast<unsigned long long>(kPeerLogWindowMs),
            short_site(site_));
}

bool LogLimiter::allow() {
  uint64_t now = mono_ms();
  uint64_t start = window_start_.load(std::memory_order_relaxed);
  if (now - start >= kPeerLogWindowMs &&
      window_start_.compare_exchange_strong(start, now, std::memory_order_relaxed)) {
    // This caller opened the new window: it reports the old one's count.
    in_window_.store(0, std::memory_order_relaxed);
    report(suppressed_.exchange(0, std::memory_order_relaxed));
  }
  if (in_window_.fetch_add(1, std::memory_order_relaxed) < kPeerLogBurst) return true;
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void LogLimiter::flush(uint64_t now_ms, bool force) {
  uint64_t start = window_start_.load(std::memory_order_relaxed);
  if (suppressed_.load(std::memory_order_relaxed) == 0 ||
      (!force && now_ms - start < kPeerLogWindowMs))
    return;
  report(suppressed_.exchange(0, std::memory_order_relaxed));
}

void log_flush_suppressed(bool force) {
  uint64_t now = mono_ms();
  for (LogLimiter* l = g_limiters.load(std::memory_order_acquire); l; l = l->next_)
    l->flush(now, force);
}

uint64_t log_suppressed_total() {
  uint64_t n = 0;
  for (LogLimiter* l = g_limiters.load(std::memory_order_acquire); l; l = l->next_)
    n += l->suppressed_total() + l->suppressed_.load(std::memory_order_relaxed);
  return n;
}

}  // namespace ringway
