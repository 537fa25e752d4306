#include "common/log.h"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace ringway {

namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};
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
LogLevel log_level() { return g_level.load(std::memory_order_relaxed); }

void log_write(LogLevel level, const char* fmt, ...) {
  char line[1024];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", t.tm_year + 1900,
                   t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000,
                   name(level));
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && size_t(n) < sizeof line) n += vsnprintf(line + n, sizeof line - n, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (size_t(n) >= sizeof line - 1) n = sizeof line - 2;
  line[n++] = '\n';
  fwrite(line, 1, size_t(n), stderr);  // one write per line: lines from threads do not interleave
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
