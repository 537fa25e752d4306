#pragma once
// The protocol handler the io workers call: HTTP upgrade and small responses, the WebSocket
// routes, and every per-connection deadline. One Gateway per worker; nothing shared except the
// address caps and the auth context, which lock.
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/identity.h"
#include "auth/verifier_pool.h"
#include "common/byte_buffer.h"
#include "common/counter.h"
#include "common/latency_histogram.h"
#include "gateway/protocol_json.h"
#include "http/upgrade_parser.h"
#include "gateway/address_caps.h"
#include "gateway/channels.h"
#include "gateway/session.h"
#include "io/handler.h"
#include "io/mail.h"
#include "ringway/config.h"
#include "ws/deflate.h"
#include "ws/deflate_negotiation.h"
#include "ws/frame.h"
#include "ws/message_reader.h"

namespace ringway::io {
struct Conn;
class Block;
}
namespace ringway::bus {
class Bus;
struct Publish;
struct Watch;
struct Message;
struct Resync;
}

namespace ringway::gateway {

class AuthContext;

// How long an HTTP error response lingers for the client to read it before the TCP close.
inline constexpr uint64_t kHttpLingerMs = 1000;

// The gateway protocol's own close codes (PROTOCOL.md).
namespace close_code {
inline constexpr uint16_t kConnectTimeout = 4000;
inline constexpr uint16_t kRevoked = 4001;
inline constexpr uint16_t kIdleTimeout = 4002;
inline constexpr uint16_t kSlowConsumer = 4003;
}  // namespace close_code

// Mail the gateway receives (io::Mail::kind).
namespace mail_kind {
inline constexpr uint32_t kVerdict = 1;     // p: auth::VerifyOutcome* (owned by the record)
inline constexpr uint32_t kReload = 2;      // p: std::shared_ptr<const ReloadNotice>* (owned)
inline constexpr uint32_t kPublish = 3;     // to the sequencer; p: PublishJob*
inline constexpr uint32_t kPublished = 4;   // back to the publisher's worker; p: PublishJob*
inline constexpr uint32_t kDeliver = 5;     // p: io::Block* (one reference), a: frame bytes,
                                            // b: channel name bytes (low 32 bits), stored after
                                            // the frame and its compressed copy, whose bytes are
                                            // the high 32 bits (0: none),
                                            // c: the publish's arrival (monotonic ns)
inline constexpr uint32_t kSubscribe = 6;   // to the sequencer; p: SubscribeJob*
inline constexpr uint32_t kSubscribed = 7;  // back to the subscriber's worker; p: SubscribeJob*
inline constexpr uint32_t kOptions = 8;     // p: std::shared_ptr<const GatewayOptions>* (owned)
}  // namespace mail_kind

// A publish (or a direct send) on its way to the channel's sequencer and back with the result.
struct PublishJob {
  std::string channel, from, data;  // data: the raw JSON text as the publisher sent it
  std::string request_id;           // WebSocket requests: the id to answer
  uint32_t origin_worker = 0, slot = 0, gen = 0;
  bool http = false;                // answered as an HTTP response rather than a WebSocket one
  bool direct = false;              // a send: the result has no offset
  const char* error = nullptr;      // set by the sequencer when refused (UNAVAILABLE)
  uint64_t retry_after_ms = 0, delivered = 0, offset = 0;
  uint64_t t0_ns = 0;               // when the publish arrived (monotonic), for the latency
};

// What a publish or send may go to, checked the same way for WebSocket and HTTP requests: the
// channel (a send's is device:<to>), or an error code and a message naming the field (`where`
// is "params" or "body").
struct PublishCheck {
  const char* code = nullptr;  // nullptr: allowed
  std::string message;
  std::string channel;
  bool too_large = false;      // the data is over the limit (HTTP answers 413 for it)
  bool denied = false;         // a scope is missing (SCOPE_DENIED; HTTP answers 403)
};
PublishCheck check_publish(std::span<const std::string> scopes, bool direct, const RouteParams& p,
                           size_t max_data, std::string_view where);

// A subscription count change on its way to the channel's sequencer; +1 and 0 (a query) come
// back with the channel's offset and epoch, -1 does not.
struct SubscribeJob {
  std::string channel, request_id;
  uint32_t origin_worker = 0, slot = 0, gen = 0;
  int32_t delta = 1;
  bool internal = false;  // the device's own channel, subscribed at the hello
  uint64_t offset = 0;
  std::string epoch;
  const char* error = nullptr;  // the bus could not be reached: the subscribe is refused
};

// The worker that sequences `channel` among `workers` (keyed SipHash, the same on every worker).
unsigned channel_sequencer(const uint64_t key[2], unsigned workers, std::string_view channel);
// Frees what a record owns (for records left in the rings at shutdown).
void dispose_mail(const io::Mail& m);

// What a reload changed, for every worker to re-check its sessions against.
struct ReloadNotice {
  std::shared_ptr<const auth::Identity> identity;
  std::vector<auth::DeviceId> devices;  // removed, or allowed scopes changed
  std::vector<std::string> services;    // removed, token changed, or allowed scopes changed
};

// What the metrics and status endpoints show: every worker's counters, summed. The app layer
// implements it (it knows all workers); any worker may call it, from its own thread.
class StatsSource {
 public:
  virtual ~StatsSource() = default;
  virtual void prometheus(std::string& out) = 0;   // text exposition format 0.0.4
  virtual void status_json(std::string& out) = 0;  // a small JSON object for the status page
};

struct GatewayOptions {
  size_t max_message_size = size_t(1) << 20;
  size_t max_buffered = size_t(4) << 20;
  bool echo_route = true;
  std::string ws_path = "/ws";
  uint64_t handshake_timeout_ms = 10000;
  uint64_t ping_interval_ms = 30000;  // 0: never ping
  uint64_t idle_timeout_ms = 90000;   // 0: never close for silence
  uint64_t close_timeout_ms = 5000;
  uint64_t connect_timeout_ms = 10000;
  uint64_t auth_timeout_ms = 5000;
  uint64_t message_timeout_ms = 30000;  // 0: a started message may take forever
  // Routing.
  unsigned workers = 1;              // the sequencer of a channel is one of these, by hash
  uint64_t channel_hash_key[2] = {0, 0};  // keys that hash, the same on every worker
  std::string node_epoch = "0";      // names this process's channel histories
  size_t max_subscriptions = 256;    // per connection (the device's own channel not counted)
  size_t max_publish_bytes = 65536;  // of params.data
  uint32_t request_rate = 100;       // requests per second per connection, sustained
  uint32_t request_burst = 200;
  size_t max_idle_channels = 65536;  // per sequencing worker, channels without subscribers
  StatsSource* stats = nullptr;      // null: /metrics answers 404
  bus::Bus* bus = nullptr;           // several nodes through Redis (null: this node alone)
  std::string dev_registry;          // development mode: the registry browser sign-ups go to
  std::string dev_scopes;            // and the scopes they get
  uint64_t drain_spread_ms = 0;      // 1001 closes spread over this long
  // permessage-deflate (docs/deflate.md).
  ws::DeflateMode deflate = ws::DeflateMode::kOn;
  size_t deflate_min_size = 256;     // shorter messages are sent uncompressed
  size_t deflate_memory_budget = size_t(64) << 20;

