#include "config/config_file.h"

#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "config/options.h"

namespace ringway::config {

namespace {

std::string where(std::string_view name, const toml::node& n) {
  return std::string(name) + ":" + std::to_string(n.source().begin.line);
}

bool apply(const Option& o, const toml::node& n, Config& cfg, std::string& err) {
  if (auto arr = n.as_array(); arr && o.kind == Kind::kStringList) {
    std::vector<std::string> values;
    for (const toml::node& e : *arr) {
      auto s = e.as_string();
      if (!s) {
        err = "expected an array of strings";
        return false;
      }
      values.push_back(s->get());
    }
    return set_list(o, cfg, std::move(values), err);
  }
  if (auto s = n.as_string()) return set_from_text(o, cfg, s->get(), err);
  if (auto i = n.as_integer()) return set_from_integer(o, cfg, i->get(), err);
  if (auto b = n.as_boolean()) return set_from_bool(o, cfg, b->get(), err);
  err = "expected a string, an integer or a boolean";
  return false;
}

}  // namespace

bool load_text(std::string_view text, std::string_view name, Config& cfg, std::string& err) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    err = std::string(name) + ":" + std::to_string(e.source().begin.line) + ": " +
          std::string(e.description());
    return false;
  }
  for (auto&& [k, v] : root) {
    std::string key(k.str());
    if (const toml::table* section = v.as_table()) {
      for (auto&& [k2, v2] : *section) {
        std::string full = key + "." + std::string(k2.str());
        const Option* o = find_option_by_key(full);
        if (!o || v2.is_table()) {
          err = where(name, v2) + ": unknown key '" + full + "'";
          return false;
        }
        std::string why;
        if (!apply(*o, v2, cfg, why)) {
          err = where(name, v2) + ": " + full + ": " + why;
          return false;
        }
      }
      continue;
    }
    const Option* o = find_option_by_key(key);
    if (!o) {
      err = where(name, v) + ": unknown key '" + key + "'";
      return false;
    }
    std::string why;
    if (!apply(*o, v, cfg, why)) {
      err = where(name, v) + ": " + key + ": " + why;
      return false;
    }
  }
  return true;
}

bool load_file(const std::string& path, Config& cfg, std::string& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = path + ": cannot be read";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) {
    err = path + ": larger than 1 MiB";
    return false;
  }
  return load_text(text.str(), path, cfg, err);
}

std::string to_toml(const Config& cfg) {
  std::string out, section;
  // Top-level keys first: in TOML a key after a [section] line belongs to that section.
  for (int pass = 0; pass < 2; ++pass) {
    for (const Option& o : options()) {
      bool top = std::string_view(o.key).find('.') == std::string_view::npos;
      if (top != (pass == 0)) continue;
    std::string_view key(o.key);
    size_t dot = key.find('.');
    std::string_view sec = dot == key.npos ? std::string_view() : key.substr(0, dot);
    std::string_view name = dot == key.npos ? key : key.substr(dot + 1);
    if (sec != section) {
      out.append("\n[").append(sec).append("]\n");
      section = std::string(sec);
    }
    std::string value = format_value(o, cfg);
    if (value.empty()) {  // an optional setting left to its derived default
      out.append("# ").append(name).append(" = (derived)\n");
      continue;
    }
    out.append(name).append(" = ").append(value);
    if (!o.reloadable) out.append("  # restart to change");
    out.push_back('\n');
    }
  }
  return out;
}

std::string reference_markdown() {
  Config defaults;
  std::string out =
      "| file key | flag | default | reload | meaning |\n|---|---|---|---|---|\n";
  for (const Option& o : options()) {
    std::string value = format_value(o, defaults);
    if (value.empty()) value = "(derived)";
    out.append("| `").append(o.key).append("` | `--").append(o.flag).append("` | `");
    out.append(value).append("` | ").append(o.reloadable ? "yes" : "restart").append(" | ");
    out.append(o.help).append(" |\n");
  }
  return out;
}

}  // namespace ringway::config
