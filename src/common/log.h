#pragma once
// Leveled logging to stderr, one line per event, printf-style. Nothing on the data path logs per
// frame. Lines a peer can cause (bad requests, refusals, timeouts) go through LOG_PEER, which is
// rate limited per call site: a flood of bad clients costs at most kPeerLogBurst lines per site
// per second, and what was held back is reported as one summary line ("N similar lines
// suppressed") when the site next logs or when log_flush_suppressed() runs (the main thread calls
// it every second).
#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringway {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
LogLevel log_level();
// Lines as JSON objects ({"ts":..,"level":..,"msg":..} or an event's fields) instead of text.
void set_log_json(bool json);
bool log_json();
void log_write(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// One structured event per line: `ts level event=NAME key=value ...` as text (values with
// spaces or quotes are quoted), or one JSON object. Fields are appended in order; write() emits
// the line (a line is at most 1 KiB; longer values are cut).
class LogEvent {
 public:
  explicit LogEvent(const char* name);
  LogEvent& str(const char* key, std::string_view value);
  LogEvent& num(const char* key, uint64_t value);
  void write(LogLevel level);

 private:
  char buf_[1024];
  size_t len_ = 0;
  bool json_;
};

inline constexpr uint32_t kPeerLogBurst = 20;         // lines per site per window
inline constexpr uint64_t kPeerLogWindowMs = 1000;

// One per LOG_PEER call site (a function-local static). Thread-safe; lock-free.
class LogLimiter {
 public:
  LogLimiter(LogLevel level, const char* site);
  // Whether this line may be written now. Reports (and resets) a suppressed count when a new
  // window begins.
  bool allow();
  // Writes the summary line for lines suppressed in an ended window (any window if force).
  void flush(uint64_t now_ms, bool force);
  uint64_t suppressed_total() const { return suppressed_total_.load(std::memory_order_relaxed); }

 private:
  friend void log_flush_suppressed(bool);
  friend uint64_t log_suppressed_total();
  void report(uint64_t n);
  LogLevel level_;
  const char* site_;
  std::atomic<uint64_t> window_start_{0};
  std::atomic<uint32_t> in_window_{0};
  std::atomic<uint64_t> suppressed_{0};
  std::atomic<uint64_t> suppressed_total_{0};
  LogLimiter* next_ = nullptr;  // every limiter, for log_flush_suppressed
};

// Writes the summary lines of every site whose window has ended with lines held back (at exit,
// force: every site's, ended or not).
void log_flush_suppressed(bool force = false);
// Lines held back so far by every site (tests, metrics).
uint64_t log_suppressed_total();

}  // namespace ringway

#define RW_LOG(level, ...)                                                   \
  do {                                                                       \
    if (::ringway::LogLevel::level >= ::ringway::log_level())                \
      ::ringway::log_write(::ringway::LogLevel::level, __VA_ARGS__);         \
  } while (0)
#define LOG_DEBUG(...) RW_LOG(kDebug, __VA_ARGS__)
#define LOG_INFO(...) RW_LOG(kInfo, __VA_ARGS__)
#define LOG_WARN(...) RW_LOG(kWarn, __VA_ARGS__)
#define LOG_ERROR(...) RW_LOG(kError, __VA_ARGS__)

#define RW_STR2(x) #x
#define RW_STR(x) RW_STR2(x)
// A line caused by a peer: rate limited per call site (see LogLimiter).
#define LOG_PEER(level, ...)                                                              \
  do {                                                                                    \
    if (::ringway::LogLevel::level >= ::ringway::log_level()) {                           \
      static ::ringway::LogLimiter rw_limiter_(::ringway::LogLevel::level,                \
                                               __FILE__ ":" RW_STR(__LINE__));            \
      if (rw_limiter_.allow()) ::ringway::log_write(::ringway::LogLevel::level, __VA_ARGS__); \
    }                                                                                     \
  } while (0)
