#include "load/options.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "load/proc_stats.h"
#include "load/report.h"
#include "simdjson.h"

namespace ringway::load {
namespace {

std::string addr(in_addr a) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

TEST(Options, ParsesUrls) {
  Url u;
  ASSERT_EQ(parse_url("ws://127.0.0.1:8080/echo", u), "");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.path, "/echo");
  EXPECT_EQ(u.host_header(), "127.0.0.1:8080");
  EXPECT_EQ(addr(u.addr.sin_addr), "127.0.0.1");
  EXPECT_EQ(ntohs(u.addr.sin_port), 8080);
  ASSERT_EQ(parse_url("ws://localhost:9/ws?x=1", u), "");
  EXPECT_EQ(u.path, "/ws?x=1");
  ASSERT_EQ(parse_url("ws://127.0.0.2", u), "");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.path, "/");
  ASSERT_EQ(parse_url("wss://localhost/echo", u), "");
  EXPECT_TRUE(u.secure);
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.host, "localhost");
  ASSERT_EQ(parse_url("ws://127.0.0.2", u), "");
  EXPECT_FALSE(u.secure);
  EXPECT_NE(parse_url("http://127.0.0.1:1/", u), "");
  EXPECT_NE(parse_url("ws://127.0.0.1:0/", u), "");
  EXPECT_NE(parse_url("ws://127.0.0.1:70000/", u), "");
  EXPECT_NE(parse_url("ws://example.com:80/", u), "");
  EXPECT_NE(parse_url("ws://:80/", u), "");
}

TEST(Options, ParsesSourceAddressRangesAndLists) {
  std::vector<in_addr> out;
  ASSERT_EQ(parse_source_addrs("127.0.0.1-127.0.0.16", out), "");
  ASSERT_EQ(out.size(), 16u);
  EXPECT_EQ(addr(out.front()), "127.0.0.1");
  EXPECT_EQ(addr(out.back()), "127.0.0.16");
  ASSERT_EQ(parse_source_addrs("127.0.0.1,127.0.1.254-127.0.2.1", out), "");
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(addr(out[1]), "127.0.1.254");
  EXPECT_EQ(addr(out[3]), "127.0.2.0");
  EXPECT_NE(parse_source_addrs("127.0.0.9-127.0.0.1", out), "");
  EXPECT_NE(parse_source_addrs("127.0.0", out), "");
  EXPECT_NE(parse_source_addrs("", out), "");
  EXPECT_NE(parse_source_addrs("10.0.0.0-10.255.255.255", out), "");
}

TEST(Options, ModesAndDefaults) {
  Mode m;
  for (const char* name : {"echo", "connect", "idle", "fanout", "keys"}) {
    ASSERT_TRUE(parse_mode(name, m)) << name;
    EXPECT_STREQ(mode_name(m), name);
  }
  EXPECT_FALSE(parse_mode("flood", m));

  Options o;
  o.mode = Mode::kEcho;
  ASSERT_EQ(finish_options(o), "");
  EXPECT_EQ(o.url.path, "/echo");
  EXPECT_EQ(o.connections, 100u);
  EXPECT_EQ(o.warmup_ms, 2000u);

  Options idle;
  idle.mode = Mode::kIdle;
  ASSERT_EQ(finish_options(idle), "");
  EXPECT_EQ(idle.connections, 1000u);
  EXPECT_EQ(idle.warmup_ms, 0u);

  Options c;
  c.mode = Mode::kConnect;
  EXPECT_NE(finish_options(c), "");  // the gateway route needs --keys
  c.keys_file = "k";
  ASSERT_EQ(finish_options(c), "");
  EXPECT_EQ(c.url.path, "/ws");
  EXPECT_EQ(c.max_connecting, c.connections);
  Options e;  // a route without a login: TCP (and TLS) and the upgrade, no keys
  e.mode = Mode::kConnect;
  e.url_texts = {"wss://127.0.0.1:8443/echo"};
  e.insecure = true;
  EXPECT_EQ(finish_options(e), "");
  e.url_texts = {"ws://127.0.0.1:8080/echo"};
  EXPECT_NE(finish_options(e), "");  // --insecure is for wss://
  e.url_texts = {"wss://127.0.0.1:8443/echo", "ws://127.0.0.1:8080/echo"};
  EXPECT_NE(finish_options(e), "");  // one scheme for every target

  Options k;
  k.mode = Mode::kKeys;
  EXPECT_NE(finish_options(k), "");
  k.key_count = 3;
  k.out_keys = "a";
  k.out_registry = "b";
  EXPECT_EQ(finish_options(k), "");
}

