#include "ringway/client.h"

#include <gtest/gtest.h>

#include "auth/registry.h"
#include "auth/verify.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"

namespace ringway::client {
namespace {

std::array<uint8_t, 32> vector_seed() {
  std::array<uint8_t, 32> s{};
  for (int i = 0; i < 32; ++i) s[i] = uint8_t(i + 1);
  return s;
}

TEST(Client, IdentityMatchesTheProtocolTestVector) {
  DeviceIdentity id = identity_from_seed(vector_seed());
  EXPECT_EQ(id.public_key_base64url, "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ");
  EXPECT_EQ(id.device_id, "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8");
}

TEST(Client, ConnectRequestIsAcceptedByTheGatewayParserAndVerifier) {
  DeviceIdentity id = identity_from_seed(vector_seed());
  std::vector<std::string> scopes{"subscribe:chat.*", "send"};
  std::string nonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";
  std::string req = device_connect_request(id, nonce, scopes, 1767225600000, "1");
  auto parsed = gateway::parse_connect(req);
  ASSERT_TRUE(parsed.ok) << parsed.error.message;
  EXPECT_EQ(parsed.request.device_id, id.device_id);
  EXPECT_EQ(parsed.request.scopes, scopes);

  auto reg = auth::DeviceRegistry::parse(registry_line(id, scopes), "test").registry;
  ASSERT_TRUE(reg);
  auth::Credentials c;
  c.scopes = parsed.request.scopes;
  c.device_id = parsed.request.device_id;
  c.public_key = parsed.request.public_key;
  c.signature = parsed.request.signature;
  c.signed_at_ms = parsed.request.signed_at_ms;
  c.nonce = parsed.request.nonce;
  auth::Verdict v = auth::verify_credentials(c, nonce, 1767225600000 + 1000, reg.get(), nullptr);
  EXPECT_TRUE(v.ok()) << v.code << ": " << v.message;
  EXPECT_EQ(v.granted_scopes, scopes);
  // The same proof against another connection's nonce is refused.
  v = auth::verify_credentials(c, "AAAA" + nonce.substr(4), 1767225600000, reg.get(), nullptr);
  EXPECT_STREQ(v.code, "NONCE_MISMATCH");
}

TEST(Client, ServiceConnectRequestParses) {
  std::vector<std::string> scopes{"publish:*"};
  auto parsed = gateway::parse_connect(service_connect_request("s3cret\"token", scopes, "7"));
  ASSERT_TRUE(parsed.ok) << parsed.error.message;
  EXPECT_EQ(parsed.request.token, "s3cret\"token");
  EXPECT_EQ(parsed.request.id, "7");
}

TEST(Client, ReadsChallengeHelloAndErrors) {
  EXPECT_EQ(parse_challenge(gateway::challenge_event("abc", 5)), "abc");
  EXPECT_FALSE(parse_challenge("{\"type\":\"event\",\"event\":\"message\"}"));
  EXPECT_FALSE(parse_challenge("not json"));

  std::vector<std::string> granted{"send"};
  gateway::HelloInfo h;
  h.server_version = "0.1.0";
  h.conn_id = "0-1-2";
  h.role = "device";
  h.device_id = "ab";
  h.scopes = granted;
  h.max_payload = 1;
  h.max_buffered = 2;
  h.ping_interval_ms = 3;
  h.idle_timeout_ms = 4;
  ConnectResponse r = parse_connect_response(gateway::hello_response("1", h));
  ASSERT_TRUE(r.parsed);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.conn_id, "0-1-2");
  EXPECT_EQ(r.scopes, granted);
  EXPECT_EQ(r.idle_timeout_ms, 4u);

  r = parse_connect_response(gateway::error_response("1", "UNAVAILABLE", "busy", true, 750));
  ASSERT_TRUE(r.parsed);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.code, "UNAVAILABLE");
  EXPECT_TRUE(r.retryable);
  EXPECT_EQ(r.retry_after_ms, 750u);
}

}  // namespace
}  // namespace ringway::client
