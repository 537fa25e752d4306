// The option table, the TOML file and the printed settings.
#include "config/config_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "config/options.h"

namespace ringway::config {
namespace {

TEST(Options, KeysAndFlagsAreUnique) {
  std::set<std::string> keys, flags;
  for (const Option& o : options()) {
    EXPECT_TRUE(keys.insert(o.key).second) << o.key;
    EXPECT_TRUE(flags.insert(o.flag).second) << o.flag;
  }
}

TEST(ConfigFile, TopLevelSectionsUnitsAndIntegers) {
  Config c;
  std::string err;
  ASSERT_TRUE(load_text(R"(
listen = "0.0.0.0:9000"
workers = 3
[timeouts]
idle = "2m"
ping_interval = 20000       # an integer is milliseconds
[limits]
max_buffered = "8MiB"
max_message_size = 65536    # an integer is bytes
[routes]
echo = false
[tcp]
keepalive_idle = 30
)", "t.toml", c, err)) << err;
  EXPECT_EQ(c.listen, std::vector<std::string>{"0.0.0.0:9000"});
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.idle_timeout_ms, 120000u);
  EXPECT_EQ(c.ping_interval_ms, 20000u);
  EXPECT_EQ(c.max_buffered, size_t(8) << 20);
  EXPECT_EQ(c.max_message_size, 65536u);
  EXPECT_FALSE(c.echo_route);
  EXPECT_EQ(c.tcp_keepalive_idle_s, 30);
  Config lists;
  ASSERT_TRUE(load_text("listen = [\"127.0.0.1:80\", \"[::1]:443,tls\"]\n[tls]\nsni = \"a=c,k\"\n",
                        "l.toml", lists, err)) << err;
  EXPECT_EQ(lists.listen, (std::vector<std::string>{"127.0.0.1:80", "[::1]:443,tls"}));
  EXPECT_EQ(lists.tls_sni, std::vector<std::string>{"a=c,k"});
  EXPECT_EQ(c.close_timeout_ms, Config{}.close_timeout_ms);  // untouched
}

void expect_error(std::string_view text, std::string_view want) {
  Config c;
  std::string err;
  EXPECT_FALSE(load_text(text, "f.toml", c, err)) << text;
  EXPECT_EQ(err, want) << text;
}

TEST(ConfigFile, ErrorsNameFileLineAndKey) {
  expect_error("listen = \"x\"\n\n[timeouts]\nidel = \"2m\"\n", "f.toml:4: unknown key 'timeouts.idel'");
  expect_error("colour = 1\n", "f.toml:1: unknown key 'colour'");
  expect_error("[a.b]\nc = 1\n", "f.toml:1: unknown key 'a.b'");
  expect_error("workers = \"two\"\n", "f.toml:1: workers: expected a non-negative integer");
  expect_error("workers = -1\n", "f.toml:1: workers: must not be negative");
  expect_error("workers = 99999999999\n", "f.toml:1: workers: too large (at most 4294967295)");
  expect_error("[timeouts]\nidle = \"ten\"\n",
               "f.toml:2: timeouts.idle: expected a duration like 250ms, 10s, 2m");
  expect_error("[limits]\nmax_buffered = true\n", "f.toml:2: limits.max_buffered: expected a number");
  expect_error("[routes]\necho = 1\n", "f.toml:2: routes.echo: expected true or false");
  expect_error("listen = 5\n", "f.toml:1: listen: expected a string");
  expect_error("listen = [1]\n", "f.toml:1: listen: expected an array of strings");
  expect_error("[routes]\nws_path = [1]\n",
               "f.toml:2: routes.ws_path: expected a string, an integer or a boolean");
  Config c;
  std::string err;
  EXPECT_FALSE(load_text("listen = \n", "f.toml", c, err));
  EXPECT_EQ(err.rfind("f.toml:1: ", 0), 0u) << err;
}

TEST(ConfigFile, PrintedSettingsReadBackToTheSame) {
  Config c;
  std::string err;
  ASSERT_TRUE(load_text("workers = 2\n[timeouts]\nidle = \"45s\"\nclose = \"1500ms\"\n"
                        "[limits]\nmax_buffered = \"3MiB\"\n[log]\nlevel = \"debug\"\n",
                        "in", c, err)) << err;
  std::string printed = to_toml(c);
  Config back;
  ASSERT_TRUE(load_text(printed, "printed", back, err)) << err << "\n" << printed;
  for (const Option& o : options()) EXPECT_TRUE(equal_values(o, c, back)) << o.key;
  // The derived idle timeout stays derived.
  std::string plain = to_toml(Config{});
  Config back2;
  ASSERT_TRUE(load_text(plain, "plain", back2, err)) << err;
  EXPECT_FALSE(back2.idle_timeout_ms.has_value());
}

TEST(ConfigFile, DocsListEverySettingAsThisBuildPrintsIt) {
  std::ifstream in(std::string(RINGWAY_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md";
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_NE(s.str().find(reference_markdown()), std::string::npos)
      << "docs/configuration.md is out of date: paste `ringway config-reference` into it";
}

}  // namespace
}  // namespace ringway::config