TEST(Options, CommandLine) {
  const char* argv[] = {"ringway-load", "echo", "--url", "ws://127.0.0.1:9000/echo",
                        "--connections", "7", "--depth", "8", "--size", "1KiB",
                        "--duration", "3s", "--warmup", "500ms", "--threads", "2",
                        "--source-addrs", "127.0.0.1-127.0.0.4", "--json", "--scopes", "a,b"};
  Options o;
  ASSERT_EQ(parse_options(int(std::size(argv)), const_cast<char**>(argv), o), ParseResult::kRun);
  EXPECT_EQ(o.connections, 7u);
  EXPECT_EQ(o.depth, 8u);
  EXPECT_EQ(o.size, 1024u);
  EXPECT_EQ(o.duration_ms, 3000u);
  EXPECT_EQ(o.warmup_ms, 500u);
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(o.source_addrs.size(), 4u);
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.scopes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.url.port, 9000);
}

TEST(Options, SeveralNodesAndProcesses) {
  // A cluster: subscribers spread over the nodes in turn, publishers on the first; the
  // nodes' CPU is summed, Redis's measured on its own.
  const char* argv[] = {"ringway-load", "fanout", "--url", "ws://127.0.0.1:9001/ws",
                        "--url", "ws://127.0.0.1:9002/ws", "--keys", "k",
                        "--connections", "4", "--server-pid", "11", "--server-pid", "12",
                        "--measure-pid", "13"};
  Options o;
  ASSERT_EQ(parse_options(int(std::size(argv)), const_cast<char**>(argv), o), ParseResult::kRun);
  ASSERT_EQ(finish_options(o), "");
  ASSERT_EQ(o.urls.size(), 2u);
  EXPECT_EQ(o.url.port, 9001);
  EXPECT_EQ(o.urls[1].port, 9002);
  EXPECT_EQ(o.url_index(0), 0u);
  EXPECT_EQ(o.url_index(1), 1u);
  EXPECT_EQ(o.url_index(3), 1u);
  EXPECT_EQ(o.url_index(4), 0u);  // the publisher
  EXPECT_EQ(o.server_pids, (std::vector<int>{11, 12}));
  EXPECT_EQ(o.other_pids, (std::vector<int>{13}));
  o.url_texts.push_back("http://127.0.0.1:1/");
  EXPECT_NE(finish_options(o).find("http://127.0.0.1:1/"), std::string::npos);
  o.url_texts.pop_back();
  o.server_pids.push_back(-1);
  EXPECT_NE(finish_options(o), "");
}

TEST(Options, FanoutDefaultsAndChecks) {
  Mode m;
  EXPECT_FALSE(parse_mode("pubsub", m));  // the reserved name is gone

  Options f;
  f.mode = Mode::kFanout;
  EXPECT_NE(finish_options(f), "");  // the ringway target's subscribers are devices: --keys
  f.keys_file = "k";
  ASSERT_EQ(finish_options(f), "");
  EXPECT_EQ(f.url.path, "/ws");
  EXPECT_EQ(f.connections, 100u);
  EXPECT_EQ(f.publishers, 1u);
  EXPECT_EQ(f.total_connections(), 101u);
  EXPECT_FALSE(f.is_publisher(99));
  EXPECT_TRUE(f.is_publisher(100));
  EXPECT_EQ(f.rate, 100.0);
  EXPECT_EQ(f.size, 100u);
  EXPECT_EQ(f.depth, 256u);
  EXPECT_EQ(f.warmup_ms, 2000u);
  EXPECT_EQ(f.channel, "bench.fanout");

  Options peer;
  peer.mode = Mode::kFanout;
  peer.target = Target::kPeer;
  ASSERT_EQ(finish_options(peer), "");
  EXPECT_EQ(peer.url.path, "/");
  peer.keys_file = "k";
  EXPECT_NE(finish_options(peer), "");  // plain connections: no keys
  peer.keys_file.clear();
  peer.token = "t";
  EXPECT_NE(finish_options(peer), "");

  Options bad;
  bad.mode = Mode::kFanout;
  bad.keys_file = "k";
  bad.channel = "no spaces";
  EXPECT_NE(finish_options(bad), "");
  bad.channel = "ok";
  bad.publishers = 0;
  EXPECT_NE(finish_options(bad), "");

  // Not a publisher outside fanout, whatever the index.
  Options echo;
  EXPECT_EQ(echo.total_connections(), echo.connections);
  EXPECT_FALSE(echo.is_publisher(1000));
}

