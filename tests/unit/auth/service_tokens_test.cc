#include "auth/service_tokens.h"

#include <gtest/gtest.h>

#include "auth/scopes.h"
#include "temp_dir.h"

namespace ringway::auth {
namespace {

using Scopes = std::vector<std::string>;

std::string error_of(std::string_view text) {
  const auto r = ServiceTokens::parse(text, "tokens.txt");
  EXPECT_EQ(r.tokens, nullptr);
  return r.error;
}

TEST(TokenDigest, IsLowercaseHexSha256) {
  EXPECT_EQ(token_digest_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(token_digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ServiceTokens, MatchesByTokenDigest) {
  const std::string text = "# services\n"
                           "billing " + token_digest_hex("s3cret-billing") + " publish:billing.*,send\n"
                           "\n"
                           "audit " + token_digest_hex("s3cret-audit") + "   # no scopes\n";
  const auto r = ServiceTokens::parse(text, "tokens.txt");
  ASSERT_NE(r.tokens, nullptr) << r.error;
  EXPECT_EQ(r.tokens->size(), 2u);

  const ServiceEntry* billing = r.tokens->match("s3cret-billing");
  ASSERT_NE(billing, nullptr);
  EXPECT_EQ(billing->name, "billing");
  EXPECT_EQ(billing->scopes, (Scopes{"publish:billing.*", "send"}));
  const ServiceEntry* audit = r.tokens->match("s3cret-audit");
  ASSERT_NE(audit, nullptr);
  EXPECT_EQ(audit->name, "audit");
  EXPECT_TRUE(audit->scopes.empty());

  EXPECT_EQ(r.tokens->match("s3cret-billing "), nullptr);
  EXPECT_EQ(r.tokens->match("S3cret-billing"), nullptr);
  EXPECT_EQ(r.tokens->match(token_digest_hex("s3cret-billing")), nullptr);  // the digest is no token
  EXPECT_EQ(r.tokens->match(""), nullptr);
  EXPECT_EQ(r.tokens->find_by_name("audit"), audit);
  EXPECT_EQ(r.tokens->find_by_name("nobody"), nullptr);
}

TEST(ServiceTokens, OverlongTokensNeverMatch) {
  const std::string token(kMaxTokenBytes + 1, 't');
  const auto r = ServiceTokens::parse("big " + token_digest_hex(token) + "\n"
                                      "edge " + token_digest_hex(token.substr(1)) + "\n", "x");
  ASSERT_NE(r.tokens, nullptr) << r.error;
  EXPECT_EQ(r.tokens->match(token), nullptr);
  EXPECT_NE(r.tokens->match(token.substr(1)), nullptr);
}

TEST(ServiceTokensErrors, EachNamesFileAndLine) {
  const std::string d1 = token_digest_hex("one"), d2 = token_digest_hex("two");
  EXPECT_EQ(error_of("svc\n"), "tokens.txt:1: expected '<name> <sha256 hex> [scopes]'");
  EXPECT_EQ(error_of("\nsvc " + d1.substr(1) + "\n"),
            "tokens.txt:2: bad token digest (expected 64 lowercase hex digits of SHA-256)");
  std::string upper = d1;
  upper[0] = 'A';
  upper[1] = 'B';
  EXPECT_EQ(error_of("svc " + upper).rfind("tokens.txt:1: bad token digest", 0), 0u);
  EXPECT_EQ(error_of("svc  " + d1).rfind("tokens.txt:1: bad token digest", 0), 0u);
  EXPECT_EQ(error_of("bad/name " + d1), "tokens.txt:1: bad service name (1-64 of [A-Za-z0-9._-])");
  EXPECT_EQ(error_of(std::string(kMaxServiceNameLength + 1, 'n') + " " + d1)
                .rfind("tokens.txt:1: bad service name", 0), 0u);
  EXPECT_NE(ServiceTokens::parse(std::string(kMaxServiceNameLength, 'n') + " " + d1, "x").tokens,
            nullptr);
  EXPECT_EQ(error_of("svc " + d1 + " send,x*y"), "tokens.txt:1: bad scope 'x*y'");
  EXPECT_EQ(error_of("a " + d1 + "\nb " + d2 + "\na " + token_digest_hex("three") + "\n"),
            "tokens.txt:3: duplicate service name");
  EXPECT_EQ(error_of("a " + d1 + "\nb " + d1 + "\n"), "tokens.txt:2: duplicate token digest");
  EXPECT_EQ(error_of("a " + d1 + " " + std::string(kMaxServiceTokensLineBytes, 's')),
            "tokens.txt:1: line over 4096 bytes");
}

TEST(ServiceTokensErrors, TooManyScopesAndServices) {
  std::string csv;
  for (size_t i = 0; i <= kMaxScopes; ++i) csv += (i ? ",s:c" : "s:c") + std::to_string(i);
  EXPECT_EQ(error_of("a " + token_digest_hex("t") + " " + csv),
            "tokens.txt:1: too many scopes (max 32)");

  std::string text;
  for (size_t i = 0; i < kMaxServices; ++i)
    text += "s" + std::to_string(i) + " " + token_digest_hex(std::to_string(i)) + "\n";
  const auto ok = ServiceTokens::parse(text, "x");
  ASSERT_NE(ok.tokens, nullptr) << ok.error;
  EXPECT_EQ(ok.tokens->size(), kMaxServices);
  EXPECT_NE(ok.tokens->match("1023"), nullptr);
  EXPECT_EQ(error_of(text + "last " + token_digest_hex("last") + "\n"),
            "tokens.txt:1025: too many services (max 1024)");
}

TEST(ServiceTokensFile, LoadsAndNamesPathInErrors) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.write("tokens", "svc " + token_digest_hex("tok") + " send\n", 0600);
  const auto r = ServiceTokens::load_file(path);
  ASSERT_NE(r.tokens, nullptr) << r.error;
  EXPECT_NE(r.tokens->match("tok"), nullptr);
  const std::string bad = dir.write("bad", "svc\n", 0600);
  EXPECT_EQ(ServiceTokens::load_file(bad).error,
            bad + ":1: expected '<name> <sha256 hex> [scopes]'");
  EXPECT_EQ(ServiceTokens::load_file(dir.file("none")).tokens, nullptr);
}

TEST(ServiceTokensFile, RefusesFileOverSizeLimit) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string line = "svc " + token_digest_hex("tok") + "\n";
  std::string text(kMaxServiceTokensFileBytes - line.size(), '\n');
  text += line;
  const std::string at_limit = dir.write("at_limit", text, 0600);
  const auto ok = ServiceTokens::load_file(at_limit);
  ASSERT_NE(ok.tokens, nullptr) << ok.error;
  EXPECT_NE(ok.tokens->match("tok"), nullptr);
  const std::string over = dir.write("over", text + "\n", 0600);
  const auto r = ServiceTokens::load_file(over);
  EXPECT_EQ(r.tokens, nullptr);
  EXPECT_NE(r.error.find("over the limit of 1048576"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace ringway::auth
