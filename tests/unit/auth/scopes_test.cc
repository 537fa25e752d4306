#include "auth/scopes.h"

#include <gtest/gtest.h>

namespace ringway::auth {
namespace {

using Scopes = std::vector<std::string>;

TEST(Channel, Syntax) {
  EXPECT_TRUE(valid_channel("a"));
  EXPECT_TRUE(valid_channel("chat.room-1_x:y"));
  EXPECT_TRUE(valid_channel("device:65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8"));
  EXPECT_TRUE(valid_channel(std::string(kMaxChannelLength, 'c')));
  EXPECT_FALSE(valid_channel(std::string(kMaxChannelLength + 1, 'c')));
  EXPECT_FALSE(valid_channel(""));
  for (char c : std::string("*, /#\n\t+@\x7f\0", 12)) {
    EXPECT_FALSE(valid_channel(std::string("a") + c)) << int(c);
  }
  EXPECT_FALSE(valid_channel("caf\xc3\xa9"));
}

TEST(Scope, Syntax) {
  EXPECT_TRUE(valid_scope("send"));
  EXPECT_TRUE(valid_scope("subscribe:chat.*"));
  EXPECT_TRUE(valid_scope("subscribe:chat.room1"));
  EXPECT_TRUE(valid_scope("publish:*"));
  EXPECT_TRUE(valid_scope("publish:device:abc"));  // the verb ends at the first ':'
  EXPECT_TRUE(valid_scope("publish:a:*"));
  EXPECT_TRUE(valid_scope("x"));

  EXPECT_FALSE(valid_scope(""));
  EXPECT_FALSE(valid_scope(":chat"));
  EXPECT_FALSE(valid_scope("subscribe:"));
  EXPECT_FALSE(valid_scope("Subscribe:chat"));
  EXPECT_FALSE(valid_scope("1send"));
  EXPECT_FALSE(valid_scope("send2"));
  EXPECT_FALSE(valid_scope("x-y:chat"));
  EXPECT_FALSE(valid_scope("send,publish:x"));  // ',' would break the signed scope line
  EXPECT_FALSE(valid_scope("send\n"));
  EXPECT_FALSE(valid_scope("sub scribe:x"));
  EXPECT_FALSE(valid_scope("subscribe:*chat"));  // '*' only at the end
  EXPECT_FALSE(valid_scope("subscribe:ch*at"));
  EXPECT_FALSE(valid_scope("subscribe:chat**"));
  EXPECT_FALSE(valid_scope("*"));
  EXPECT_FALSE(valid_scope("subscribe:chat/x"));
}

TEST(Scope, LengthLimits) {
  EXPECT_TRUE(valid_scope(std::string(kMaxScopeLength, 'v')));
  EXPECT_FALSE(valid_scope(std::string(kMaxScopeLength + 1, 'v')));
  const std::string longest = std::string(11, 'v') + ":" + std::string(kMaxChannelLength, 'c');
  ASSERT_EQ(longest.size(), kMaxScopeLength);
  EXPECT_TRUE(valid_scope(longest));
  EXPECT_FALSE(valid_scope("v" + longest));
  // The pattern is a channel name, so at most kMaxChannelLength...
  EXPECT_FALSE(valid_scope("s:" + std::string(kMaxChannelLength + 1, 'c')));
  // ...and a prefix is any channel name (or nothing) followed by '*'.
  EXPECT_TRUE(valid_scope("s:" + std::string(kMaxChannelLength, 'c') + "*"));
  EXPECT_FALSE(valid_scope("s:" + std::string(kMaxChannelLength + 1, 'c') + "*"));
}

TEST(PatternCovers, ExactAndPrefix) {
  EXPECT_TRUE(pattern_covers("chat.room1", "chat.room1"));
  EXPECT_FALSE(pattern_covers("chat.room1", "chat.room2"));
  EXPECT_FALSE(pattern_covers("chat.room1", "chat.room1x"));
  EXPECT_TRUE(pattern_covers("chat.*", "chat.room1"));
  EXPECT_TRUE(pattern_covers("chat.*", "chat.x*"));
  EXPECT_TRUE(pattern_covers("chat.*", "chat.*"));
  EXPECT_TRUE(pattern_covers("chat.*", "chat."));
  EXPECT_FALSE(pattern_covers("chat.*", "chat"));
  EXPECT_FALSE(pattern_covers("chat.*", "chat*"));  // chat* also matches "chatter"
  EXPECT_TRUE(pattern_covers("chat*", "chat"));
  EXPECT_TRUE(pattern_covers("chat*", "chatter"));
  EXPECT_FALSE(pattern_covers("chat.room1", "chat.*"));  // narrower never covers wider
  EXPECT_TRUE(pattern_covers("*", "anything"));
  EXPECT_TRUE(pattern_covers("*", "a*"));
  EXPECT_FALSE(pattern_covers("a*", "*"));
}

TEST(GrantScopes, IntersectionInRequestOrder) {
  const Scopes allowed = {"send", "subscribe:chat.*", "publish:telemetry.dev1"};
  const Scopes requested = {"publish:telemetry.dev1", "subscribe:chat.room1", "send",
                            "subscribe:alerts", "publish:telemetry.dev2"};
  EXPECT_EQ(grant_scopes(requested, allowed),
            (Scopes{"publish:telemetry.dev1", "subscribe:chat.room1", "send"}));
}

TEST(GrantScopes, VerbsMustMatch) {
  EXPECT_EQ(grant_scopes(Scopes{"publish:chat.a"}, Scopes{"subscribe:chat.*"}), Scopes{});
  EXPECT_EQ(grant_scopes(Scopes{"subscribe:chat.a"}, Scopes{"subscribe:*"}),
            Scopes{"subscribe:chat.a"});
}

TEST(GrantScopes, BareWordsGrantOnlyEqualBareWords) {
  EXPECT_EQ(grant_scopes(Scopes{"send"}, Scopes{"send"}), Scopes{"send"});
  EXPECT_EQ(grant_scopes(Scopes{"send"}, Scopes{"send:*"}), Scopes{});
  EXPECT_EQ(grant_scopes(Scopes{"send:x"}, Scopes{"send"}), Scopes{});
  EXPECT_EQ(grant_scopes(Scopes{"sen"}, Scopes{"send"}), Scopes{});
}

TEST(GrantScopes, PrefixEdgeCases) {
  const Scopes allowed = {"subscribe:chat.*"};
  EXPECT_EQ(grant_scopes(Scopes{"subscribe:chat"}, allowed), Scopes{});
  EXPECT_EQ(grant_scopes(Scopes{"subscribe:chat.x*"}, allowed), Scopes{"subscribe:chat.x*"});
  EXPECT_EQ(grant_scopes(Scopes{"subscribe:*"}, allowed), Scopes{});
  EXPECT_EQ(grant_scopes(Scopes{"subscribe:chat.*"}, Scopes{"subscribe:chat.room1"}), Scopes{});
}

TEST(GrantScopes, DuplicatesGrantedOnce) {
  const Scopes allowed = {"send", "subscribe:*"};
  EXPECT_EQ(grant_scopes(Scopes{"send", "subscribe:a", "send", "subscribe:a"}, allowed),
            (Scopes{"send", "subscribe:a"}));
}

TEST(GrantScopes, InvalidRequestedScopesAreDropped) {
  const Scopes allowed = {"subscribe:*", "send"};
  EXPECT_EQ(grant_scopes(Scopes{"subscribe:a*b", "send,x", "", "send"}, allowed), Scopes{"send"});
}

TEST(GrantScopes, EmptyInputs) {
  EXPECT_EQ(grant_scopes(Scopes{}, Scopes{"send"}), Scopes{});
  EXPECT_EQ(grant_scopes(Scopes{"send"}, Scopes{}), Scopes{});
}

TEST(ScopesAllow, ChannelsAndBareWords) {
  const Scopes granted = {"subscribe:chat.*", "publish:telemetry.dev1", "send"};
  EXPECT_TRUE(scopes_allow(granted, "subscribe", "chat.room1"));
  EXPECT_FALSE(scopes_allow(granted, "subscribe", "chat"));
  EXPECT_FALSE(scopes_allow(granted, "subscribe", "telemetry.dev1"));
  EXPECT_TRUE(scopes_allow(granted, "publish", "telemetry.dev1"));
  EXPECT_FALSE(scopes_allow(granted, "publish", "telemetry.dev10"));
  EXPECT_FALSE(scopes_allow(granted, "publish", "chat.room1"));
  EXPECT_TRUE(scopes_allow(granted, "send", ""));
  EXPECT_FALSE(scopes_allow(granted, "send", "x"));
  EXPECT_FALSE(scopes_allow(granted, "subscribe", ""));  // bare "subscribe" not granted
  EXPECT_FALSE(scopes_allow(Scopes{}, "send", ""));
  EXPECT_TRUE(scopes_allow(Scopes{"subscribe:*"}, "subscribe", "anything"));
}

TEST(ParseScopeList, SplitsAndValidates) {
  Scopes out;
  std::string reason;
  EXPECT_TRUE(parse_scope_list("", out, reason));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(parse_scope_list("send,subscribe:chat.*", out, reason));
  EXPECT_EQ(out, (Scopes{"send", "subscribe:chat.*"}));
  EXPECT_FALSE(parse_scope_list("send,", out, reason));
  EXPECT_EQ(reason, "bad scope ''");
  EXPECT_FALSE(parse_scope_list(",send", out, reason));
  EXPECT_FALSE(parse_scope_list("send,,x", out, reason));
  EXPECT_FALSE(parse_scope_list("send, x", out, reason));
  EXPECT_EQ(reason, "bad scope ' x'");
  EXPECT_FALSE(parse_scope_list("bad\x01", out, reason));
  EXPECT_EQ(reason, "bad scope 'bad?'");  // control bytes never reach the log
}

TEST(ParseScopeList, AtMostMaxScopes) {
  std::string csv;
  for (size_t i = 0; i < kMaxScopes; ++i) csv += (i ? ",s:c" : "s:c") + std::to_string(i);
  Scopes out;
  std::string reason;
  EXPECT_TRUE(parse_scope_list(csv, out, reason)) << reason;
  EXPECT_EQ(out.size(), kMaxScopes);
  EXPECT_FALSE(parse_scope_list(csv + ",s:extra", out, reason));
  EXPECT_EQ(reason, "too many scopes (max 32)");
}

}  // namespace
}  // namespace ringway::auth
