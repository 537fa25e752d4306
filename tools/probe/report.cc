#include "probe/report.h"

#include <cstdio>

namespace ringway::probe {

std::string format_seconds(std::chrono::microseconds d) {
  long long us = d.count() < 0 ? 0 : d.count();
  long long ms = (us + 500) / 1000;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%03llds", ms / 1000, ms % 1000);
  return buf;
}

std::string format_duration_ms(uint64_t ms) {
  char buf[48];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%llums", static_cast<unsigned long long>(ms));
  } else if (ms % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(ms / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%.3gs", double(ms) / 1000.0);
  }
  return buf;
}

std::string format_line(const CheckResult& r, size_t name_width) {
  std::string line = r.pass ? "PASS" : "FAIL";
  line += "  ";
  line += r.name;
  if (r.name.size() < name_width) line.append(name_width - r.name.size(), ' ');
  line += "  ";
  std::string t = format_seconds(r.elapsed);
  if (t.size() < 8) line.append(8 - t.size(), ' ');
  line += t;
  line += "  ";
  line += r.detail.empty() ? "-" : r.detail;
  return line;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = byte(i + k);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;
  return n;
}

}  // namespace

std::string json_string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      // Not UTF-8: write the byte as U+FFFD so the document stays valid.
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += char(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

std::string format_json(const RunInfo& info, const std::vector<CheckResult>& results) {
  size_t passed = 0;
  for (const CheckResult& r : results) passed += r.pass ? 1 : 0;
  std::string out = "{\"url\":" + json_string(info.url);
  out += ",\"max_wait_ms\":" + std::to_string(info.max_wait_ms);
  out += ",\"ping_wait_ms\":" + std::to_string(info.ping_wait_ms);
  out += ",\"parallel\":";
  out += info.parallel ? "true" : "false";
  out += ",\"passed\":" + std::to_string(passed);
  out += ",\"failed\":" + std::to_string(results.size() - passed);
  out += ",\"checks\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    const CheckResult& r = results[i];
    if (i) out += ',';
    out += "{\"name\":" + json_string(r.name);
    out += ",\"status\":";
    out += r.pass ? "\"PASS\"" : "\"FAIL\"";
    out += ",\"pass\":";
    out += r.pass ? "true" : "false";
    char ms[48];
    std::snprintf(ms, sizeof ms, "%.3f", double(r.elapsed.count()) / 1000.0);
    out += ",\"elapsed_ms\":";
    out += ms;
    out += ",\"detail\":" + json_string(r.detail);
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace ringway::probe
