#include "common/log.h"

#include <cstdio>
#include <ctime>

namespace ringway {

namespace {
LogLevel g_level = LogLevel::kInfo;
const char* name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "?";
}
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

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

}  // namespace ringway
