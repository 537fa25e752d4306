#include "auth/registry.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "auth/base64url.h"
#include "auth/scopes.h"
#include "temp_dir.h"

namespace ringway::auth {
namespace {

using Scopes = std::vector<std::string>;

// Registry keys need not be valid curve points to be loaded, so tests use cheap distinct bytes.
PublicKey test_key(uint32_t i) {
  PublicKey k{};
  for (size_t j = 0; j < k.size(); ++j) k[j] = static_cast<uint8_t>((i >> (8 * (j % 4))) + j * 7);
  return k;
}
std::string key_text(uint32_t i) { return base64url_encode(test_key(i)); }

Scopes scopes_of(const DeviceEntry* e) { return {e->scopes().begin(), e->scopes().end()}; }

std::string error_of(std::string_view text) {
  const auto r = DeviceRegistry::parse(text, "devices.txt");
  EXPECT_EQ(r.registry, nullptr);
  return r.error;
}

TEST(Registry, ParsesKeysScopesCommentsAndBlanks) {
  const std::string text = "# devices\n"
                           "\n" +
                           key_text(1) + "\n" +
                           key_text(2) + " subscribe:chat.*,send\n"
                           "   # indented comment\n" +
                           key_text(3) + " send # trailing comment\n" +
                           key_text(4) + "\r\n"  // CRLF files work
                           "\t\n";
  const auto r = DeviceRegistry::parse(text, "devices.txt");
  ASSERT_NE(r.registry, nullptr) << r.error;
  EXPECT_EQ(r.error, "");
  const DeviceRegistry& reg = *r.registry;
  EXPECT_EQ(reg.size(), 4u);

  const DeviceEntry* e2 = reg.find(device_id_bytes(test_key(2)));
  ASSERT_NE(e2, nullptr);
  EXPECT_EQ(e2->public_key, test_key(2));
  EXPECT_EQ(e2->device_id, device_id_bytes(test_key(2)));
  EXPECT_EQ(scopes_of(e2), (Scopes{"send", "subscribe:chat.*"}));  // sorted
  EXPECT_EQ(scopes_of(reg.find(device_id_bytes(test_key(1)))), Scopes{});
  EXPECT_EQ(scopes_of(reg.find(device_id_bytes(test_key(3)))), Scopes{"send"});
  EXPECT_NE(reg.find(device_id_bytes(test_key(4))), nullptr);
  EXPECT_EQ(reg.find(device_id_bytes(test_key(5))), nullptr);
  EXPECT_EQ(reg.find(DeviceId{}), nullptr);
}

TEST(Registry, EmptyTextIsAnEmptyRegistry) {
  for (std::string_view text : {"", "\n", "# nothing\n\n"}) {
    const auto r = DeviceRegistry::parse(text, "x");
    ASSERT_NE(r.registry, nullptr) << r.error;
    EXPECT_EQ(r.registry->size(), 0u);
    EXPECT_EQ(r.registry->find(device_id_bytes(test_key(1))), nullptr);
  }
}

TEST(Registry, FindsEveryDeviceOfALargerTable) {
  std::string text;
  for (uint32_t i = 0; i < 5000; ++i) text += key_text(i) + (i % 2 ? " send\n" : "\n");
  const auto r = DeviceRegistry::parse(text, "x");
  ASSERT_NE(r.registry, nullptr) << r.error;
  ASSERT_EQ(r.registry->size(), 5000u);
  for (uint32_t i = 0; i < 5000; ++i) {
    const DeviceEntry* e = r.registry->find(device_id_bytes(test_key(i)));
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->public_key, test_key(i));
    EXPECT_EQ(e->scopes().size(), i % 2);
  }
  for (uint32_t i = 5000; i < 6000; ++i)
    EXPECT_EQ(r.registry->find(device_id_bytes(test_key(i))), nullptr);
  EXPECT_EQ(r.registry->entries().size(), 5000u);
  EXPECT_EQ(r.registry->entries()[7].public_key, test_key(7));  // file order
}

TEST(Registry, ScopeListsAreInternedAndCanonical) {
  const std::string text = key_text(1) + " send,subscribe:a\n" + key_text(2) +
                           " subscribe:a,send\n" + key_text(3) + " send,subscribe:a,send\n" +
                           key_text(4) + " send,subscribe:a\n" + key_text(5) + " send\n" +
                           key_text(6) + "\n";
  const auto r = DeviceRegistry::parse(text, "x");
  ASSERT_NE(r.registry, nullptr) << r.error;
  const auto& reg = *r.registry;
  const auto s1 = reg.find(device_id_bytes(test_key(1)))->scopes();
  for (uint32_t i : {2u, 3u, 4u}) {
    const auto s = reg.find(device_id_bytes(test_key(i)))->scopes();
    EXPECT_EQ(s.data(), s1.data()) << i;  // the same list object
  }
  EXPECT_EQ(scopes_of(reg.find(device_id_bytes(test_key(3)))), (Scopes{"send", "subscribe:a"}));
  EXPECT_EQ(reg.distinct_scope_lists(), 3u);  // empty, {send}, {send, subscribe:a}
}

TEST(RegistryErrors, EachNamesFileAndLine) {
  const std::string k = key_text(1);
  EXPECT_EQ(error_of("# c\n\nnot-a-key\n"),
            "devices.txt:3: bad key (expected base64url of a raw 32-byte Ed25519 public key)");
  EXPECT_EQ(error_of(k.substr(1) + "\n").substr(0, 18), "devices.txt:1: bad");
  EXPECT_EQ(error_of(k + "=\n").rfind("devices.txt:1: bad key", 0), 0u);  // padding
  std::string plus = k;
  plus[3] = '+';
  EXPECT_EQ(error_of(plus).rfind("devices.txt:1: bad key", 0), 0u);
  EXPECT_EQ(error_of(k + "\t send\n").rfind("devices.txt:1: bad key", 0), 0u);  // tab
  EXPECT_EQ(error_of(k + "#x\n").rfind("devices.txt:1: bad key", 0), 0u);  // not a comment
  EXPECT_EQ(error_of(k + "\n" + key_text(2) + " subscribe:a*b\n"),
            "devices.txt:2: bad scope 'subscribe:a*b'");
  EXPECT_EQ(error_of(k + "  send\n"), "devices.txt:1: bad scope ' send'");
  EXPECT_EQ(error_of(k + " send,\n"), "devices.txt:1: bad scope ''");
  EXPECT_EQ(error_of(k + " send\n" + key_text(2) + "\n" + k + "\n"),
            "devices.txt:3: duplicate key");
}

TEST(RegistryErrors, TooManyScopes) {
  std::string csv;
  for (size_t i = 0; i < kMaxScopes; ++i) csv += (i ? ",s:c" : "s:c") + std::to_string(i);
  const std::string ok = key_text(1) + " " + csv + "\n";
  EXPECT_NE(DeviceRegistry::parse(ok, "x").registry, nullptr);
  EXPECT_EQ(error_of("\n" + key_text(1) + " " + csv + ",s:more\n"),
            "devices.txt:2: too many scopes (max 32)");
}

TEST(RegistryErrors, LineOverLimit) {
  // A line of exactly kMaxRegistryLineBytes is fine (here padded with a comment).
  std::string line = key_text(1) + " # ";
  line += std::string(kMaxRegistryLineBytes - line.size(), 'x');
  ASSERT_EQ(line.size(), kMaxRegistryLineBytes);
  EXPECT_NE(DeviceRegistry::parse(line + "\n", "x").registry, nullptr);
  EXPECT_EQ(error_of("\n\n" + line + "x\n"), "devices.txt:3: line over 4096 bytes");
  EXPECT_EQ(error_of("#" + std::string(kMaxRegistryLineBytes, 'c')),
            "devices.txt:1: line over 4096 bytes");
}

TEST(RegistryFile, LoadsAndReportsPathInErrors) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string good = dir.write("devices", key_text(1) + " send\n");
  const auto r = DeviceRegistry::load_file(good);
  ASSERT_NE(r.registry, nullptr) << r.error;
  EXPECT_EQ(r.registry->size(), 1u);

