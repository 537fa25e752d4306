#include "probe/checks.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <thread>

#include <openssl/bio.h>
#include <openssl/err.h>

#include "client/handshake.h"
#include "tls/context.h"

namespace ringway::probe {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

microseconds us(Clock::duration d) { return duration_cast<microseconds>(d); }
std::string secs(Clock::duration d) { return format_seconds(us(d)); }
std::string ms_text(milliseconds d) { return format_duration_ms(uint64_t(d.count())); }

CheckResult make(std::string_view name, bool pass, Clock::duration elapsed, std::string detail) {
  CheckResult r;
  r.name = std::string(name);
  r.pass = pass;
  r.elapsed = us(elapsed);
  r.detail = std::move(detail);
  return r;
}

// The bound for checks where a conforming server answers at once (protocol errors).
milliseconds prompt_bound(const ProbeOptions& o) { return std::min(o.prompt_limit, o.max_wait); }

std::string close_text(const Watch& w) {
  std::string s = "close ";
  s += w.close_code ? std::to_string(*w.close_code) : std::string("(no code)");
  if (!w.close_reason.empty()) s += " '" + printable(w.close_reason, 60) + "'";
  return s;
}

std::string mib(uint64_t bytes) {
  char buf[48];
  if (bytes >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1u << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / 1024.0);
  }
  return buf;
}

std::string plural(size_t n, std::string_view thing) {
  return std::to_string(n) + " " + std::string(thing) + (n == 1 ? "" : "s");
}