  static GatewayOptions from(const Config& c);
};

// Close codes the gateway counts separately (ringway_closes_total{code}); others count as
// "other".
inline constexpr uint16_t kCountedCloseCodes[] = {1000, 1001, 1002, 1007, 1008, 1009, 1011,
                                                  1013, 4000, 4001, 4002, 4003};
inline constexpr size_t kCloseCodeSlots = std::size(kCountedCloseCodes) + 1;
// Auth results counted separately; the index is that of the code in this list.
inline constexpr const char* kAuthResultCodes[] = {
    "OK", "INVALID_REQUEST", "PROTOCOL_MISMATCH", "DEVICE_UNKNOWN", "DEVICE_ID_MISMATCH",
    "SIGNATURE_INVALID", "SIGNATURE_EXPIRED", "NONCE_MISMATCH", "TOKEN_INVALID", "UNAVAILABLE",
    "AUTH_TIMEOUT"};
inline constexpr size_t kAuthResultSlots = std::size(kAuthResultCodes);

// Written by the worker's thread only; any thread may read them (common/counter.h). `each`
// names every plain counter once, for the exit log line and the metrics.
struct GatewayStats {
  Counter upgrades, http_errors, protocol_errors, messages_in, messages_out;
  Counter handshake_timeouts, idle_timeouts, close_timeouts, slow_consumers;
  Counter message_timeouts, over_address_cap, pings_sent;
  Counter connects, auth_ok, auth_failed, auth_shed, auth_timeouts;
  Counter connect_timeouts, revoked, regranted;
  Counter subscribes, unsubscribes, publishes, sends, publish_refused;
  Counter deliveries, fanout_mails, rate_limited, scope_denied;
  Counter api_requests, api_errors, outbox_deferred;
  // With a bus: records refused by the full ring to the bus thread, messages dropped while a
  // channel's watch was answered, histories Redis lost (a new epoch on a watched channel).
  Counter bus_backpressure, bus_early_dropped, bus_epoch_changes;
  // permessage-deflate: upgrades that negotiated it; messages compressed (bytes before and
  // after), deliveries of a publish's shared compressed frame; messages inflated (bytes on the
  // wire and inflated); compressed messages failed for inflating past the limit (1009) or for
  // invalid data (1007).
  Counter deflate_negotiated, deflate_messages, deflate_bytes_in, deflate_bytes_out;
  Counter deflate_shared_deliveries, inflate_messages, inflate_bytes_in, inflate_bytes_out;
  Counter inflate_too_big, inflate_invalid;
  // Takeover mode: connections that keep compression context, and those that fell back to no
  // context takeover because the worker's memory budget was spent.
  Counter deflate_takeover, deflate_takeover_fallbacks;
  Counter closes[kCloseCodeSlots];       // close frames sent, by code
  Counter auth_results[kAuthResultSlots];
  LatencyHistogram publish_to_delivery;  // from the publish's arrival to its queueing per recipient
  // Gauges, set at the end of each turn.
  Counter http_connections, echo_sessions, unauthenticated_sessions, sessions, status_watchers,
      closing;
  Counter local_channels, local_subscriptions, sequenced_channels, idle_channels;
  Counter indexed_sessions, outbox_records;