  const std::string bad = dir.write("bad", key_text(1) + "\nzz\n");
  EXPECT_EQ(DeviceRegistry::load_file(bad).error, bad + ":2: bad key (expected base64url of a "
                                                        "raw 32-byte Ed25519 public key)");

  const auto missing = DeviceRegistry::load_file(dir.file("missing"));
  EXPECT_EQ(missing.registry, nullptr);
  EXPECT_NE(missing.error.find(dir.file("missing")), std::string::npos) << missing.error;
}

TEST(RegistryFile, RefusesFileOverSizeLimitWithoutReadingIt) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("huge");
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kMaxRegistryFileBytes) + 1), 0);  // sparse
  ::close(fd);
  const auto r = DeviceRegistry::load_file(path);
  EXPECT_EQ(r.registry, nullptr);
  EXPECT_NE(r.error.find("over the limit"), std::string::npos) << r.error;
}

TEST(Registry, RemovedSince) {
  auto older = DeviceRegistry::parse(key_text(1) + "\n" + key_text(2) + "\n" + key_text(3) + "\n", "a");
  auto newer = DeviceRegistry::parse(key_text(3) + " send\n" + key_text(4) + "\n" + key_text(1) + "\n", "b");
  ASSERT_NE(older.registry, nullptr);
  ASSERT_NE(newer.registry, nullptr);
  EXPECT_EQ(newer.registry->removed_since(*older.registry),
            std::vector<DeviceId>{device_id_bytes(test_key(2))});
  EXPECT_EQ(older.registry->removed_since(*newer.registry),
            std::vector<DeviceId>{device_id_bytes(test_key(4))});
  EXPECT_TRUE(older.registry->removed_since(*older.registry).empty());
  auto empty = DeviceRegistry::parse("", "c");
  EXPECT_EQ(empty.registry->removed_since(*older.registry).size(), 3u);
}

// 200k devices in a few shared scope lists: every line loaded, scope lists shared, and memory
// per device bounded. How fast it loads is a benchmark (bench/auth_bench.cc, BM_RegistryLoad1M).
TEST(RegistryFile, Loads200kLinesInLittleMemory) {
  constexpr uint32_t kDevices = 200000;
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const char* lists[] = {"", " send", " subscribe:chat.*,send", " publish:telemetry.*,send"};
  std::string text;
  text.reserve(kDevices * 70);
  for (uint32_t i = 0; i < kDevices; ++i) {
    text += key_text(i);
    text += lists[i % 4];
    text += '\n';
  }
  const std::string path = dir.write("devices", text);
  text.clear();

  const auto r = DeviceRegistry::load_file(path);
  ASSERT_NE(r.registry, nullptr) << r.error;
  ASSERT_EQ(r.registry->size(), kDevices);
  EXPECT_EQ(r.registry->distinct_scope_lists(), 4u);
  EXPECT_NE(r.registry->find(device_id_bytes(test_key(kDevices - 1))), nullptr);
  const double per_device = double(r.registry->memory_bytes()) / kDevices;
  EXPECT_LT(per_device, 100.0);
}

}  // namespace
}  // namespace ringway::auth
