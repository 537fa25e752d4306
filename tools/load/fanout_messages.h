#pragma once
// What `ringway-load fanout` writes and reads: the subscribe and publish requests and the peer
// target's message, and the fields it reads back. A delivery arrives once per subscriber per
// message, so it is not parsed as JSON: the gateway's message event has a fixed shape
// (PROTOCOL.md) and the load generator wrote its data itself, so finding "offset": and "t": is
// enough. Responses (one per publish or subscribe) are parsed properly, with simdjson.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringway::load {

// The data of a publish, {"t":T,"p":"xx..."}, padded with 'x' to `size` bytes (or unpadded
// when even that is longer). T is the intended send time, CLOCK_MONOTONIC nanoseconds.
void append_fanout_data(std::string& out, uint64_t t_ns, size_t size);
// {"type":"req","id":"<id>","method":"publish","params":{"channel":"C","data":DATA}}
void append_publish_request(std::string& out, uint64_t id, std::string_view channel,
                            uint64_t t_ns, size_t data_size);
// {"type":"req","id":"<id>","method":"subscribe","params":{"channel":"C"}}
void append_subscribe_request(std::string& out, std::string_view id, std::string_view channel);
// The peer target's message: {"t":T,"seq":S,"pub":K,"p":"xx..."} padded to `size` bytes.
// `pub` names the publisher, so each keeps its own sequence.
void append_peer_message(std::string& out, uint64_t t_ns, uint64_t seq, uint32_t pub,
                         size_t size);

// What a text message from the gateway is, judged by its leading bytes (the server's fixed
// shape) without parsing it.
enum class Incoming : uint8_t { kMessageEvent, kOtherEvent, kResponse, kUnknown };
Incoming classify(std::string_view text);

// From a message event: payload.offset and payload.data.t. False when either is missing.
bool parse_delivery(std::string_view text, uint64_t& offset, uint64_t& t_ns);
// From a peer message: t, seq and pub. False when one is missing.
bool parse_peer_message(std::string_view text, uint64_t& t_ns, uint64_t& seq, uint32_t& pub);

// A response to subscribe or publish.
struct FanoutResponse {
  bool parsed = false;  // a well-formed {"type":"res",...}
  std::string id;
  bool ok = false;
  uint64_t offset = 0, delivered = 0;  // ok: payload.offset, payload.delivered
  std::string epoch;                   // ok (subscribe): payload.epoch
  std::string code;                    // !ok: error.code
  uint64_t retry_after_ms = 0;         // !ok: error.retryAfterMs
};
FanoutResponse parse_fanout_response(std::string_view text);

// The order check of one stream of numbers that should go up by one (a channel's offsets at a
// subscriber; one peer publisher's seq). A jump forward counts the numbers skipped as lost; a
// repeat or a step back is an error and leaves the expectation unchanged.
class SeqTracker {
 public:
  struct Step {
    uint64_t lost = 0;
    bool backwards = false;  // a repeat or a decrease
  };
  // The next number expected (after a subscribe answer: its offset + 1).
  void expect(uint64_t next) {
    next_ = next;
    known_ = true;
  }
  // Nothing is expected: the next number seen sets the baseline.
  void forget() { known_ = false; }
  bool known() const { return known_; }
  uint64_t next() const { return next_; }
  Step on(uint64_t seq);

 private:
  uint64_t next_ = 0;
  bool known_ = false;
};

}  // namespace ringway::load
