#include "app/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>

#include "config/config_file.h"
#include "config/options.h"

namespace ringway::app {

namespace {

// The value of --config (as "--config F" or "--config=F"), found before the real parse: the file
// is applied first so that flags, parsed after, override it.
std::string find_config_flag(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
    if (std::strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
  }
  return {};
}

// Every option of the table as a flag.
void add_table_flags(CLI::App& app, Config& cfg) {
  for (const config::Option& o : config::options()) {
    std::string flag = std::string("--") + o.flag;
    std::string help = o.help;
    if (o.kind == config::Kind::kBool) {
      bool sets = o.bool_flag_sets;
      app.add_flag_callback(flag, [&cfg, &o, sets] {
        std::string err;
        config::set_from_bool(o, cfg, sets, err);
      }, help + (sets ? "" : " (on by default; this flag turns it off)") + " [file key " + o.key + "]");
      continue;
    }
    std::string shown = config::format_value(o, cfg);
    if (o.kind == config::Kind::kStringList) {
      // Every occurrence counts; together they replace the file's list.
      app.add_option_function<std::vector<std::string>>(
             flag,
             [&cfg, &o, flag](const std::vector<std::string>& v) {
               std::string err;
               if (!config::set_list(o, cfg, v, err)) throw CLI::ValidationError(flag, err);
             },
             help + " [file key " + o.key + ", default " + shown + "]")
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
          ->type_name("TEXT");
      continue;
    }
    app.add_option_function<std::string>(
           flag,
           [&cfg, &o, flag](const std::string& v) {
             std::string err;
             if (!config::set_from_text(o, cfg, v, err)) throw CLI::ValidationError(flag, err);
           },
           help + " [file key " + o.key + (shown.empty() ? "" : ", default " + shown) + "]")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)  // a later flag wins
        ->type_name(o.kind == config::Kind::kDuration || o.kind == config::Kind::kOptionalDuration
                        ? "DURATION"
                    : o.kind == config::Kind::kSize ? "BYTES"
                    : o.kind == config::Kind::kString ? "TEXT"
                                                      : "N");
  }
}

}  // namespace

CliResult parse_command_line(int argc, char** argv, Config& cfg, KeygenOptions& keygen,
                             std::string& config_path) {
  CLI::App app{"ringway: a WebSocket gateway on per-core io_uring rings"};
  app.set_version_flag("--version", "ringway 0.1.0");

  // The file first (flags override it); check-config names its file as an argument instead.
  config_path = find_config_flag(argc, argv);
  if (!config_path.empty()) {
    std::string err;
    if (!config::load_file(config_path, cfg, err)) {
      std::fprintf(stderr, "ringway: --config: %s\n", err.c_str());
      return CliResult::kExitError;
    }
  }
  std::string ignored;
  app.add_option("--config", ignored, "Configuration file (TOML); flags override its settings");
  add_table_flags(app, cfg);

  CLI::App* kg = app.add_subcommand(
      "keygen", "Write a new Ed25519 device key (mode 0600) and print its registry line");
  kg->add_option("--out", keygen.out, "Private key file to create")->capture_default_str();
  kg->add_option("--scopes", keygen.scopes, "Scopes for the registry line, comma-separated");

  CLI::App* reference = app.add_subcommand(
      "config-reference", "Print the settings table of docs/configuration.md");
  reference->group("");  // hidden: for the docs and their test

  std::string check_file;
  CLI::App* check = app.add_subcommand(
      "check-config", "Validate a configuration file and print the effective settings");
  check->add_option("file", check_file, "The TOML file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? CliResult::kExitOk : CliResult::kExitError;
  }
  if (kg->parsed()) return CliResult::kKeygen;
  if (reference->parsed()) {
    std::printf("%s", config::reference_markdown().c_str());
    return CliResult::kExitOk;
  }
  if (check->parsed()) {
    Config fresh;
    std::string err;
    if (!config::load_file(check_file, fresh, err)) {
      std::fprintf(stderr, "ringway: %s\n", err.c_str());
      return CliResult::kExitError;
    }
    if (std::string bad = fresh.validate(); !bad.empty()) {
      std::fprintf(stderr, "ringway: %s: %s\n", check_file.c_str(), bad.c_str());
      return CliResult::kExitError;
    }
    std::printf("# %s is valid; the effective settings:\n%s", check_file.c_str(),
                config::to_toml(fresh).c_str());
    return CliResult::kExitOk;
  }
  if (std::string err = cfg.validate(); !err.empty()) {
    std::fprintf(stderr, "ringway: %s\n", err.c_str());
    return CliResult::kExitError;
  }
  return CliResult::kRun;
}

}  // namespace ringway::app
