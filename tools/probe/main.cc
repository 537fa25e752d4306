// ringway-probe URL [options]: checks any WebSocket server against misbehaving clients.
//
// Exit codes: 0 every check passed, 1 at least one check failed, 2 usage error, 3 the server
// could not be reached or did not accept a WebSocket upgrade for the URL.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "probe/checks.h"
#include "probe/report.h"
#include "probe/url.h"
#include "tls/context.h"
#include "ringway/config.h"

namespace {

using namespace ringway::probe;

constexpr int kExitPass = 0;
constexpr int kExitFail = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

// Headers the probe writes itself; --header may not replace them.
bool reserved_header(std::string_view name) {
  static const char* const kNames[] = {"host", "upgrade", "connection", "sec-websocket-key",
                                       "sec-websocket-version"};
  std::string lower;
  for (char c : name) lower += char(std::tolower(static_cast<unsigned char>(c)));
  for (const char* n : kNames) {
    if (lower == n) return true;
  }
  return false;
}

// "K: V" -> normalised "K: V"; empty string with *error set when malformed.
std::string check_header(const std::string& h, std::string* error) {
  if (h.find_first_of("\r\n") != std::string::npos) {
    *error = "--header may not contain CR or LF";
    return {};
  }
  size_t colon = h.find(':');
  if (colon == std::string::npos || colon == 0) {
    *error = "--header '" + h + "': expected 'Name: value'";
    return {};
  }
  std::string name = h.substr(0, colon);
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    bool tchar = std::isalnum(u) || std::string_view("!#$%&'*+-.^_`|~").find(c) !=
                                        std::string_view::npos;
    if (!tchar) {
      *error = "--header '" + h + "': '" + name + "' is not a valid header name";
      return {};
    }
  }
  if (reserved_header(name)) {
    *error = "--header '" + h + "': the probe sends " + name + " itself";
    return {};
  }
  std::string value = h.substr(colon + 1);
  size_t start = value.find_first_not_of(" \t");
  value = start == std::string::npos ? "" : value.substr(start);
  return name + ": " + value;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "ringway-probe: checks that a WebSocket server reaps misbehaving clients (silent, slow, "
      "never answering, never reading, sending invalid frames)."};
  app.set_version_flag("--version", "ringway-probe 0.1.0");
  app.footer(
      "Exit codes: 0 all checks passed, 1 a check failed, 2 usage error, 3 server unreachable "
      "or not a WebSocket endpoint.\nDurations: 250ms, 3s, 2m. See docs/probe.md.");

  std::string url_text;
  std::string max_wait_text = "120s";
  std::string ping_wait_text;
  std::vector<std::string> only;
  std::vector<std::string> headers;
  bool list = false, json = false, parallel = false, insecure = false, deflate = false;
  std::string ca_file;

  app.add_option("url", url_text, "ws://HOST:PORT/PATH or wss://... of the server to probe");
  app.add_option("--ca-file", ca_file, "wss://: trust the PEM certificates in this file");
  app.add_flag("--insecure", insecure, "wss://: do not verify the server's certificate");
  app.add_option("--max-wait", max_wait_text,
                 "Longest a server may take to reap a bad peer before the check fails")
      ->capture_default_str()
      ->type_name("DURATION");
  app.add_option("--ping-wait", ping_wait_text,
                 "never-pong: how long to wait for the server's first ping (default: max-wait)")
      ->type_name("DURATION");
  app.add_option("--only", only, "Run only these checks (comma-separated names, see --list)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->type_name("CHECK,...");
  app.add_option("--header", headers,
                 "Extra upgrade request header 'Name: value' (repeatable), e.g. for auth")
      ->allow_extra_args(false)
      ->type_name("'K: V'");
  app.add_flag("--deflate", deflate,
               "Offer permessage-deflate on every check's upgrade (the deflate checks always do)");
  app.add_flag("--list", list, "List the checks and exit");
  app.add_flag("--json", json, "Print the results as one JSON document instead of lines");
  app.add_flag("--parallel", parallel,
               "Run the checks concurrently (a run takes about the longest check, not the sum)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (list) {
    for (const CheckInfo& c : all_checks()) {
      std::printf("%-22s %s\n", std::string(c.name).c_str(), std::string(c.summary).c_str());
    }
    return kExitPass;
  }

  auto usage = [](const std::string& msg) {
    std::fprintf(stderr, "ringway-probe: %s\n", msg.c_str());
    return kExitUsage;
  };
  if (url_text.empty()) return usage("missing URL (ws://HOST:PORT/PATH); --help for usage");

  std::string error;
  std::optional<WsUrl> url = parse_ws_url(url_text, &error);
  if (!url) return usage("bad URL '" + url_text + "': " + error);

  ProbeOptions opts;
  opts.target.url = *url;
  opts.offer_deflate = deflate;
  if (!url->secure && (insecure || !ca_file.empty()))
    return usage("--insecure and --ca-file are for wss:// URLs");
  if (url->secure) {
    opts.target.tls = ringway::tls::ClientContext::make(insecure, ca_file, false, error);
    if (!opts.target.tls) return usage("TLS: " + error);
  }
  auto max_wait = ringway::parse_duration_ms(max_wait_text);
  if (!max_wait || *max_wait == 0) {
    return usage("--max-wait '" + max_wait_text + "': expected a positive duration like 3s, 2m");
  }
  opts.max_wait = milliseconds(*max_wait);
  opts.ping_wait = opts.max_wait;
  if (!ping_wait_text.empty()) {
    auto ping_wait = ringway::parse_duration_ms(ping_wait_text);
    if (!ping_wait || *ping_wait == 0) {
      return usage("--ping-wait '" + ping_wait_text + "': expected a positive duration");
    }
    opts.ping_wait = milliseconds(*ping_wait);
  }
  for (const std::string& h : headers) {
    std::string line = check_header(h, &error);
    if (line.empty()) return usage(error);
    opts.target.headers.push_back(line);
  }

  std::vector<const CheckInfo*> selected;
  if (only.empty()) {
    for (const CheckInfo& c : all_checks())
      if (url->secure || !c.tls_only) selected.push_back(&c);
  } else {
    for (const std::string& name : only) {
      if (name.empty()) continue;
      const CheckInfo* c = find_check(name);
      if (!c) return usage("unknown check '" + name + "' (--list shows them)");
      if (c->tls_only && !url->secure) return usage("check '" + name + "' needs a wss:// URL");
      bool dup = false;
      for (const CheckInfo* s : selected) dup = dup || s == c;
      if (!dup) selected.push_back(c);
    }
    if (selected.empty()) return usage("--only selects no check");
  }

  std::vector<Endpoint> endpoints = resolve(url->host, url->port, &error);
  if (endpoints.empty()) {
    std::fprintf(stderr, "ringway-probe: %s\n", error.c_str());
    return kExitUnreachable;
  }
  if (!preflight(opts, endpoints, &error)) {
    std::fprintf(stderr, "ringway-probe: %s is not reachable as a WebSocket endpoint: %s\n",
                 url->to_string().c_str(), error.c_str());
    return kExitUnreachable;
  }

  if (!json) {
    std::fprintf(stderr, "ringway-probe: %s (%s), %zu check%s, max-wait %s%s\n",
                 url->to_string().c_str(), opts.target.endpoint.text.c_str(), selected.size(),
                 selected.size() == 1 ? "" : "s",
                 format_duration_ms(uint64_t(opts.max_wait.count())).c_str(),
                 parallel ? ", parallel" : "");
  }
  size_t width = 16;  // the names' column: as wide as the longest selected name
  for (const CheckInfo* c : selected) width = std::max(width, c->name.size());
  std::vector<CheckResult> results =
      run_checks(opts, selected, parallel, [json, width](const CheckResult& r) {
        if (json) return;
        std::printf("%s\n", format_line(r, width).c_str());
        std::fflush(stdout);
      });

  size_t failed = 0;
  for (const CheckResult& r : results) failed += r.pass ? 0 : 1;
  if (json) {
    RunInfo info;
    info.url = url->to_string();
    info.max_wait_ms = uint64_t(opts.max_wait.count());
    info.ping_wait_ms = uint64_t(std::min(opts.ping_wait, opts.max_wait).count());
    info.parallel = parallel;
    std::printf("%s\n", format_json(info, results).c_str());
  } else {
    std::fprintf(stderr, "ringway-probe: %zu passed, %zu failed\n", results.size() - failed,
                 failed);
  }
  return failed ? kExitFail : kExitPass;
}
