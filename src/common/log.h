#pragma once
// Minimal leveled logging to stderr, one line per event, printf-style. Bad input is logged
// once per connection by the caller; nothing on the data path logs per frame.
#include <cstdarg>
#include <cstdint>

namespace ringway {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_write(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

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
