#include "auth/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "auth/base64url.h"
#include "auth/signature_payload.h"
#include "temp_dir.h"

namespace ringway::auth {
namespace {

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::array<uint8_t, 32> vector_seed() {
  std::array<uint8_t, 32> seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i + 1);  // 01..20
  return seed;
}

// PROTOCOL.md "Test vector (signature payload)", every step.
TEST(ProtocolTestVector, SeedToSignature) {
  const KeyPair kp = keypair_from_seed(vector_seed());
  EXPECT_EQ(hex_lower(kp.seed), "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
  EXPECT_EQ(base64url_encode(kp.public_key), "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ");

  const std::string id = device_id_hex(kp.public_key);
  EXPECT_EQ(id, "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8");

  const std::vector<std::string> scopes = {"subscribe:chat.*", "send"};
  const std::string nonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";
  const std::string payload = signature_payload(id, "device", scopes, 1767225600000, nonce);
  EXPECT_EQ(payload,
            "ringway-connect-v1\n"
            "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8\n"
            "device\n"
            "subscribe:chat.*,send\n"
            "1767225600000\n"
            "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM");

  const Signature sig = sign(kp, as_bytes(payload));
  const std::string sig_text =
      "YBL1cFo2F3BLqDoEFYlkb97k0RZA1cSdLV1mJom9pZZjM5g53e8Bxofd3Cqq1qW8nWQEyi4vB9QnPFm9IxgcBQ";
  EXPECT_EQ(base64url_encode(sig), sig_text);

  // Verify the published signature as a gateway would: decoded from its text form.
  PublicKey pub;
  Signature published;
  ASSERT_TRUE(base64url_decode("ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ", pub));
  ASSERT_TRUE(base64url_decode(sig_text, published));
  EXPECT_TRUE(verify(pub, as_bytes(payload), published));

  std::string tampered = payload;
  tampered.back() ^= 1;
  EXPECT_FALSE(verify(pub, as_bytes(tampered), published));
  EXPECT_FALSE(verify(pub, as_bytes(payload + "\n"), published));
  Signature bad = published;
  bad[10] ^= 0x40;
  EXPECT_FALSE(verify(pub, as_bytes(payload), bad));
}

TEST(Keys, GeneratedKeysDifferAndSignVerify) {
  const KeyPair a = generate_keypair();
  const KeyPair b = generate_keypair();
  EXPECT_NE(a.seed, b.seed);
  EXPECT_NE(a.public_key, b.public_key);
  EXPECT_EQ(keypair_from_seed(a.seed).public_key, a.public_key);  // seed alone recreates it
  const std::string msg = "hello";
  const Signature s = sign(a, as_bytes(msg));
  EXPECT_TRUE(verify(a.public_key, as_bytes(msg), s));
  EXPECT_FALSE(verify(b.public_key, as_bytes(msg), s));
}

TEST(Keys, DeviceIdBytesAndHexAgree) {
  const KeyPair kp = keypair_from_seed(vector_seed());
  std::array<uint8_t, 32> parsed{};
  ASSERT_TRUE(parse_device_id_hex(device_id_hex(kp.public_key), parsed));
  EXPECT_EQ(parsed, device_id_bytes(kp.public_key));
}

TEST(Keys, ParseDeviceIdHexIsStrict) {
  const std::string good = "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8";
  std::array<uint8_t, 32> id{};
  ASSERT_TRUE(parse_device_id_hex(good, id));
  EXPECT_EQ(id[0], 0x65);
  EXPECT_EQ(id[31], 0xb8);
  EXPECT_FALSE(parse_device_id_hex(good.substr(0, 63), id));
  EXPECT_FALSE(parse_device_id_hex(good + "0", id));
  EXPECT_FALSE(parse_device_id_hex("", id));
  std::string upper = good;
  upper[2] = 'B';
  EXPECT_FALSE(parse_device_id_hex(upper, id));
  for (char c : std::string("g-x :\0", 6)) {
    std::string bad = good;
    bad[40] = c;
    EXPECT_FALSE(parse_device_id_hex(bad, id)) << int(c);
  }
  EXPECT_TRUE(parse_device_id_hex(std::string(64, 'f'), id));
  for (uint8_t b : id) EXPECT_EQ(b, 0xff);
}

TEST(Keys, RandomNonceIs32BytesBase64UrlAndFresh) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string n = random_nonce();
    EXPECT_EQ(n.size(), kNonceChars);
    std::array<uint8_t, kNonceBytes> raw;
    EXPECT_TRUE(base64url_decode(n, raw));
    seen.insert(n);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Keys, RegistryLine) {
  const KeyPair kp = keypair_from_seed(vector_seed());
  EXPECT_EQ(registry_line(kp, {}), "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ");
  const std::vector<std::string> scopes = {"subscribe:chat.*", "send"};
  EXPECT_EQ(registry_line(kp, scopes),
            "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ subscribe:chat.*,send");
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(KeyFile, WritesMode0600AndReadsBack) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("device.key");
  const KeyPair kp = keypair_from_seed(vector_seed());
  std::string err;
  const mode_t old_umask = ::umask(0);  // 0600 must come from open(), not from the umask
  const bool wrote = write_private_key_file(path, kp, err);
  ::umask(old_umask);
  ASSERT_TRUE(wrote) << err;

  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(read_all(path),
            "ringway-ed25519-seed " + base64url_encode(kp.seed) + "\n");

  KeyPair back{};
  ASSERT_TRUE(read_private_key_file(path, back, err)) << err;
  EXPECT_EQ(back.seed, kp.seed);
  EXPECT_EQ(back.public_key, kp.public_key);
  EXPECT_EQ(back.private_key, kp.private_key);
}

TEST(KeyFile, NeverOverwritesAnExistingFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.write("device.key", "keep me", 0600);
  std::string err;
  EXPECT_FALSE(write_private_key_file(path, generate_keypair(), err));
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_EQ(read_all(path), "keep me");
}

TEST(KeyFile, RefusesGroupOrWorldAccessibleFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const KeyPair kp = keypair_from_seed(vector_seed());
  const std::string line = "ringway-ed25519-seed " + base64url_encode(kp.seed) + "\n";
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    const std::string path = dir.write("k" + std::to_string(mode), line, mode);
    KeyPair out{};
    std::string err;
    EXPECT_FALSE(read_private_key_file(path, out, err)) << std::oct << mode;
    EXPECT_NE(err.find("too open"), std::string::npos) << err;
    EXPECT_NE(err.find("chmod 600"), std::string::npos) << err;
  }
  const std::string ok_path = dir.write("ok", line, 0400);
  KeyPair out{};
  std::string err;
  EXPECT_TRUE(read_private_key_file(ok_path, out, err)) << err;
  EXPECT_EQ(out.public_key, kp.public_key);
}