  template <class F> void each(F&& f) const {
    f("upgrades", upgrades), f("http_errors", http_errors), f("protocol_errors", protocol_errors);
    f("messages_in", messages_in), f("messages_out", messages_out);
    f("handshake_timeouts", handshake_timeouts), f("idle_timeouts", idle_timeouts);
    f("close_timeouts", close_timeouts), f("slow_consumers", slow_consumers);
    f("message_timeouts", message_timeouts), f("over_address_cap", over_address_cap);
    f("pings", pings_sent), f("connects", connects), f("auth_ok", auth_ok);
    f("auth_failed", auth_failed), f("auth_shed", auth_shed), f("auth_timeouts", auth_timeouts);
    f("connect_timeouts", connect_timeouts), f("revoked", revoked), f("regranted", regranted);
  }
  template <class F> void each_routing(F&& f) const {
    f("subscribes", subscribes), f("unsubscribes", unsubscribes), f("publishes", publishes);
    f("sends", sends), f("publish_refused", publish_refused), f("deliveries", deliveries);
    f("fanout_mails", fanout_mails), f("rate_limited", rate_limited);
    f("scope_denied", scope_denied), f("api_requests", api_requests), f("api_errors", api_errors);
    f("outbox_deferred", outbox_deferred), f("local_channels", local_channels);
    f("local_subscriptions", local_subscriptions), f("sequenced_channels", sequenced_channels);
    f("idle_channels", idle_channels), f("indexed_sessions", indexed_sessions);
    f("bus_backpressure", bus_backpressure), f("bus_early_dropped", bus_early_dropped);
    f("bus_epoch_changes", bus_epoch_changes);
  }
  template <class F> void each_deflate(F&& f) const {
    f("negotiated", deflate_negotiated), f("compressed", deflate_messages);
    f("compressed_bytes_in", deflate_bytes_in), f("compressed_bytes_out", deflate_bytes_out);
    f("shared_deliveries", deflate_shared_deliveries), f("inflated", inflate_messages);
    f("inflated_bytes_in", inflate_bytes_in), f("inflated_bytes_out", inflate_bytes_out);
    f("inflate_too_big", inflate_too_big), f("inflate_invalid", inflate_invalid);
    f("takeover", deflate_takeover), f("takeover_fallbacks", deflate_takeover_fallbacks);
  }
};

class Gateway final : public io::ConnectionHandler {
 public:
  Gateway(std::shared_ptr<const GatewayOptions> opts, unsigned worker, AddressCaps& caps,
          AuthContext* auth)
      : opts_(std::move(opts)), caps_(caps), auth_(auth),
        seq_(worker, opts_->node_epoch, opts_->max_idle_channels), outbox_(opts_->workers) {}