TEST(Options, FanoutCommandLine) {
  const char* argv[] = {"ringway-load", "fanout", "--connections", "1000", "--publishers", "2",
                        "--rate", "500", "--size", "64", "--depth", "8", "--channel", "room.1",
                        "--token", "secret", "--keys", "keys", "--duration", "5s"};
  Options o;
  ASSERT_EQ(parse_options(int(std::size(argv)), const_cast<char**>(argv), o), ParseResult::kRun);
  EXPECT_EQ(o.mode, Mode::kFanout);
  EXPECT_EQ(o.target, Target::kRingway);
  EXPECT_EQ(o.connections, 1000u);
  EXPECT_EQ(o.publishers, 2u);
  EXPECT_EQ(o.total_connections(), 1002u);
  EXPECT_EQ(o.rate, 500.0);
  EXPECT_EQ(o.size, 64u);  // given: not the fanout default
  EXPECT_EQ(o.depth, 8u);
  EXPECT_EQ(o.channel, "room.1");
  EXPECT_EQ(o.token, "secret");
  EXPECT_EQ(o.duration_ms, 5000u);

  const char* peer_argv[] = {"ringway-load", "fanout", "--target", "peer", "--url",
                             "ws://127.0.0.1:9100/"};
  Options p;
  ASSERT_EQ(parse_options(int(std::size(peer_argv)), const_cast<char**>(peer_argv), p),
            ParseResult::kRun);
  EXPECT_EQ(p.target, Target::kPeer);
  EXPECT_EQ(p.size, 100u);
  EXPECT_EQ(p.url.port, 9100);

  const char* bad_argv[] = {"ringway-load", "fanout", "--target", "nats"};
  Options b;
  EXPECT_EQ(parse_options(int(std::size(bad_argv)), const_cast<char**>(bad_argv), b),
            ParseResult::kExitError);
}

TEST(ProcStats, ParsesStatLinesWithAwkwardNames) {
  std::string line =
      "1234 (ring way) (x)) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
  auto t = parse_stat_cpu_ticks(line);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, 325u);
  EXPECT_FALSE(parse_stat_cpu_ticks("garbage"));
  EXPECT_FALSE(parse_stat_cpu_ticks("1 (x) S 1 2"));
}

TEST(ProcStats, ReadsThisProcess) {
  auto rss = read_rss_kb(0);
  ASSERT_TRUE(rss);
  EXPECT_GT(*rss, 0u);
  EXPECT_TRUE(read_cpu_seconds(getpid()));
  EXPECT_FALSE(read_rss_kb(-5));
}

TEST(Report, JsonHasEveryRequiredField) {
  Report r;
  r.mode = "echo";
  r.messages = 12;
  r.p99_us = 1.5;
  r.error_reasons["recv: \"reset\""] = 2;
  std::string json = report_json(r);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  for (const char* k :
       {"mode", "connections", "depth", "size", "duration_s", "messages", "msgs_per_s",
        "server_cpu_s", "msgs_per_server_cpu_s", "p50_us", "p90_us", "p99_us", "p999_us",
        "max_us", "errors", "connects", "connects_per_s", "unavailable", "client_rss_kb",
        "server_rss_kb", "server_rss_per_conn_bytes"}) {
    EXPECT_EQ(doc[k].error(), simdjson::SUCCESS) << k;
  }
  std::string_view mode;
  ASSERT_EQ(doc["mode"].get(mode), simdjson::SUCCESS);
  EXPECT_EQ(mode, "echo");
  uint64_t messages = 0;
  ASSERT_EQ(doc["messages"].get(messages), simdjson::SUCCESS);
  EXPECT_EQ(messages, 12u);
  double p99 = 0;
  ASSERT_EQ(doc["p99_us"].get(p99), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(p99, 1.5);
  uint64_t reasons = 0;
  ASSERT_EQ(doc["error_reasons"]["recv: \"reset\""].get(reasons), simdjson::SUCCESS);
  EXPECT_EQ(reasons, 2u);
}

TEST(Report, FanoutFieldsOnlyInFanoutMode) {
  Report r;
  r.mode = "fanout";
  r.target = "peer";
  r.messages = 5000;  // deliveries
  r.msgs_per_s = 2500;
  r.msgs_per_server_cpu_s = 40000;
  r.published = 5;
  r.publish_refused = 1;
  r.lost = 3;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string json = report_json(r);
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  uint64_t u = 0;
  double d = 0;
  std::string_view target;
  ASSERT_EQ(doc["target"].get(target), simdjson::SUCCESS);
  EXPECT_EQ(target, "peer");
  ASSERT_EQ(doc["deliveries"].get(u), simdjson::SUCCESS);
  EXPECT_EQ(u, 5000u);
  ASSERT_EQ(doc["deliveries_per_s"].get(d), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(d, 2500);
  ASSERT_EQ(doc["deliveries_per_server_cpu_s"].get(d), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(d, 40000);
  ASSERT_EQ(doc["published"].get(u), simdjson::SUCCESS);
  EXPECT_EQ(u, 5u);
  ASSERT_EQ(doc["publish_refused"].get(u), simdjson::SUCCESS);
  EXPECT_EQ(u, 1u);
  ASSERT_EQ(doc["lost"].get(u), simdjson::SUCCESS);
  EXPECT_EQ(u, 3u);
  for (const char* k : {"subscribers", "subscribed", "publishers", "publish_ok",
                        "delivered_reported", "lost_total"})
    EXPECT_EQ(doc[k].error(), simdjson::SUCCESS) << k;
  EXPECT_NE(report_text(r).find("5000 deliveries"), std::string::npos) << report_text(r);

  r.mode = "echo";
  ASSERT_EQ(parser.parse(report_json(r)).get(doc), simdjson::SUCCESS);
  EXPECT_NE(doc["deliveries"].error(), simdjson::SUCCESS);
}

}  // namespace
}  // namespace ringway::load
