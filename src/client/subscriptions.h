#pragma once
// The channels a session wants, what it last knew of each (epoch, latest offset), and the gaps
// that knowledge reveals: on a resubscribe answer (the connection was down) and on a delivery
// that skips offsets. Pure bookkeeping, no I/O, so every case has a unit test.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringway/session.h"

namespace ringway::client {

class Subscriptions {
 public:
  // The application asked for the channel; true when it was not wanted already.
  bool add(std::string_view channel);
  // The application gave it up; true when it had been wanted. An answer still on its way for
  // it then reports unwanted (see Answer::unsubscribe).
  bool remove(std::string_view channel);
  bool wanted(std::string_view channel) const;
  // Whether a subscribe should go out now for a wanted channel (none in flight, none granted).
  bool needs_subscribe(std::string_view channel) const;
  void mark_sent(std::string_view channel);
  // The subscribe was refused: wanted again (to be retried) or dropped.
  void on_refused(std::string_view channel, bool keep);
  // The connection ended: nothing is subscribed on the server any more; what was learnt stays.
  void on_disconnect();
  // Wanted channels with no subscribe in flight and no grant (after a hello, or a retry).
  std::vector<std::string> pending() const;
  std::vector<std::string> wanted_list() const;

  struct Answer {
    bool unsubscribe = false;   // the channel was given up meanwhile: unsubscribe it now
    bool resubscribed = false;  // there was history from an earlier session
    std::optional<Gap> gap;
  };
  Answer on_answer(std::string_view channel, std::string_view epoch, uint64_t offset);

  struct Delivery {
    bool drop = false;  // the channel was given up: do not hand this to the application
    std::string_view epoch;  // "" when unknown (the device's own channel)
    std::optional<Gap> gap;
  };
  Delivery on_delivery(std::string_view channel, uint64_t offset);

 private:
  enum class Phase : uint8_t { kIdle, kSent, kActive };
  struct Entry {
    bool wanted = false;
    Phase phase = Phase::kIdle;
    bool known = false;      // epoch and offset hold an earlier answer or delivery
    bool this_session = false;  // offset was seen on the current connection
    std::string epoch;
    uint64_t offset = 0;     // the latest offset known
  };
  std::map<std::string, Entry, std::less<>> channels_;
};

}  // namespace ringway::client