  void on_open(io::Worker& w, io::Conn& c) override;
  void on_data(io::Worker& w, io::Conn& c, std::span<const uint8_t> bytes) override;
  void on_peer_eof(io::Worker& w, io::Conn& c) override;
  void on_timer(io::Worker& w, io::Conn& c) override;
  void on_drain(io::Worker& w, io::Conn& c) override;
  void on_close(io::Worker& w, io::Conn& c) override;
  void on_mail(io::Worker& w, const io::Mail& m) override;
  void on_turn_end(io::Worker& w) override;

  const GatewayStats& stats() const { return stats_; }
  const GatewayOptions& options() const { return *opts_; }
  size_t indexed_sessions() const;
  const LocalChannels& local_channels() const { return local_; }
  const Sequencer& sequencer() const { return seq_; }
  // The worker that sequences `channel`.
  unsigned sequencer_of(std::string_view channel) const;

  // One callback's view of a connection. It is also the frame reader's sink while bytes of
  // this connection are fed, so the reader's events reach the gateway with the same context.
  struct Ctx final : ws::MessageSink {
    Ctx(Gateway& g, io::Worker& w, io::Conn& c, Session& s) : g(g), w(w), c(c), s(s) {}
    void on_message(ws::Opcode op, std::span<const uint8_t> payload) override;
    void on_ping(std::span<const uint8_t> payload) override;
    void on_pong(std::span<const uint8_t> payload) override;
    void on_close(uint16_t code, std::span<const uint8_t> reason) override;
    void on_inflated(size_t compressed, size_t inflated) override;
    Gateway& g;
    io::Worker& w;
    io::Conn& c;
    Session& s;
  };