TEST(KeyFile, RejectsMalformedContent) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string seed = base64url_encode(vector_seed());
  const std::vector<std::string> bad = {
      "",
      "ringway-ed25519-seed",
      "ringway-ed25519-seed " + seed + "\n\n",
      "ringway-ed25519-seed  " + seed,
      "ringway-ed25519-seedx" + seed,
      "ringway-x25519-seed " + seed,
      "ringway-ed25519-seed " + seed.substr(1),
      "ringway-ed25519-seed " + seed + "=",
      std::string(kMaxKeyFileBytes + 1, 'a'),
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string path = dir.write("bad" + std::to_string(i), bad[i], 0600);
    KeyPair out{};
    std::string err;
    EXPECT_FALSE(read_private_key_file(path, out, err)) << i;
    EXPECT_NE(err.find("not a ringway key file"), std::string::npos) << err;
  }
  // Without the trailing newline is fine (hand-made files).
  const std::string path = dir.write("nonl", "ringway-ed25519-seed " + seed, 0600);
  KeyPair out{};
  std::string err;
  EXPECT_TRUE(read_private_key_file(path, out, err)) << err;
}

TEST(KeyFile, MissingFileNamesThePath) {
  KeyPair out{};
  std::string err;
  EXPECT_FALSE(read_private_key_file("/nonexistent/ringway.key", out, err));
  EXPECT_NE(err.find("/nonexistent/ringway.key"), std::string::npos);
}

}  // namespace
}  // namespace ringway::auth
