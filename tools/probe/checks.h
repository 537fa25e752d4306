#pragma once
// The probe's checks: each connects to the server under test, misbehaves in one way, and
// measures whether (and when) the server reaps the connection. Every check has its own time
// bound, owns and closes its socket, and returns a CheckResult; checks share no state, so they
// can run one after another or all at once on separate threads.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/frames.h"
#include "probe/frames.h"
#include "probe/probe_socket.h"
#include "probe/report.h"
#include "probe/url.h"

namespace ringway::probe {

using std::chrono::milliseconds;

struct Target {
  WsUrl url;
  std::shared_ptr<tls::ClientContext> tls;  // wss://: every check's TLS sessions
  Endpoint endpoint;
  std::vector<std::string> headers;  // extra "Name: value" upgrade headers
};

struct ProbeOptions {
  Target target;
  bool offer_deflate = false;       // --deflate: every check offers permessage-deflate
  milliseconds max_wait{120'000};   // the longest a server may take to reap a bad peer
  milliseconds ping_wait{120'000};  // never-pong: how long to wait for the first ping

  // Fixed bounds (not flags; tests may shrink them).
  milliseconds setup_limit{10'000};      // connect + opening handshake of each check
  milliseconds prompt_limit{5'000};      // protocol errors must be answered this fast (capped
                                         // by max_wait)
  milliseconds dribble_interval{500};    // header-dribble: at most one byte per this long
  milliseconds send_stall{2'000};        // never-read: stop sending after sends block this long
  uint64_t never_read_cap = 256ull << 20;  // never-read: stop sending after this many bytes
  size_t never_read_message = 8 << 10;     // never-read: payload bytes per binary message
  int never_read_rcvbuf = 4096;            // never-read: SO_RCVBUF of the probe's socket
};

// Finds out whether a connection the server may have closed is really gone, without reading:
// sends `pending` (the rest of a frame in flight), then empty masked pongs, until the
// connection fails. A peer that has closed its socket answers the first segment with a reset;
// one that only shut down its writing side (or is alive and reading) takes them; one that is
// alive and not reading leaves our sends blocked. Keeps its place in the byte stream across
// calls, so frames are never cut.
//
// The first probe goes out at once, the next after `interval`, and each gap after that is
// `growth` times the previous one. With growth > 1 the probes thin out, so a server whose idle
// timer counts every received byte still gets the silence it needs to reap the connection.
class CloseProber {
 public:
  explicit CloseProber(std::span<const uint8_t> pending = {},
                       Clock::duration interval = milliseconds(20), double growth = 1.0);
  // kReset/kError when the connection failed, kTimeout when `until` passed first.
  IoResult run(ProbeSocket& sock, Deadline until);
  uint64_t probes_sent() const { return probes_; }

 private:
  Bytes out_;
  size_t pos_ = 0;
  Clock::duration interval_;
  double growth_;
  std::optional<Clock::time_point> next_probe_;
  uint64_t probes_ = 0;
};

// What a check saw while it read from the server (times are since the check's t0).
struct Watch {
  enum class End { kOpen, kEof, kReset, kError, kBadFrame };

  Clock::time_point t0;
  int pings = 0;
  std::optional<Clock::duration> first_ping;
  bool close_seen = false;
  std::optional<uint16_t> close_code;  // nullopt with close_seen: an empty close frame
  std::string close_reason;
  Clock::duration close_at{};
  bool close_answered = false;
  size_t data_frames = 0;
  uint64_t data_bytes = 0;
  size_t other_frames = 0;  // pongs
  End end = End::kOpen;
  Clock::duration end_at{};
  // The server's FIN, when a full close was then confirmed (or not) with probe frames: a FIN
  // alone may be a half-close (shutdown) of a connection the server still holds.
  std::optional<Clock::duration> fin_at;
  CloseProber prober;  // used after the FIN when WatchOptions::confirm_close
  std::string error;  // kError: the errno text; kBadFrame: what was wrong

  bool ended() const { return end != End::kOpen; }
  // True when the server closed the TCP connection (FIN or RST).
  bool closed() const { return end == End::kEof || end == End::kReset; }
};

struct WatchOptions {
  bool answer_close = false;  // send a close frame back (echoing the code) once one arrives
  // After the server's FIN, confirm the connection is really gone with a CloseProber (empty
  // unsolicited pongs) until the server's kernel answers with a reset (end kReset, fin_at set)
  // or the deadline passes (end stays kOpen, fin_at set: half-closed only). After the server's
  // close frame the probes go every 20 ms (a closing server waits for a close frame, not for
  // silence); after a FIN without one their gaps grow by 1.5x (an idle timer can still fire).
  bool confirm_close = false;
  std::function<bool(const Watch&)> stop;  // return early once this holds
};

// What a server sends after its 101, read with the client library's reader. Bytes that came in
// with the 101 wait in `pending` until the first watch reads them.
struct ServerStream {
  client::ServerFrameReader frames{size_t(64) << 20};
  Bytes pending;
  void feed(const uint8_t* p, size_t n) { pending.insert(pending.end(), p, p + n); }
};

// Reads and parses server frames until the connection ends, `until` passes or opts.stop holds.
// Pings are never answered. data_frames counts whole data messages (fragments joined).
void watch(ProbeSocket& sock, ServerStream& reader, Watch& w, Deadline until,
           const WatchOptions& opts = {});

// One-line account of a Watch: "close 4002 'idle timeout' at 0.900s, EOF at 1.401s, 2 pings
// (first at 0.300s)".
std::string describe(const Watch& w);
// "EOF" / "reset" / "read error: ..." / "still open".
std::string describe_end(const Watch& w);
// How the connection ended: "TCP EOF at 0.501s", "FIN at 0.001s, closed at 0.502s (reset on our
// probe frame)", "FIN at 0.001s but not closed (...)".
std::string ended_text(const Watch& w);

// An upgraded connection.
struct Connection {
  ProbeSocket sock;
  ServerStream reader;
  Clock::time_point upgraded_at;
  ws::DeflateAgreement deflate;  // accepted: permessage-deflate is on (the reader inflates)
};

// Whether a check's upgrade offers permessage-deflate.
enum class Offer : uint8_t {
  kAsOptions,  // when --deflate asks for it
  kDeflate,    // always (the deflate checks)
  kNothing,    // never (a check about frames sent without an extension)
};

// Connects (and, for wss://, completes the TLS handshake) before the deadline.
ProbeSocket connect_target(const ProbeOptions& opts, Deadline deadline, std::string* error,
                           ProbeSocket::Options sock_opts = {});

// Connects and completes the opening handshake within opts.setup_limit.
bool open_websocket(const ProbeOptions& opts, Connection& conn, std::string* error,
                    ProbeSocket::Options sock_opts = {}, Offer offer = Offer::kAsOptions);

// Before the checks: finds the first endpoint that accepts a WebSocket upgrade for the URL
// (then closes it politely), and stores it in target.endpoint. Returns false with *error set
// when none does.
bool preflight(ProbeOptions& opts, const std::vector<Endpoint>& endpoints, std::string* error);

using CheckFn = CheckResult (*)(const ProbeOptions&);

struct CheckInfo {
  std::string_view name;
  std::string_view summary;
  CheckFn run;
  bool tls_only = false;  // about the TLS handshake itself: wss:// targets only
};

// All checks, in their canonical order.
const std::vector<CheckInfo>& all_checks();
const CheckInfo* find_check(std::string_view name);

// header-dribble's pace: dribble_interval, but at most max_wait / 12 (so at least 12 bytes go
// out before the deadline), and at least 1 ms.
milliseconds header_dribble_interval(const ProbeOptions& opts);

// The checks, callable one by one.
CheckResult check_silent_tcp(const ProbeOptions& opts);
CheckResult check_header_dribble(const ProbeOptions& opts);
CheckResult check_upgrade_silence(const ProbeOptions& opts);
CheckResult check_never_pong(const ProbeOptions& opts);
CheckResult check_close_unanswered(const ProbeOptions& opts);
CheckResult check_half_close(const ProbeOptions& opts);
CheckResult check_never_read(const ProbeOptions& opts);
CheckResult check_oversized_length(const ProbeOptions& opts);
CheckResult check_invalid_utf8(const ProbeOptions& opts);
CheckResult check_unmasked_frame(const ProbeOptions& opts);
CheckResult check_rsv1_unnegotiated(const ProbeOptions& opts);
CheckResult check_rsv1_continuation(const ProbeOptions& opts);
CheckResult check_deflate_bomb(const ProbeOptions& opts);

// A raw deflate stream of `zeros` zero bytes, sync-flushed, without the 00 00 ff ff tail (RFC
// 7692 §7.2.1): what a compression bomb sends. About 1/1000 of its inflated size.
Bytes deflate_zeros(uint64_t zeros);
// The same for arbitrary bytes.
Bytes deflate_bytes(std::span<const uint8_t> data);
CheckResult check_tls_stalled_handshake(const ProbeOptions& opts);
CheckResult check_tls_garbage(const ProbeOptions& opts);

// Runs the given checks, sequentially or each on its own thread; on_result is called in the
// checks' order as results become available (from the calling thread).
std::vector<CheckResult> run_checks(const ProbeOptions& opts,
                                    const std::vector<const CheckInfo*>& checks, bool parallel,
                                    const std::function<void(const CheckResult&)>& on_result);

}  // namespace ringway::probe
