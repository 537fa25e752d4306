#include "load/proc_stats.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ringway::load {

namespace {
std::string proc_path(int pid, const char* what) {
  return pid == 0 ? std::string("/proc/self/") + what
                  : "/proc/" + std::to_string(pid) + "/" + what;
}
}  // namespace

std::optional<uint64_t> read_rss_kb(int pid) {
  std::ifstream in(proc_path(pid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_stat_cpu_ticks(const std::string& s) {
  size_t close = s.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(s.substr(close + 1));
  // After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
  // cmajflt utime(14) stime(15).
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    if (!(in >> field)) return std::nullopt;
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return utime + stime;
}

std::optional<double> read_cpu_seconds(int pid) {
  // pid 0: this process (/proc/self/stat).
  std::ifstream in(proc_path(pid, "stat"));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto ticks = parse_stat_cpu_ticks(line);
  if (!ticks) return std::nullopt;
  long hz = sysconf(_SC_CLK_TCK);
  return double(*ticks) / double(hz > 0 ? hz : 100);
}

namespace {
template <class T, class Read>
std::optional<T> sum_over(const std::vector<int>& pids, Read read) {
  T total{};
  for (int pid : pids) {
    auto v = read(pid);
    if (!v) return std::nullopt;
    total += *v;
  }
  return total;
}
}  // namespace

std::optional<uint64_t> read_rss_kb(const std::vector<int>& pids) {
  return sum_over<uint64_t>(pids, [](int pid) { return read_rss_kb(pid); });
}

std::optional<double> read_cpu_seconds(const std::vector<int>& pids) {
  return sum_over<double>(pids, [](int pid) { return read_cpu_seconds(pid); });
}

}  // namespace ringway::load
