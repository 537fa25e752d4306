#include "common/prom_text.h"

#include <cstdio>

namespace ringway::prom {

void family(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, uint64_t value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(std::to_string(value)).append("\n");
}

void histogram_seconds(std::string& out, std::string_view name, std::string_view labels,
                       const uint64_t* buckets, uint64_t sum_us, uint64_t count) {
  uint64_t cumulative = 0;
  std::string sep = labels.empty() ? "" : std::string(labels) + ",";
  char le[32];
  for (size_t i = 0; i < LatencyHistogram::kBoundsUs.size(); ++i) {
    cumulative += buckets[i];
    std::snprintf(le, sizeof le, "%g", double(LatencyHistogram::kBoundsUs[i]) / 1e6);
    out.append(name).append("_bucket{").append(sep).append("le=\"").append(le).append("\"} ");
    out.append(std::to_string(cumulative)).append("\n");
  }
  cumulative += buckets[LatencyHistogram::kBoundsUs.size()];
  out.append(name).append("_bucket{").append(sep).append("le=\"+Inf\"} ");
  out.append(std::to_string(cumulative)).append("\n");
  char sum[40];
  std::snprintf(sum, sizeof sum, "%.6f", double(sum_us) / 1e6);
  out.append(name).append("_sum");
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(sum).append("\n");
  out.append(name).append("_count");
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(std::to_string(count)).append("\n");
}

}  // namespace ringway::prom