void set_end(Watch& w, Watch::End end, std::string error = {}) {
  w.end = end;
  w.end_at = Clock::now() - w.t0;
  w.error = std::move(error);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Watching a connection
// ---------------------------------------------------------------------------------------------

namespace {

// Records what the server sends into a Watch; answers its close frame when asked.
struct WatchSink final : client::ServerFrameSink {
  WatchSink(ProbeSocket& s, Watch& watch, const WatchOptions& o) : sock(s), w(watch), opts(o) {}
  bool on_message(ws::Opcode, std::span<const uint8_t> payload) override {
    ++w.data_frames;
    w.data_bytes += payload.size();
    return true;
  }
  bool on_ping(std::span<const uint8_t>) override {
    if (w.pings++ == 0) w.first_ping = Clock::now() - w.t0;
    return true;
  }
  bool on_pong(std::span<const uint8_t>) override {
    ++w.other_frames;
    return true;
  }
  void on_close(uint16_t code, std::string_view reason) override {
    if (w.close_seen) return;
    w.close_seen = true;
    if (code) w.close_code = code;
    w.close_reason = std::string(reason);
    w.close_at = Clock::now() - w.t0;
    if (opts.answer_close) {
      FrameSpec spec;
      spec.opcode = opcode::kClose;
      Bytes reply = build_frame(spec, close_payload(w.close_code));
      // A failed send only means the server is already gone; reading will show that.
      sock.send_all(reply.data(), reply.size(), Clock::now() + milliseconds(200));
      w.close_answered = true;
    }
  }
  ProbeSocket& sock;
  Watch& w;
  const WatchOptions& opts;
};

// Feeds bytes to the reader; false (the watch ended) when they break the protocol.
bool read_frames(ServerStream& s, std::span<const uint8_t> bytes, WatchSink& sink) {
  client::ReadFailure f = s.frames.feed(bytes, sink);
  if (!f.close_code) return true;
  set_end(sink.w, Watch::End::kBadFrame, f.what);
  return false;
}

}  // namespace

void watch(ProbeSocket& sock, ServerStream& reader, Watch& w, Deadline until,
           const WatchOptions& opts) {
  std::array<uint8_t, 65536> buf;
  WatchSink sink(sock, w, opts);
  if (!reader.pending.empty()) {
    Bytes pending = std::move(reader.pending);
    reader.pending.clear();
    if (!read_frames(reader, pending, sink)) return;
  }
  while (!w.ended()) {
    if (opts.stop && opts.stop(w)) return;
    if (Clock::now() >= until) return;
    IoResult r = sock.read_some(buf.data(), buf.size(), until);
    switch (r.status) {
      case Io::kOk:
        if (!read_frames(reader, {buf.data(), r.n}, sink)) return;
        break;
      case Io::kTimeout:
        return;
      case Io::kEof: {
        if (!opts.confirm_close) {
          set_end(w, Watch::End::kEof);
          break;
        }
        if (!w.fin_at) {
          w.fin_at = Clock::now() - w.t0;
          w.prober = CloseProber({}, milliseconds(20), w.close_seen ? 1.0 : 1.5);
        }
        IoResult c = w.prober.run(sock, until);
        if (c.status == Io::kTimeout) return;  // half-closed so far
        if (c.status == Io::kError) {
          set_end(w, Watch::End::kError, errno_text(c.err));
        } else {
          set_end(w, Watch::End::kReset);
        }
        break;
      }
      case Io::kReset:
        set_end(w, Watch::End::kReset);
        break;
      case Io::kError:
        set_end(w, Watch::End::kError, errno_text(r.err));
        break;
    }
  }
}

CloseProber::CloseProber(std::span<const uint8_t> pending, Clock::duration interval,
                         double growth)
    : out_(pending.begin(), pending.end()), interval_(interval), growth_(growth) {}

IoResult CloseProber::run(ProbeSocket& sock, Deadline until) {
  static const Bytes kPong = [] {
    FrameSpec spec;
    spec.opcode = opcode::kPong;
    return build_frame(spec, Bytes{});
  }();
  while (true) {
    Clock::time_point now = Clock::now();
    if (!next_probe_ || now >= *next_probe_) {
      // Finish what is in flight, or start the next probe frame.
      if (pos_ == out_.size()) {
        out_ = kPong;
        pos_ = 0;
        ++probes_;
      }
      IoResult r = sock.send_some(out_.data() + pos_, out_.size() - pos_);
      if (r.status != Io::kOk) return r;
      pos_ += r.n;
      if (pos_ == out_.size()) {
        // Whole frame out: schedule the next one.
        if (next_probe_) {
          interval_ = std::chrono::duration_cast<Clock::duration>(interval_ * growth_);
        }
        next_probe_ = now + interval_;
      } else {
        next_probe_ = now + milliseconds(5);  // send buffer full: retry the rest soon
      }
    }
    IoResult e = sock.wait_error(std::min(until, *next_probe_));
    if (e.status != Io::kTimeout) return e;
    if (Clock::now() >= until) return IoResult{Io::kTimeout, 0, 0};
  }
}

std::string describe_end(const Watch& w) {
  switch (w.end) {
    case Watch::End::kOpen: return "still open";
    case Watch::End::kEof: return "EOF";
    case Watch::End::kReset: return "reset";
    case Watch::End::kError: return "read error: " + w.error;
    case Watch::End::kBadFrame: return "unparseable server frame: " + w.error;
  }
  return "?";
}

std::string ended_text(const Watch& w) {
  if (w.fin_at && w.end == Watch::End::kReset) {
    return "FIN at " + secs(*w.fin_at) + ", closed at " + secs(w.end_at) +
           " (reset on our probe frame)";
  }
  if (w.fin_at && !w.ended()) {
    return "FIN at " + secs(*w.fin_at) +
           " but not closed (half-closed: probe frames still accepted)";
  }
  if (w.closed()) return "TCP " + describe_end(w) + " at " + secs(w.end_at);
  return describe_end(w);
}

std::string describe(const Watch& w) {
  std::vector<std::string> parts;
  if (w.close_seen) {
    parts.push_back(close_text(w) + " at " + secs(w.close_at) +
                    (w.close_answered ? " (answered)" : " (not answered)"));
  } else {
    parts.push_back("no close frame");
  }
  if (w.ended() || w.fin_at) parts.push_back(ended_text(w));
  if (w.pings > 0) {
    parts.push_back(plural(size_t(w.pings), "ping") +
                    " (first at " + secs(*w.first_ping) + ")");
  } else {
    parts.push_back("no ping");
  }
  if (w.data_frames > 0) {
    parts.push_back(plural(w.data_frames, "data frame") + " (" + mib(w.data_bytes) + ")");
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ", ";
    out += parts[i];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------------------------

namespace {

// Reads the response head (up to the blank line) into head; bytes after it into leftover.
bool read_response_head(ProbeSocket& sock, Deadline deadline, std::string& head,
                        std::string& leftover, std::string* error) {
  std::string buf;
  std::array<char, 4096> chunk;
  while (true) {
    size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      head = buf.substr(0, end);
      leftover = buf.substr(end + 4);
      return true;
    }
    if (buf.size() > 16384) {
      *error = "response head over 16 KiB";
      return false;
    }
    IoResult r = sock.read_some(chunk.data(), chunk.size(), deadline);
    if (r.status == Io::kOk) {
      buf.append(chunk.data(), r.n);
      continue;
    }
    if (r.status == Io::kTimeout) {
      *error = buf.empty() ? "no response to the upgrade request"
                           : "incomplete response: '" + printable(buf) + "'";
    } else if (r.status == Io::kError) {
      *error = std::string("read error: ") + errno_text(r.err);
    } else {
      *error = std::string("connection closed (") + io_name(r.status) + ") before a response" +
               (buf.empty() ? "" : ": '" + printable(buf) + "'");
    }
    return false;
  }
}

}  // namespace

ProbeSocket connect_target(const ProbeOptions& opts, Deadline deadline, std::string* error,
                           ProbeSocket::Options sock_opts) {
  ProbeSocket sock = ProbeSocket::connect(opts.target.endpoint, deadline, error, sock_opts);
  if (!sock.valid() || !opts.target.url.secure) return sock;
  if (!opts.target.tls) {
    if (error) *error = "wss:// without a TLS context";
    return ProbeSocket();
  }
  if (!sock.start_tls(*opts.target.tls, opts.target.url.host, deadline, error)) return ProbeSocket();
  return sock;
}

bool open_websocket(const ProbeOptions& opts, Connection& conn, std::string* error,
                    ProbeSocket::Options sock_opts, Offer offer) {
  Deadline deadline = Clock::now() + opts.setup_limit;
  std::string err;
  conn.sock = connect_target(opts, deadline, &err, sock_opts);
  if (!conn.sock.valid()) {
    *error = err;
    return false;
  }
  std::string key = new_websocket_key();
  const bool deflate =
      offer == Offer::kDeflate || (offer == Offer::kAsOptions && opts.offer_deflate);
  std::vector<std::string> headers = opts.target.headers;
  if (deflate)
    headers.push_back("Sec-WebSocket-Extensions: " + std::string(client::kDeflateOffer));
  std::string req =
      upgrade_request(opts.target.url.host_header(), opts.target.url.path, key, headers);
  IoResult s = conn.sock.send_all(req.data(), req.size(), deadline);
  if (s.status != Io::kOk) {
    *error = std::string("sending the upgrade request: ") +
             (s.status == Io::kError ? errno_text(s.err) : io_name(s.status));
    return false;
  }
  std::string head, leftover;
  if (!read_response_head(conn.sock, deadline, head, leftover, &err)) {
    *error = "upgrade: " + err;
    return false;
  }
  std::string bad = check_upgrade_response(head, key, deflate, &conn.deflate);
  if (!bad.empty()) {
    *error = "upgrade: " + bad;
    return false;
  }
  conn.reader.frames.set_deflate(conn.deflate);
  if (offer == Offer::kDeflate && !conn.deflate.accepted) {
    *error = "the server declined permessage-deflate (this check needs it)";
    return false;
  }
  conn.reader.feed(reinterpret_cast<const uint8_t*>(leftover.data()), leftover.size());
  conn.upgraded_at = Clock::now();
  return true;
}

bool preflight(ProbeOptions& opts, const std::vector<Endpoint>& endpoints, std::string* error) {
  std::string errors;
  for (const Endpoint& ep : endpoints) {
    ProbeOptions o = opts;
    o.target.endpoint = ep;
    Connection conn;
    std::string err;
    if (!open_websocket(o, conn, &err)) {
      if (!errors.empty()) errors += "; ";
      errors += err;
      continue;
    }
    // Leave politely: a close frame, then (RFC 6455 §7.1.1: the server closes TCP first) wait
    // briefly for the server's close frame and its FIN before closing our end.
    FrameSpec spec;
    spec.opcode = opcode::kClose;
    Bytes frame = build_frame(spec, close_payload(1000));
    Deadline bye = Clock::now() + milliseconds(1000);
    conn.sock.send_all(frame.data(), frame.size(), bye);
    Watch w;
    w.t0 = Clock::now();
    watch(conn.sock, conn.reader, w, bye);
    opts.target.endpoint = ep;
    return true;
  }
  *error = errors;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

CheckResult check_silent_tcp(const ProbeOptions& opts) {
  constexpr std::string_view kName = "silent-tcp";
  std::string err;
  ProbeSocket sock = ProbeSocket::connect(opts.target.endpoint,
                                          Clock::now() + opts.setup_limit, &err);
  if (!sock.valid()) return make(kName, false, {}, err);
  Clock::time_point t0 = Clock::now();
  Deadline deadline = t0 + opts.max_wait;
  std::string got;
  uint64_t got_bytes = 0;
  std::array<char, 4096> buf;
  while (true) {
    IoResult r = sock.read_some(buf.data(), buf.size(), deadline);
    Clock::duration at = Clock::now() - t0;
    std::string sent_note =
        got_bytes ? " (it sent " + std::to_string(got_bytes) + " bytes first: '" +
                        printable(got, 40) + "')"
                  : " (no response bytes)";
    switch (r.status) {
      case Io::kOk:
        got_bytes += r.n;
        if (got.size() < 64) got.append(buf.data(), std::min<size_t>(r.n, 64 - got.size()));
        continue;
      case Io::kEof:
      case Io::kReset:
        return make(kName, true, at,
                    std::string("server closed (") + io_name(r.status) + ") a connection that "
                    "sent nothing" + sent_note);
      case Io::kError:
        return make(kName, false, at, std::string("read error: ") + errno_text(r.err));
      case Io::kTimeout:
        return make(kName, false, at,
                    "still open after " + ms_text(opts.max_wait) +
                        ": a peer that never sends a byte is never reaped" + sent_note);
    }
  }
}

milliseconds header_dribble_interval(const ProbeOptions& opts) {
  return std::max(std::min(opts.dribble_interval, opts.max_wait / 12), milliseconds(1));
}

CheckResult check_header_dribble(const ProbeOptions& opts) {
  constexpr std::string_view kName = "header-dribble";
  std::string err;
  ProbeSocket sock = connect_target(opts, Clock::now() + opts.setup_limit, &err);
  if (!sock.valid()) return make(kName, false, {}, err);
  const std::string req = upgrade_request(opts.target.url.host_header(), opts.target.url.path,
                                          new_websocket_key(), opts.target.headers);
  const milliseconds interval = header_dribble_interval(opts);
  Clock::time_point t0 = Clock::now();
  Deadline deadline = t0 + opts.max_wait;
  size_t sent = 0;
  std::string response;
  std::array<char, 4096> buf;
  const std::string pace = "one byte every " + ms_text(interval);
  auto progress = [&] {
    return std::to_string(sent) + " of " + std::to_string(req.size()) + " request bytes sent (" +
           pace + ")";
  };
  auto on_closed = [&](Io how) {
    Clock::duration at = Clock::now() - t0;
    std::string what = std::string("server closed (") + io_name(how) + ")";
    if (sent < req.size()) {
      return make(kName, true, at, what + " before the request was complete: " + progress());
    }
    if (response.rfind("HTTP/1.1 101", 0) == 0) {
      return make(kName, false, at, "server accepted the dribbled request (101) before " +
                                        what);
    }
    return make(kName, true, at, what + " after the whole request, answering '" +
                                     printable(response.substr(0, response.find("\r\n")), 40) +
                                     "'");
  };
  while (true) {
    Deadline next_send = sent < req.size()
                             ? std::min(Deadline(t0 + interval * std::ptrdiff_t(sent)), deadline)
                             : deadline;
    // Listen until it is time for the next byte.
    while (true) {
      IoResult r = sock.read_some(buf.data(), buf.size(), next_send);
      if (r.status == Io::kTimeout) break;
      if (r.status == Io::kOk) {
        if (response.size() < 4096) response.append(buf.data(), r.n);
        if (sent == req.size() && response.rfind("HTTP/1.1 101", 0) == 0 &&
            response.find("\r\n\r\n") != std::string::npos) {
          return make(kName, false, Clock::now() - t0,
                      "server accepted the dribbled request: 101 after the last byte (" + pace +
                          ")");
        }
        continue;
      }
      if (r.status == Io::kError) {
        return make(kName, false, Clock::now() - t0,
                    std::string("read error: ") + errno_text(r.err));
      }
      return on_closed(r.status);
    }
    if (Clock::now() >= deadline) {
      return make(kName, false, Clock::now() - t0,
                  "still open after " + ms_text(opts.max_wait) + ": " + progress());
    }
    if (sent < req.size()) {
      IoResult s = sock.send_all(req.data() + sent, 1, deadline);
      if (s.status == Io::kReset) return on_closed(Io::kReset);
      if (s.status == Io::kError) {
        return make(kName, false, Clock::now() - t0,
                    std::string("send error: ") + errno_text(s.err));
      }
      if (s.status == Io::kOk) ++sent;
    }
  }
}

CheckResult check_upgrade_silence(const ProbeOptions& opts) {
  constexpr std::string_view kName = "upgrade-silence";
  Connection conn;
  std::string err;
  if (!open_websocket(opts, conn, &err)) return make(kName, false, {}, err);
  Watch w;
  w.t0 = conn.upgraded_at;
  WatchOptions wo;
  wo.confirm_close = true;
  watch(conn.sock, conn.reader, w, w.t0 + opts.max_wait, wo);
  if (w.closed()) return make(kName, true, w.end_at, describe(w));
  if (w.ended()) return make(kName, false, w.end_at, describe(w));
  return make(kName, false, Clock::now() - w.t0,
              "still open after " + ms_text(opts.max_wait) + " of silence: " + describe(w));
}

CheckResult check_never_pong(const ProbeOptions& opts) {
  constexpr std::string_view kName = "never-pong";
  Connection conn;
  std::string err;
  if (!open_websocket(opts, conn, &err)) return make(kName, false, {}, err);
  Watch w;
  w.t0 = conn.upgraded_at;
  milliseconds ping_wait = std::min(opts.ping_wait, opts.max_wait);
  WatchOptions wo;
  wo.confirm_close = true;
  wo.stop = [](const Watch& x) { return x.pings > 0 || x.close_seen || x.fin_at.has_value(); };
  watch(conn.sock, conn.reader, w, w.t0 + ping_wait, wo);
  if (!w.ended() && w.pings == 0 && !w.close_seen && !w.fin_at) {
    return make(kName, false, Clock::now() - w.t0,
                "no ping within " + ms_text(ping_wait) +
                    " and still open: the server neither pings nor reaps a silent peer");
  }
  wo.stop = nullptr;
  watch(conn.sock, conn.reader, w, w.t0 + opts.max_wait, wo);
  std::string pings = w.pings > 0 ? "pinged (first ping at " + secs(*w.first_ping) + ", " +
                                        std::to_string(w.pings) + " unanswered)"
                                  : "no ping seen";
  if (w.closed()) {
    std::string how = w.close_seen ? close_text(w) + " at " + secs(w.close_at) + ", "
                                   : std::string("no close frame, ");
    return make(kName, true, w.end_at, pings + "; " + how + ended_text(w));
  }
  if (w.ended()) return make(kName, false, w.end_at, pings + "; " + describe(w));
  return make(kName, false, Clock::now() - w.t0,
              pings + "; still open after " + ms_text(opts.max_wait) + ": " + describe(w));
}

CheckResult check_close_unanswered(const ProbeOptions& opts) {
  constexpr std::string_view kName = "close-unanswered";
  Connection conn;
  std::string err;
  if (!open_websocket(opts, conn, &err)) return make(kName, false, {}, err);
  // RSV1 without a negotiated extension: the server must fail the connection with a close.
  FrameSpec spec;
  spec.opcode = opcode::kText;
  spec.rsv = 4;
  Bytes frame = build_frame(spec, std::string_view("probe"));
  Watch w;
  w.t0 = Clock::now();
  IoResult s = conn.sock.send_all(frame.data(), frame.size(), w.t0 + opts.setup_limit);
  if (s.status == Io::kError) {
    return make(kName, false, {}, std::string("send error: ") + errno_text(s.err));
  }
  milliseconds prompt = prompt_bound(opts);
  WatchOptions wo;
  wo.confirm_close = true;
  wo.stop = [](const Watch& x) { return x.close_seen || x.fin_at.has_value(); };
  watch(conn.sock, conn.reader, w, w.t0 + prompt, wo);
  if (!w.close_seen) {
    if (w.ended() || w.fin_at) {
      // No close handshake to hang; judge how the connection ended within max-wait.
      wo.stop = nullptr;
      watch(conn.sock, conn.reader, w, w.t0 + opts.max_wait, wo);
      if (w.closed()) {
        return make(kName, true, w.end_at,
                    "no close frame after an RSV1 frame: the server dropped the connection; " +
                        ended_text(w));
      }
      return make(kName, false, w.ended() ? w.end_at : Clock::now() - w.t0, describe(w));
    }
    return make(kName, false, Clock::now() - w.t0,
                "no close frame within " + ms_text(prompt) +
                    " of a frame with RSV1 set (invalid frame ignored?), connection still open");
  }
  // Now the part under test: the server's close is never answered.
  wo.stop = nullptr;
  watch(conn.sock, conn.reader, w, w.t0 + w.close_at + opts.max_wait, wo);
  std::string close_part = close_text(w) + " at " + secs(w.close_at) + ", never answered";
  if (w.closed()) {
    return make(kName, true, w.end_at,
                close_part + "; " + ended_text(w) + " (" + secs(w.end_at - w.close_at) +
                    " after the close frame)");
  }
  if (w.ended()) return make(kName, false, w.end_at, close_part + "; " + describe_end(w));
  std::string fin = w.fin_at ? "FIN at " + secs(*w.fin_at) + " but " : std::string();
  return make(kName, false, Clock::now() - w.t0,
              close_part + "; " + fin + "connection still open " + ms_text(opts.max_wait) +
                  " after it (an unanswered close is never timed out)");
}

CheckResult check_half_close(const ProbeOptions& opts) {
  constexpr std::string_view kName = "half-close";
  Connection conn;
  std::string err;
  if (!open_websocket(opts, conn, &err)) return make(kName, false, {}, err);
  Watch w;
  w.t0 = Clock::now();
  if (!conn.sock.shutdown_write()) {
    return make(kName, false, {}, std::string("shutdown: ") + errno_text(errno));
  }
  watch(conn.sock, conn.reader, w, w.t0 + opts.max_wait);
  if (w.closed()) {
    return make(kName, true, w.end_at, "FIN without a close frame; server: " + describe(w));
  }
  if (w.ended()) return make(kName, false, w.end_at, describe(w));
  return make(kName, false, Clock::now() - w.t0,
              "still open " + ms_text(opts.max_wait) + " after our FIN: " + describe(w));
}

CheckResult check_never_read(const ProbeOptions& opts) {
  constexpr std::string_view kName = "never-read";
  Connection conn;
  std::string err;
  ProbeSocket::Options so;
  so.rcvbuf = opts.never_read_rcvbuf;
  if (!open_websocket(opts, conn, &err, so)) return make(kName, false, {}, err);

  Bytes payload(opts.never_read_message);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i * 131 + 7);
  FrameSpec spec;
  spec.opcode = opcode::kBinary;
  const Bytes frame = build_frame(spec, payload);

  Watch w;
  w.t0 = Clock::now();
  const Deadline deadline = w.t0 + opts.max_wait;
  const milliseconds reserve =
      std::clamp(opts.max_wait / 4, milliseconds(100), milliseconds(1000));
  const Deadline send_until = deadline - reserve;
  const milliseconds stall =
      std::max(std::min(opts.send_stall, opts.max_wait / 4), milliseconds(10));
  auto fail_end = [&](const IoResult& r) {
    set_end(w, r.status == Io::kError ? Watch::End::kError : Watch::End::kReset,
            r.status == Io::kError ? errno_text(r.err) : "");
  };

  // Until send_until we never read. We send messages until the cap or until sends block for
  // `stall`; after that only probe frames (the rest of the frame in flight, then an empty pong
  // every 20 ms) go out, so that a socket the server has closed answers with a reset even when
  // its FIN is stuck behind the data we leave unread.
  uint64_t sent = 0;
  size_t pos = 0;
  Clock::time_point last_progress = w.t0;
  std::string stop_note;
  while (Clock::now() < send_until) {
    IoResult r = conn.sock.wait_writable(std::min(send_until, Deadline(last_progress + stall)));
    if (r.status == Io::kTimeout) {
      if (Clock::now() >= last_progress + stall) {
        stop_note = "sends blocked from " + secs(last_progress - w.t0);
        break;
      }
      continue;
    }
    if (r.status == Io::kOk) r = conn.sock.send_some(frame.data() + pos, frame.size() - pos);
    if (r.status != Io::kOk) {
      fail_end(r);
      break;
    }
    if (r.n > 0) {
      sent += r.n;
      pos = (pos + r.n) % frame.size();
      last_progress = Clock::now();
      if (sent >= opts.never_read_cap) {
        stop_note = "stopped sending at the " + mib(opts.never_read_cap) + " cap";
        break;
      }
    }
  }
  CloseProber prober(
      pos ? std::span<const uint8_t>(frame).subspan(pos) : std::span<const uint8_t>(),
      milliseconds(20), 1.5);
  size_t unread = conn.sock.unread_bytes();
  if (!w.ended() && Clock::now() < send_until) {
    IoResult r = prober.run(conn.sock, send_until);
    if (r.status != Io::kTimeout) fail_end(r);
  }
  const bool ended_unread = w.ended();
  const Clock::duration unread_until = Clock::now() - w.t0;
  unread = std::max(unread, conn.sock.unread_bytes());

  if (ended_unread) {
    // Read what the reset left readable (rarely anything), for the close code.
    Watch after;
    after.t0 = w.t0;
    watch(conn.sock, conn.reader, after,
          std::min(deadline, Deadline(Clock::now() + milliseconds(200))));
    w.close_seen = after.close_seen;
    w.close_code = after.close_code;
    w.close_reason = after.close_reason;
    w.close_at = after.close_at;
    w.data_frames = after.data_frames;
  } else {
    // Not reaped while we did not read: now read, to see whether the server closed behind the
    // data we left unread, and confirm a FIN with probes.
    watch(conn.sock, conn.reader, w, deadline);
    if (w.end == Watch::End::kEof) {
      w.end = Watch::End::kOpen;
      w.fin_at = w.end_at;
      IoResult r = prober.run(conn.sock, deadline);
      if (r.status != Io::kTimeout) fail_end(r);
    }
  }

  std::string sent_note = mib(sent) + " sent";
  if (!stop_note.empty()) sent_note += ", " + stop_note;
  std::string echo_note;
  if (unread == 0 && w.data_frames == 0 && !w.close_seen) {
    echo_note = "; the server sent nothing back (not an echo endpoint?): this check needs an "
                "endpoint that answers messages";
  }
  std::string close_note = w.close_seen ? "; " + close_text(w) + " read afterwards" : "";
  if (w.end == Watch::End::kError || w.end == Watch::End::kBadFrame) {
    return make(kName, false, w.end_at, describe_end(w) + " (" + sent_note + ")");
  }
  if (w.closed()) {
    std::string how;
    if (ended_unread) {
      how = "connection reset by the server at " + secs(w.end_at) + " while we never read";
    } else {
      how = (w.fin_at ? "FIN at " + secs(*w.fin_at) + ", " : std::string()) + "closed at " +
            secs(w.end_at) + " (we stopped not-reading at " + secs(unread_until) + ")";
    }
    return make(kName, true, w.end_at, how + " (" + sent_note + ")" + close_note);
  }
  if (w.fin_at) {
    return make(kName, false, Clock::now() - w.t0,
                "FIN at " + secs(*w.fin_at) + " but the connection was not closed by " +
                    ms_text(opts.max_wait) + " (half-closed) (" + sent_note + ")" + close_note);
  }
  return make(kName, false, Clock::now() - w.t0,
              "still open after " + ms_text(opts.max_wait) + " (" + sent_note + ", " +
                  mib(unread) + " unread when we started reading at " + secs(unread_until) +
                  ")" + close_note + echo_note);
}

namespace {

// Sends `frame` after the upgrade and expects a close frame with one of `codes` (then TCP
// closed; the close is answered) within the prompt bound.
CheckResult protocol_error_check(const ProbeOptions& opts, std::string_view name,
                                 const Bytes& frame, std::initializer_list<uint16_t> codes,
                                 bool tcp_close_suffices, std::string_view what,
                                 Offer offer = Offer::kAsOptions) {
  Connection conn;
  std::string err;
  if (!open_websocket(opts, conn, &err, {}, offer)) return make(name, false, {}, err);
  Watch w;
  w.t0 = Clock::now();
  const milliseconds prompt = prompt_bound(opts);
  IoResult s = conn.sock.send_all(frame.data(), frame.size(), w.t0 + prompt);
  if (s.status == Io::kError) {
    return make(name, false, {}, std::string("send error: ") + errno_text(s.err));
  }
  WatchOptions wo;
  wo.answer_close = true;
  watch(conn.sock, conn.reader, w, w.t0 + prompt, wo);
  std::string expected;
  for (uint16_t c : codes) expected += (expected.empty() ? "" : " or ") + std::to_string(c);
  std::string data_note =
      w.data_frames ? " (" + plural(w.data_frames, "data frame") + " before it)" : "";
  if (w.end == Watch::End::kBadFrame || w.end == Watch::End::kError) {
    return make(name, false, w.end_at, describe_end(w));
  }
  if (w.close_seen) {
    bool ok = w.close_code && std::find(codes.begin(), codes.end(), *w.close_code) != codes.end();
    std::string close_part = close_text(w) + " at " + secs(w.close_at) + data_note +
                             (w.close_answered ? " (answered)" : "");
    if (!ok) {
      return make(name, false, w.closed() ? w.end_at : Clock::now() - w.t0,
                  close_part + " after " + std::string(what) + ", expected " + expected);
    }
    if (w.closed()) {
      return make(name, true, w.end_at,
                  close_part + ", TCP " + describe_end(w) + " at " + secs(w.end_at));
    }
    return make(name, false, Clock::now() - w.t0,
                close_part + " and answered, but TCP still open " + ms_text(prompt) +
                    " after " + std::string(what));
  }
  if (w.closed()) {
    std::string part = "no close frame; TCP " + describe_end(w) + " at " + secs(w.end_at) +
                       " after " + std::string(what) + data_note;
    if (tcp_close_suffices) return make(name, true, w.end_at, part);
    return make(name, false, w.end_at, part + ", expected close " + expected);
  }
  return make(name, false, Clock::now() - w.t0,
              "no close frame and still open " + ms_text(prompt) + " after " + std::string(what) +
                  data_note + ", expected close " + expected);
}

}  // namespace

CheckResult check_oversized_length(const ProbeOptions& opts) {
  FrameSpec spec;
  spec.opcode = opcode::kBinary;
  spec.declared_length = uint64_t(1) << 62;
  Bytes frame = build_frame(spec, std::string_view("ringway-probe..."));
  return protocol_error_check(opts, "oversized-length", frame, {1009, 1002}, true,
                              "a 2^62-byte frame header");
}

CheckResult check_invalid_utf8(const ProbeOptions& opts) {
  FrameSpec spec;
  spec.opcode = opcode::kText;
  const uint8_t bad[] = {'o', 'k', 0xc3, 0x28};
  Bytes frame = build_frame(spec, std::span<const uint8_t>(bad, sizeof bad));
  return protocol_error_check(opts, "invalid-utf8", frame, {1007}, false,
                              "a text frame with invalid UTF-8");
}

CheckResult check_unmasked_frame(const ProbeOptions& opts) {
  FrameSpec spec;
  spec.opcode = opcode::kText;
  spec.masked = false;
  Bytes frame = build_frame(spec, std::string_view("hello"));
  return protocol_error_check(opts, "unmasked-frame", frame, {1002}, false,
                              "an unmasked client frame");
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate checks (RFC 7692)
// ---------------------------------------------------------------------------------------------

Bytes deflate_zeros(uint64_t zeros) {
  // Streamed from one zero block, so the probe never holds the inflated size; level 9 for the
  // smallest bomb (ws::Deflater, which the gateway sends with, is level 1 on whole messages).
  static const std::vector<uint8_t> block(size_t(1) << 20, 0);
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  Bytes out;
  uint8_t chunk[16384];
  for (uint64_t left = zeros;;) {
    size_t n = size_t(std::min<uint64_t>(left, block.size()));
    left -= n;
    z.next_in = const_cast<Bytef*>(block.data());
    z.avail_in = uInt(n);
    do {
      z.next_out = chunk;
      z.avail_out = sizeof chunk;
      deflate(&z, left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      out.insert(out.end(), chunk, chunk + (sizeof chunk - z.avail_out));
    } while (z.avail_out == 0);
    if (left == 0) break;
  }
  deflateEnd(&z);
  if (out.size() >= 4) out.resize(out.size() - 4);  // the 00 00 ff ff tail (RFC 7692 §7.2.1)
  return out;
}

Bytes deflate_bytes(std::span<const uint8_t> data) {
  ws::Deflater d;
  std::span<const uint8_t> c = d.compress(data, 15);
  return Bytes(c.begin(), c.end());
}

CheckResult check_rsv1_unnegotiated(const ProbeOptions& opts) {
  FrameSpec spec;
  spec.opcode = opcode::kText;
  spec.rsv = 4;
  const std::string_view text = "ringway-probe: compressed?";
  Bytes frame = build_frame(spec, deflate_bytes({reinterpret_cast<const uint8_t*>(text.data()),
                                                 text.size()}));
  return protocol_error_check(opts, "rsv1-unnegotiated", frame, {1002}, false,
                              "a compressed (RSV1) frame without a negotiated extension",
                              Offer::kNothing);
}

CheckResult check_rsv1_continuation(const ProbeOptions& opts) {
  // A compressed message in two frames, RSV1 on both: only the first may carry it.
  const std::string text(600, 'p');
  Bytes body = deflate_bytes({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  size_t half = body.size() / 2;
  FrameSpec first;
  first.opcode = opcode::kText;
  first.fin = false;
  first.rsv = 4;
  FrameSpec second;
  second.opcode = opcode::kContinuation;
  second.rsv = 4;
  Bytes frames = build_frame(first, std::span<const uint8_t>(body).first(half));
  Bytes tail = build_frame(second, std::span<const uint8_t>(body).subspan(half));
  frames.insert(frames.end(), tail.begin(), tail.end());
  return protocol_error_check(opts, "rsv1-continuation", frames, {1002}, false,
                              "RSV1 on a continuation frame", Offer::kDeflate);
}

CheckResult check_deflate_bomb(const ProbeOptions& opts) {
  // 1 GiB of zeros in about 1 MiB would cost the probe a second of CPU to make; 64 MiB in ~64 KiB
  // is past any sane message limit and shows the same thing: the server must stop inflating at
  // its limit and close 1009, not hold (or even produce) the 64 MiB.
  static const Bytes body = deflate_zeros(uint64_t(64) << 20);
  FrameSpec spec;
  spec.opcode = opcode::kBinary;
  spec.rsv = 4;
  Bytes frame = build_frame(spec, body);
  return protocol_error_check(opts, "deflate-bomb", frame, {1009}, false,
                              "a " + std::to_string(body.size() >> 10) +
                                  " KiB compressed message that inflates to 64 MiB",
                              Offer::kDeflate);
}

// ---------------------------------------------------------------------------------------------
// TLS checks (wss:// targets): the handshake itself, on a plain TCP connection
// ---------------------------------------------------------------------------------------------

namespace {

// A real ClientHello for the target (as the probe's own TLS would send it), from a session on
// memory buffers that never gets an answer.
Bytes client_hello(const ProbeOptions& opts) {
  Bytes out;
  if (!opts.target.tls) return out;
  SSL* ssl = SSL_new(opts.target.tls->get());
  if (!ssl) return out;
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  tls::prepare_client(ssl, *opts.target.tls, opts.target.url.host);
  SSL_connect(ssl);  // wants to read: the ClientHello is in wbio
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (BIO_mem_contents(wbio, &data, &len)) out.assign(data, data + len);
  SSL_free(ssl);
  ERR_clear_error();
  return out;
}

// Sends `bytes` on a new TCP connection, then reads until the server closes it or `limit`
// passes. pass_if(response, closed) decides; the detail says what came back and when.
CheckResult send_and_expect_close(const ProbeOptions& opts, std::string_view name,
                                  const Bytes& bytes, milliseconds limit, const char* what) {
  std::string err;
  ProbeSocket sock = ProbeSocket::connect(opts.target.endpoint, Clock::now() + opts.setup_limit,
                                          &err);
  if (!sock.valid()) return make(name, false, {}, err);
  Clock::time_point t0 = Clock::now();
  IoResult s = sock.send_all(bytes.data(), bytes.size(), t0 + opts.setup_limit);
  if (s.status != Io::kOk) {
    return make(name, false, Clock::now() - t0,
                std::string("sending ") + what + ": " +
                    (s.status == Io::kError ? errno_text(s.err) : io_name(s.status)));
  }
  std::string response;
  std::array<char, 4096> buf;
  while (true) {
    IoResult r = sock.read_some(buf.data(), buf.size(), t0 + limit);
    Clock::duration at = Clock::now() - t0;
    if (r.status == Io::kOk) {
      if (response.size() < 4096) response.append(buf.data(), r.n);
      continue;
    }
    std::string got = response.empty() ? "no response bytes"
                                       : std::to_string(response.size()) + " response bytes: '" +
                                             printable(response, 40) + "'";
    bool alert_only = !response.empty() && uint8_t(response[0]) == 0x15;  // a TLS alert record
    if (r.status == Io::kTimeout) {
      return make(name, false, at,
                  "still open " + ms_text(limit) + " after " + what + " (" + got + ")");
    }
    if (r.status == Io::kError) {
      return make(name, false, at, std::string("read error: ") + errno_text(r.err));
    }
    bool http = response.find("HTTP/") != std::string::npos;
    bool pass = !http && (response.empty() || alert_only);
    return make(name, pass, at,
                std::string("server closed (") + io_name(r.status) + ") after " + what + " (" +
                    (alert_only ? "a TLS alert, " + std::to_string(response.size()) + " bytes"
                                : got) +
                    (http ? ": an HTTP answer on a TLS port" : "") + ")");
  }
}

}  // namespace

CheckResult check_tls_stalled_handshake(const ProbeOptions& opts) {
  constexpr std::string_view kName = "tls-stalled-handshake";
  Bytes hello = client_hello(opts);
  if (hello.size() < 16) return make(kName, false, {}, "could not build a ClientHello");
  hello.resize(hello.size() / 2);
  return send_and_expect_close(opts, kName, hello, opts.max_wait, "half a ClientHello");
}

CheckResult check_tls_garbage(const ProbeOptions& opts) {
  constexpr std::string_view kName = "tls-garbage";
  std::string req = "GET " + opts.target.url.path + " HTTP/1.1\r\nHost: " +
                    opts.target.url.host_header() + "\r\n\r\n";
  Bytes bytes(req.begin(), req.end());
  return send_and_expect_close(opts, kName, bytes, prompt_bound(opts),
                               "an HTTP request instead of a ClientHello");
}

// ---------------------------------------------------------------------------------------------
// Registry and running
// ---------------------------------------------------------------------------------------------

const std::vector<CheckInfo>& all_checks() {
  static const std::vector<CheckInfo> checks = {
      {"silent-tcp", "connect and send nothing: the server must close the TCP connection",
       check_silent_tcp},
      {"header-dribble",
       "send the upgrade request one byte at a time: the server must close before it completes",
       check_header_dribble},
      {"upgrade-silence", "upgrade, then send and answer nothing: the server must close",
       check_upgrade_silence},
      {"never-pong", "upgrade, never answer pings: the server must (ping and) reap the peer",
       check_never_pong},
      {"close-unanswered",
       "provoke a close (RSV1 frame), never answer it: the server must close TCP itself",
       check_close_unanswered},
      {"half-close", "upgrade, then FIN without a close frame: the server must close",
       check_half_close},
      {"never-read",
       "small receive buffer, send messages, never read: the server must drop the peer",
       check_never_read},
      {"oversized-length",
       "frame header declaring 2^62 bytes: close 1009/1002 (or TCP) without awaiting payload",
       check_oversized_length},
      {"invalid-utf8", "text frame with invalid UTF-8: close 1007, then TCP closed",
       check_invalid_utf8},
      {"unmasked-frame", "unmasked client frame: close 1002, then TCP closed",
       check_unmasked_frame},
      {"rsv1-unnegotiated",
       "compressed (RSV1) frame without negotiating deflate: close 1002, then TCP closed",
       check_rsv1_unnegotiated},
      {"rsv1-continuation",
       "deflate: RSV1 on a continuation frame: close 1002, then TCP closed",
       check_rsv1_continuation},
      {"deflate-bomb",
       "deflate: 64 KiB that inflates to 64 MiB: close 1009 at the limit, then TCP closed",
       check_deflate_bomb},
      {"tls-stalled-handshake",
       "wss://: half a ClientHello, then nothing: closed (handshake deadline), no response",
       check_tls_stalled_handshake, true},
      {"tls-garbage",
       "wss://: an HTTP request instead of a ClientHello: closed promptly, no HTTP response",
       check_tls_garbage, true},
  };
  return checks;
}

const CheckInfo* find_check(std::string_view name) {
  for (const CheckInfo& c : all_checks()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::vector<CheckResult> run_checks(const ProbeOptions& opts,
                                    const std::vector<const CheckInfo*>& checks, bool parallel,
                                    const std::function<void(const CheckResult&)>& on_result) {
  std::vector<CheckResult> results;
  results.reserve(checks.size());
  if (!parallel) {
    for (const CheckInfo* c : checks) {
      results.push_back(c->run(opts));
      if (on_result) on_result(results.back());
    }
    return results;
  }
  std::vector<std::future<CheckResult>> futures;
  futures.reserve(checks.size());
  for (const CheckInfo* c : checks) {
    futures.push_back(std::async(std::launch::async, [c, &opts] { return c->run(opts); }));
  }
  for (auto& f : futures) {
    results.push_back(f.get());
    if (on_result) on_result(results.back());
  }
  return results;
}

}  // namespace ringway::probe
