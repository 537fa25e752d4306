#pragma once
// Per-thread counters: written by one loop thread, read by the runner for the progress line
// and the report. Single writer, so an increment is a relaxed load and store, not a locked
// read-modify-write.
#include <atomic>
#include <cstdint>

namespace ringway::load {

struct Counters {
  using C = std::atomic<uint64_t>;
  C messages{0};        // echoes (fanout: deliveries) verified inside the measured window
  C messages_total{0};  // the same, whole run
  C sent_total{0};      // messages (fanout: publishes) sent, whole run
  // fanout
  C published{0};           // publishes sent inside the measured window
  C publish_ok{0};          // ok answers inside the window
  C publish_refused{0};     // UNAVAILABLE answers (retryable), whole run
  C delivered_reported{0};  // the sum of the ok answers' "delivered", inside the window
  C lost{0};                // numbers skipped in the order of deliveries, inside the window
  C lost_total{0};
  C subscribed{0};          // subscribers whose subscribe was confirmed (gauge)
  C connects{0};        // sessions ready (101 or hello) inside the measured window
  C connects_total{0};
  C attempts_total{0};  // TCP connects started
  C unavailable{0};     // UNAVAILABLE responses (also counted when the run is not measuring)
  C errors{0};          // everything that went wrong (UNAVAILABLE excluded)
  C auth_failures{0};   // error responses to the connect request other than UNAVAILABLE
  C reconnects{0};      // unplanned session ends followed by a delayed reconnect
  C dead{0};            // sessions declared dead after 3 ping intervals of silence
  C established{0};     // sessions ready now (gauge)
  C max_established{0};
  C tls_handshakes{0};  // wss://: TLS handshakes completed inside the measured window
  C tls_resumed{0};     // ... of which resumed a session
  C pings{0};           // server pings answered
  C bytes_in{0};
  C bytes_out{0};
  C last_ready_ns{0};   // time of the latest session start (monotonic ns)
  std::atomic<bool> finished{false};

  static void add(C& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void sub(C& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  static uint64_t get(const C& c) { return c.load(std::memory_order_relaxed); }
};

}  // namespace ringway::load
