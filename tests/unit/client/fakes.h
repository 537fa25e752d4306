#pragma once
// A clock the test moves by hand and a random source that returns scripted values (then
// cycles), for the reconnect policy and anything else that takes them.
#include <cstdint>
#include <vector>

#include "ringway/reconnect.h"

namespace ringway::client::test {

class FakeClock final : public Clock {
 public:
  uint64_t now_ms() override { return now; }
  uint64_t epoch_ms() override { return 1767225600000 + now; }
  void advance(uint64_t ms) { now += ms; }
  uint64_t now = 1'000'000;
};

class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<uint64_t> values) : values_(std::move(values)) {}
  uint64_t next_u64() override { return values_[i_++ % values_.size()]; }

 private:
  std::vector<uint64_t> values_;
  size_t i_ = 0;
};

}  // namespace ringway::client::test
