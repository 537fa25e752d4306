#include "load/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "auth/base64url.h"
#include "auth/registry.h"

namespace ringway::load {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/ringway-load-test-XXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "/tmp";
}

Seed test_seed() {
  Seed s;
  for (int i = 0; i < 32; ++i) s[i] = uint8_t(i + 1);
  return s;
}

TEST(Keys, IdentityMatchesTheProtocolTestVector) {
  LoadIdentity id = identity_from_seed(test_seed());
  EXPECT_EQ(id.public_key_base64url, "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ");
  EXPECT_EQ(id.device_id, "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8");
}

TEST(Keys, ConnectRequestIsByteForByteTheClientLibrarys) {
  Seed seed = test_seed();
  LoadIdentity id = identity_from_seed(seed);
  client::DeviceIdentity lib = client::identity_from_seed(seed);
  client::ClientInfo info = load_client_info();
  std::string nonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";
  for (const std::vector<std::string>& scopes :
       {std::vector<std::string>{}, std::vector<std::string>{"subscribe:chat.*", "send"}}) {
    std::string mine;
    append_connect_request(mine, id, nonce, scopes, 1767225600000, "1", info);
    EXPECT_EQ(mine, client::device_connect_request(lib, nonce, scopes, 1767225600000, "1", info));
  }
  // The protocol's signature for its vector appears in the request.
  std::string req;
  std::vector<std::string> scopes{"subscribe:chat.*", "send"};
  append_connect_request(req, id, nonce, scopes, 1767225600000, "1", info);
  EXPECT_NE(req.find("YBL1cFo2F3BLqDoEFYlkb97k0RZA1cSdLV1mJom9pZZjM5g53e8Bxofd3Cqq1qW8nWQEyi4vB9QnPFm9IxgcBQ"),
            std::string::npos);
}

TEST(Keys, FilesRoundTripAndTheRegistryLoads) {
  std::string dir = temp_dir();
  std::string keys = dir + "/keys", reg = dir + "/registry";
  std::vector<std::string> scopes{"send", "subscribe:chat.*"};
  std::string err;
  ASSERT_TRUE(write_key_files(25, scopes, keys, reg, err)) << err;
  struct stat st {};
  ASSERT_EQ(stat(keys.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // seeds are secrets
  std::vector<Seed> seeds;
  ASSERT_TRUE(read_key_seeds(keys, seeds, err)) << err;
  ASSERT_EQ(seeds.size(), 25u);
  auto ids = expand_identities(seeds, 3);
  ASSERT_EQ(ids.size(), 25u);
  std::ifstream in(reg);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(n, ids.size());
    EXPECT_EQ(line, ids[n].public_key_base64url + " send,subscribe:chat.*");
    ++n;
  }
  EXPECT_EQ(n, 25u);
  auto loaded = auth::DeviceRegistry::load_file(reg);
  EXPECT_TRUE(loaded.registry) << loaded.error;
  std::remove(keys.c_str());
  std::remove(reg.c_str());
  rmdir(dir.c_str());
}

TEST(Keys, ReadRefusesGarbageAndSkipsComments) {
  std::string dir = temp_dir();
  std::string path = dir + "/k";
  {
    std::ofstream out(path);
    out << "# comment\n\n" << auth::base64url_encode(test_seed()) << "\n";
  }
  std::vector<Seed> seeds;
  std::string err;
  ASSERT_TRUE(read_key_seeds(path, seeds, err)) << err;
  ASSERT_EQ(seeds.size(), 1u);
  EXPECT_EQ(seeds[0], test_seed());
  {
    std::ofstream out(path);
    out << "not-a-seed\n";
  }
  EXPECT_FALSE(read_key_seeds(path, seeds, err));
  EXPECT_NE(err.find(":1:"), std::string::npos);
  {
    std::ofstream out(path);
    out << "# only a comment\n";
  }
  EXPECT_FALSE(read_key_seeds(path, seeds, err));
  EXPECT_FALSE(read_key_seeds(dir + "/missing", seeds, err));
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace ringway::load