 private:
  void http_input(Ctx& x, std::span<const uint8_t> bytes);
  void http_step(Ctx& x, std::span<const uint8_t> bytes);
  void on_request(Ctx& x, std::span<const uint8_t> rest);
  void respond(Ctx& x, int status);
  // Sends a close frame and waits (close timeout) for the peer's. reason: a static string.
  void start_close(Ctx& x, uint16_t code, const char* reason);
  // Protocol violation: close frame with the code, then TCP closed without waiting.
  void fail(Ctx& x, uint16_t code, const char* reason);
  void note_close(Session& s, uint16_t code, const char* reason, bool by_peer);
  void log_session_end(io::Worker& w, io::Conn& c, Session& s);
  void schedule_drain_close(Ctx& x);
  // Our side is done: send what is queued, shut down writes, close on EOF or at the deadline.
  void linger(Ctx& x, uint64_t for_ms);
  // The peer sent FIN: send what is owed, then close (bounded by the close timeout).
  void finish(Ctx& x);
  // A data message, compressed when the connection negotiated deflate and it is long enough.
  void send_frame(Ctx& x, ws::Opcode op, std::span<const uint8_t> payload);
  // The upgrade's permessage-deflate answer (ws/deflate_negotiation.h); writes the response's
  // extension value into ext and returns its length (0: not negotiated).
  size_t negotiate_deflate(Ctx& x, const http::Request& req, char* ext, size_t cap);
  void send_text(Ctx& x, std::string_view json);
  void send_ping(Ctx& x);
  void check_buffered(Ctx& x);
  void schedule(Ctx& x);
  void feed_websocket(Ctx& x, std::span<const uint8_t> bytes);
  void track_message_deadline(Ctx& x);
  void set_count_state(Session& s, CountState to);
  void count_close(uint16_t code);
  void count_auth(const char* code);
  bool take_cap(Ctx& x, CapKind kind);
  void release_caps(Ctx& x);
  // Gateway route (gateway_route.cc).
  void open_gateway_route(Ctx& x);
  void on_gateway_message(Ctx& x, ws::Opcode op, std::span<const uint8_t> payload);
  void on_connect_request(Ctx& x, std::span<const uint8_t> payload);
  void on_verified(io::Worker& w, auth::VerifyOutcome& out);
  void on_reload(io::Worker& w, const ReloadNotice& notice);
  void on_request_after_hello(Ctx& x, std::span<const uint8_t> payload);
  void send_hello(Ctx& x);
  // Routing (router.cc).
  bool take_request_token(Ctx& x, std::string_view request_id);
  void do_subscribe(Ctx& x, const std::string& id, const RouteParams& p);
  void do_unsubscribe(Ctx& x, const std::string& id, const RouteParams& p);
  void do_publish(Ctx& x, const std::string& id, const RouteParams& p, bool direct);
  void submit_publish(io::Worker& w, PublishJob* job);
  void sequence(io::Worker& w, PublishJob& job);
  void finish_publish(io::Worker& w, PublishJob* job);
  void answer_publish(io::Worker& w, PublishJob& job);
  void submit_subscribe(io::Worker& w, SubscribeJob* job);
  void on_subscribe(io::Worker& w, SubscribeJob* job);
  void on_subscribed(io::Worker& w, SubscribeJob* job);
  // frame holds the event frame (len bytes) and behind it its compressed copy (zlen bytes, 0:
  // none), which goes to every recipient that compresses with a full window.
  void deliver_local(io::Worker& w, std::string_view channel, io::Block* frame, uint32_t len,
                     uint32_t zlen, uint64_t t0_ns);
  void drop_subscriptions(io::Worker& w, io::Conn& c, GatewayState& g);
  // One frame for a message in offset order, to every worker with subscribers (bus.cc is where
  // messages from Redis come in; sequence() is where local ones do).
  bool can_reach_all(io::Worker& w, const SeqChannel& ch);
  void fan_out(io::Worker& w, const SeqChannel& ch, std::string_view from, std::string_view data,
               uint64_t offset, uint64_t t0_ns, bool must_arrive);
  void publish_at_sequencer(io::Worker& w, PublishJob* job);
  // With a bus (router_bus.cc).
  void bus_publish(io::Worker& w, PublishJob* job);
  void on_bus_published(io::Worker& w, bus::Publish* p);
  void bus_subscribe(io::Worker& w, SeqChannel& ch, SubscribeJob* job);
  void on_bus_watched(io::Worker& w, bus::Watch* watch);
  void on_bus_message(io::Worker& w, bus::Message* m);
  void on_bus_resync(io::Worker& w, bus::Resync* r);
  void send_watch(io::Worker& w, SeqChannel& ch, bool again);
  void unwatch(io::Worker& w, SeqChannel& ch);
  void answer_subscribe(io::Worker& w, SubscribeJob* job);
  // Mail that must arrive (replies, counts): queued here while the target's ring is full, in
  // order, and retried every turn.
  void post(io::Worker& w, unsigned target, const io::Mail& m);
  // HTTP API for backends (http_api.cc).
  bool is_api_path(std::string_view path) const;
  void on_api_request(Ctx& x, std::span<const uint8_t> rest);
  void feed_api_body(Ctx& x, std::span<const uint8_t> bytes);
  void run_api_request(Ctx& x);
  void api_respond(Ctx& x, int status, std::string_view json, uint64_t retry_after_ms = 0,
                   bool close = false);
  void answer_api(io::Worker& w, io::Conn& c, PublishJob& job);
  void dev_register(Ctx& x);
  // Static files and the status WebSocket (web.cc).
  bool serve_asset(Ctx& x, const http::Request& req);
  void push_status(Ctx& x);
  // An error response, then close (code, reason = the error code).
  void refuse(Ctx& x, std::string_view request_id, const char* code, std::string_view message,
              uint16_t close_code, uint64_t retry_after_ms = 0);
  void gateway_timer(Ctx& x, uint64_t now);
  void index_session(io::Conn& c, GatewayState& g);
  void unindex_session(io::Conn& c, GatewayState& g);
  void release_gateway_state(Ctx& x);

  struct DeviceIdHash {
    size_t operator()(const auth::DeviceId& id) const;
  };

  // Replaced whole on a reload (mail): a callback reads one snapshot from start to end.
  std::shared_ptr<const GatewayOptions> opts_;
  AddressCaps& caps_;
  AuthContext* auth_;  // null: the gateway route answers 404
  GatewayStats stats_;
  // Authenticated sessions by credential, for reloads.
  std::unordered_map<auth::DeviceId, std::vector<io::Conn*>, DeviceIdHash> devices_;
  std::unordered_map<std::string, std::vector<io::Conn*>> services_;
  size_t indexed_ = 0;
  LocalChannels local_;
  Sequencer seq_;
  std::vector<std::deque<io::Mail>> outbox_;  // per target worker
  size_t outbox_size_ = 0;
  ByteBuffer replay_;           // bytes behind an answered HTTP request (see http_input)
  ws::Deflater deflater_;       // this worker's compressor (no context kept between messages)
  size_t takeover_bytes_ = 0;   // compression state charged to the budget (takeover mode)
  size_t state_counts_[kCountStates] = {};
  uint64_t drain_rng_ = 0x9e3779b97f4a7c15ull;
  bool in_http_input_ = false;
};

}  // namespace ringway::gateway
