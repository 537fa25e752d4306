#pragma once
// Readings from /proc: resident memory and CPU time of this process or another (the server).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ringway::load {

// VmRSS in KiB from /proc/PID/status (pid 0: this process).
std::optional<uint64_t> read_rss_kb(int pid);
// utime + stime in seconds from /proc/PID/stat (all threads of the process).
std::optional<double> read_cpu_seconds(int pid);
// The sums over several processes (a cluster's nodes); nullopt if any of them is gone.
std::optional<uint64_t> read_rss_kb(const std::vector<int>& pids);
std::optional<double> read_cpu_seconds(const std::vector<int>& pids);
// Parses the text of a /proc/PID/stat line: utime+stime in clock ticks. The command name may
// hold spaces and parentheses, so fields are counted after the last ')'.
std::optional<uint64_t> parse_stat_cpu_ticks(const std::string& stat_line);

}  // namespace ringway::load
