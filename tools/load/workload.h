#pragma once
// What a mode does with a ready connection. Each loop thread owns one Workload; the loop calls
// it from that thread only. A new mode is one more Workload and one more case in make_workload.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "load/options.h"
#include "ws/frame.h"

namespace ringway::load {

class Loop;
struct Conn;

class Workload {
 public:
  virtual ~Workload() = default;
  // Gateway route: appends this connection's connect request to `out` and returns true, or
  // returns false for the default (a device request with --keys and --scopes).
  virtual bool append_connect_request(Loop&, Conn&, std::string_view /*nonce*/,
                                      std::string& /*out*/) {
    return false;
  }
  // The session is up: the 101 on the echo route, the hello on the gateway route.
  virtual void on_ready(Loop&, Conn&) {}
  // A data message on a ready (or closing) session. Return false after closing the connection
  // (the rest of the input is then dropped).
  virtual bool on_message(Loop&, Conn&, ws::Opcode, std::span<const uint8_t>) {
    return true;
  }
  // Once per loop turn, before output is flushed.
  virtual void on_turn(Loop&) {}
  // The earliest monotonic time (ns) at which on_turn has work; 0: none.
  virtual uint64_t next_wakeup_ns(const Loop&) const { return 0; }
  // The session ended (before its socket is closed).
  virtual void on_session_end(Loop&, Conn&) {}
  // Whether ready connections keep their output buffers between sends (busy workloads), or
  // give them back when a send completes (idle ones: no memory per idle connection).
  virtual bool keeps_buffers(const Conn&) const { return false; }
};

// The workload of `opt.mode` for one of `threads` loop threads.
std::unique_ptr<Workload> make_workload(const Options& opt, unsigned thread, unsigned threads,
                                        uint64_t seed);
// fanout mode (fanout.cc).
std::unique_ptr<Workload> make_fanout_workload(const Options& opt, unsigned thread,
                                               unsigned threads);

}  // namespace ringway::load
