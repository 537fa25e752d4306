// TimerWheel against std::priority_queue (lazy deletion) and std::multimap, same binary, same
// access pattern. Reported per operation in the `ns/op` counter; the Time column is per batch.
//
// Pattern (what a worker with N connections does): N live timers, expiries now + 30 s +- 5 s.
// Operations touch timers in random order (connections are random in memory), in batches of
// kBatch timed by hand (manual time, thread CPU clock), so per-batch setup stays out of the
// numbers without PauseTiming. Cancel and arm alternate: each batch cancels kBatch random live timers,
// then arms kBatch timers that were cancelled long ago (a FIFO pool of N/4 nodes, so the nodes
// being armed are not still in cache from their cancel).
//
// Heap with lazy deletion: each owner keeps a generation; cancel bumps it (O(1)) and leaves the
// stale entry in the heap; re-arm bumps it and pushes a new entry; pops skip stale entries. When
// stale entries outnumber live ones the heap is compacted (filter + make_heap) inside push, so
// that cost lands in the arm/re-arm that triggers it. The heap's cancel is therefore nearly free
// and its real cost shows in arm, re-arm, expire and memory.
//
// Multimap: cancel is erase(iterator), arm is insert, re-arm is erase + insert (what typical
// code does; it allocates per arm).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <queue>
#include <random>
#include <vector>

#include <time.h>

#include <benchmark/benchmark.h>

#include "timer/timer_wheel.h"

namespace {

using ringway::timer::TimerNode;
using ringway::timer::TimerWheel;

constexpr size_t kBatch = 1024;
constexpr uint64_t kStart = 1'700'000'000'000;
constexpr uint64_t kTimeout = 30'000;
constexpr uint64_t kJitter = 5'000;

// ---- the three implementations behind one shape -------------------------------------------

struct WheelTimers {
  explicit WheelTimers(size_t ids) : wheel(kStart), nodes(ids) {}
  void arm(uint32_t id, uint64_t e) { wheel.arm(nodes[id], e); }
  void cancel(uint32_t id) { wheel.cancel(nodes[id]); }
  uint64_t now() const { return wheel.now(); }
  // Both ends of the node: a 24-byte node can straddle two cache lines.
  uint64_t touch(uint32_t id) const {
    return reinterpret_cast<uintptr_t>(nodes[id].next) + nodes[id].expiry;
  }
  // Sleep until next_timeout(), advance: the io loop's pattern.
  template <class Fn>
  void drain(Fn&& on_fire) {
    while (auto d = wheel.next_timeout()) {
      wheel.advance(wheel.now() + *d, [&](TimerNode& n) { on_fire(&n - nodes.data()); });
    }
  }
  double bytes_per_timer(size_t live) const {
    return sizeof(TimerNode) + double(sizeof(TimerWheel)) / double(live);
  }
  TimerWheel wheel;
  std::vector<TimerNode> nodes;
};

struct HeapTimers {
  struct Entry {
    uint64_t expiry;
    uint32_t id;
    uint32_t gen;
    bool operator>(const Entry& o) const { return expiry > o.expiry; }
  };
  // priority_queue keeps its container protected; compaction needs it.
  struct Queue : std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> {
    using priority_queue::c;
    using priority_queue::comp;
  };

  explicit HeapTimers(size_t ids) : gen(ids, 0), armed(ids, 0) {}
  void arm(uint32_t id, uint64_t e) {
    if (armed[id]) {
      ++gen[id];
    } else {
      armed[id] = 1;
      ++live;
    }
    if (q.size() >= 2 * live + 1024) compact();
    q.push({e, id, gen[id]});
  }
  void cancel(uint32_t id) {
    if (!armed[id]) return;
    armed[id] = 0;
    ++gen[id];
    --live;
  }
  bool stale(const Entry& e) const { return !armed[e.id] || gen[e.id] != e.gen; }
  void compact() {
    auto& c = q.c;
    c.erase(std::remove_if(c.begin(), c.end(), [this](const Entry& e) { return stale(e); }),
            c.end());
    std::make_heap(c.begin(), c.end(), q.comp);
  }
  template <class Fn>
  void drain(Fn&& on_fire) {
    while (!q.empty()) {
      clock = std::max(clock, q.top().expiry);  // sleep until the top entry
      while (!q.empty() && q.top().expiry <= clock) {
        Entry e = q.top();
        q.pop();
        if (stale(e)) continue;
        armed[e.id] = 0;
        --live;
        on_fire(e.id);
      }
    }
  }
  double bytes_per_timer(size_t n) const {
    return double(q.c.capacity() * sizeof(Entry) + gen.capacity() * 4 + armed.capacity()) /
           double(n);
  }
  uint64_t now() const { return clock; }
  uint64_t touch(uint32_t id) const { return gen[id] + armed[id]; }
  Queue q;
  uint64_t clock = kStart;
  std::vector<uint32_t> gen;
  std::vector<uint8_t> armed;
  size_t live = 0;
};

struct MapTimers {
  using Map = std::multimap<uint64_t, uint32_t>;
  explicit MapTimers(size_t ids) : pos(ids), armed(ids, 0) {}
  void arm(uint32_t id, uint64_t e) {
    if (armed[id]) map.erase(pos[id]);
    armed[id] = 1;
    pos[id] = map.emplace(e, id);
  }
  void cancel(uint32_t id) {
    if (!armed[id]) return;
    armed[id] = 0;
    map.erase(pos[id]);
  }
  template <class Fn>
  void drain(Fn&& on_fire) {
    while (!map.empty()) {
      clock = std::max(clock, map.begin()->first);
      while (!map.empty() && map.begin()->first <= clock) {
        uint32_t id = map.begin()->second;
        map.erase(map.begin());
        armed[id] = 0;
        on_fire(id);
      }
    }
  }
  double bytes_per_timer(size_t n) const {
    // A tree node is 32 bytes of links + the pair; glibc malloc adds 8 and rounds to 16.
    size_t node = (32 + sizeof(Map::value_type) + 8 + 15) & ~size_t{15};
    return double(map.size() * node + pos.capacity() * sizeof(Map::iterator) + armed.capacity()) /
           double(n);
  }
  uint64_t now() const { return clock; }
  uint64_t touch(uint32_t id) const {
    if (armed[id]) return pos[id]->first;  // the owner's iterator and its tree node
    uint64_t bits;
    std::memcpy(&bits, &pos[id], sizeof bits);  // a stale iterator: only its bytes are read
    return bits;
  }
  Map map;
  uint64_t clock = kStart;
  std::vector<Map::iterator> pos;
  std::vector<uint8_t> armed;
};

// ---- workload ------------------------------------------------------------------------------

// Random ids and jitters precomputed so the timed loops do no RNG work.
struct Workload {
  explicit Workload(size_t live_count) : live(live_count) {
    std::mt19937_64 rng(12345);
    size_t pool_size = std::max(kBatch, live_count / 4);
    std::vector<uint32_t> ids(live_count + pool_size);
    for (uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
    std::shuffle(ids.begin(), ids.end(), rng);
    live_ids.assign(ids.begin(), ids.begin() + live_count);
    pool.assign(ids.begin() + live_count, ids.end());
    order.resize(live_count);
    for (uint32_t i = 0; i < live_count; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    jitter.resize(1 << 16);
    for (uint64_t& j : jitter) j = kTimeout - kJitter + rng() % (2 * kJitter + 1);
  }
  size_t total_ids() const { return live_ids.size() + pool.size(); }
  uint64_t next_expiry(uint64_t now = kStart) { return now + jitter[jit++ & (jitter.size() - 1)]; }
  // kBatch distinct random positions of live_ids.
  const uint32_t* next_positions() {
    if (ord + kBatch > order.size()) ord = 0;
    const uint32_t* p = &order[ord];
    ord += kBatch;
    return p;
  }
  // The pool ring is always full: pop frees the head slot that the following push refills.
  uint32_t pool_pop() {
    uint32_t id = pool[pool_head];
    pool_head = (pool_head + 1) % pool.size();
    return id;
  }
  void pool_push(uint32_t id) {
    pool[pool_tail] = id;
    pool_tail = (pool_tail + 1) % pool.size();
  }

  size_t live;
  std::vector<uint32_t> live_ids, pool, order;
  std::vector<uint64_t> jitter;
  size_t jit = 0, ord = 0, pool_head = 0, pool_tail = 0;
};

// Thread CPU time, not wall time: this machine is shared, and time spent descheduled would
// otherwise land in whichever batch it interrupted. Reading it is a syscall (~0.5 us here), so
// the cost of an empty interval is measured once and subtracted from every batch.
struct Clock {
  using time_point = uint64_t;  // ns
  static time_point now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
  }
  static uint64_t empty_interval() {
    static const uint64_t cost = [] {
      uint64_t best = ~uint64_t{0};
      for (int i = 0; i < 1000; ++i) {
        time_point a = now();
        best = std::min(best, now() - a);
      }
      return best;
    }();
    return cost;
  }
};

double seconds(Clock::time_point a, Clock::time_point b) {
  uint64_t ns = b - a;
  uint64_t overhead = Clock::empty_interval();
  return double(ns > overhead ? ns - overhead : 0) * 1e-9;
}

template <class Timers>
void arm_live(Timers& t, Workload& w) {
  uint64_t now = t.now();
  for (uint32_t id : w.live_ids) t.arm(id, w.next_expiry(now));
}

enum class Timed { kArm, kCancel };

// The untimed half of each batch picks the ids, so the timed loops read only small sequential
// arrays. With warm=1 it also touches each owner's timer state first: in the gateway a timer is
// armed or cancelled while its connection is being handled, so the owner is already in cache.
// warm=0 is the cold worst case (an owner not touched for a long time).
template <class Timers>
void touch(const Timers& t, const std::vector<uint32_t>& ids, bool warm) {
  if (!warm) return;
  uint64_t sum = 0;  // consumed, so the loads really happen
  for (uint32_t id : ids) sum += t.touch(id);
  benchmark::DoNotOptimize(sum);
}

// Cancel kBatch random live timers, then arm kBatch long-cancelled ones; time one half.
template <class Timers, Timed kWhich>
void BM_ArmCancel(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  const bool warm = state.range(1) != 0;
  Timers t(w.total_ids());
  arm_live(t, w);
  std::vector<uint32_t> cancel_ids(kBatch), arm_ids(kBatch);
  std::vector<uint64_t> expiries(kBatch);
  double timed = 0;
  size_t ops = 0;
  for (auto _ : state) {
    const uint32_t* pos = w.next_positions();
    for (size_t k = 0; k < kBatch; ++k) {
      cancel_ids[k] = w.live_ids[pos[k]];
      arm_ids[k] = w.pool_pop();  // the oldest cancelled: the FIFO is N/4 deep
      w.pool_push(cancel_ids[k]);
      w.live_ids[pos[k]] = arm_ids[k];
      expiries[k] = w.next_expiry();
    }
    touch(t, cancel_ids, warm);
    auto t0 = Clock::now();
    for (size_t k = 0; k < kBatch; ++k) t.cancel(cancel_ids[k]);
    auto t1 = Clock::now();
    touch(t, arm_ids, warm);
    auto t2 = Clock::now();
    for (size_t k = 0; k < kBatch; ++k) t.arm(arm_ids[k], expiries[k]);
    auto t3 = Clock::now();
    double s = kWhich == Timed::kArm ? seconds(t2, t3) : seconds(t0, t1);
    state.SetIterationTime(s);
    timed += s;
    ops += kBatch;
  }
  state.counters["ns/op"] = timed * 1e9 / double(ops);
  state.counters["B/timer"] = t.bytes_per_timer(w.live);
}

// Move kBatch random live timers to a new expiry.
template <class Timers>
void BM_Rearm(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  const bool warm = state.range(1) != 0;
  Timers t(w.total_ids());
  arm_live(t, w);
  std::vector<uint32_t> ids(kBatch);
  std::vector<uint64_t> expiries(kBatch);
  double timed = 0;
  size_t ops = 0;
  for (auto _ : state) {
    const uint32_t* pos = w.next_positions();
    for (size_t k = 0; k < kBatch; ++k) {
      ids[k] = w.live_ids[pos[k]];
      expiries[k] = w.next_expiry();
    }
    touch(t, ids, warm);
    auto t0 = Clock::now();
    for (size_t k = 0; k < kBatch; ++k) t.arm(ids[k], expiries[k]);
    double s = seconds(t0, Clock::now());
    state.SetIterationTime(s);
    timed += s;
    ops += kBatch;
  }
  state.counters["ns/op"] = timed * 1e9 / double(ops);
  state.counters["B/timer"] = t.bytes_per_timer(w.live);
}

// Arm N timers (untimed), then fire them all the way an io loop would: sleep until the next
// expiry, advance, repeat. ns/op is per fired timer and includes the wheel's cascades.
template <class Timers>
void BM_Expire(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  Timers t(w.total_ids());
  double timed = 0;
  size_t ops = 0;
  size_t fired = 0;
  for (auto _ : state) {
    arm_live(t, w);
    auto t0 = Clock::now();
    t.drain([&](size_t) { ++fired; });
    double s = seconds(t0, Clock::now());
    state.SetIterationTime(s);
    timed += s;
    ops += w.live;
  }
  if (fired != ops) state.SkipWithError("fired count mismatch");
  state.counters["ns/op"] = timed * 1e9 / double(ops);
}

// An idle wheel (one far timer) jumping 10 minutes per advance: must not cost per tick.
void BM_WheelIdleJump(benchmark::State& state) {
  TimerWheel wheel(kStart);
  TimerNode far;
  wheel.arm(far, ~uint64_t{0});
  uint64_t now = kStart;
  for (auto _ : state) {
    now += 600'000;
    benchmark::DoNotOptimize(wheel.advance(now, [](TimerNode&) {}));
  }
}

constexpr int64_t kSizes[] = {int64_t{4} << 10, int64_t{64} << 10, int64_t{1} << 20,
                              int64_t{4} << 20};

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : kSizes) b->Arg(n);
  b->ArgName("n")->UseManualTime()->Unit(benchmark::kMicrosecond);
}

void SizesWarmCold(benchmark::internal::Benchmark* b) {
  for (int64_t warm : {1, 0}) {
    for (int64_t n : kSizes) b->Args({n, warm});
  }
  b->ArgNames({"n", "warm"})->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_ArmCancel<WheelTimers, Timed::kArm>)->Name("arm/wheel")->Apply(SizesWarmCold);
BENCHMARK(BM_ArmCancel<HeapTimers, Timed::kArm>)->Name("arm/heap")->Apply(SizesWarmCold);
BENCHMARK(BM_ArmCancel<MapTimers, Timed::kArm>)->Name("arm/multimap")->Apply(SizesWarmCold);
BENCHMARK(BM_ArmCancel<WheelTimers, Timed::kCancel>)->Name("cancel/wheel")->Apply(SizesWarmCold);
BENCHMARK(BM_ArmCancel<HeapTimers, Timed::kCancel>)->Name("cancel/heap")->Apply(SizesWarmCold);
BENCHMARK(BM_ArmCancel<MapTimers, Timed::kCancel>)->Name("cancel/multimap")->Apply(SizesWarmCold);
BENCHMARK(BM_Rearm<WheelTimers>)->Name("rearm/wheel")->Apply(SizesWarmCold);
BENCHMARK(BM_Rearm<HeapTimers>)->Name("rearm/heap")->Apply(SizesWarmCold);
BENCHMARK(BM_Rearm<MapTimers>)->Name("rearm/multimap")->Apply(SizesWarmCold);
BENCHMARK(BM_Expire<WheelTimers>)->Name("expire/wheel")->Apply(Sizes);
BENCHMARK(BM_Expire<HeapTimers>)->Name("expire/heap")->Apply(Sizes);
BENCHMARK(BM_Expire<MapTimers>)->Name("expire/multimap")->Apply(Sizes);
BENCHMARK(BM_WheelIdleJump)->Name("idle_jump_10min/wheel");

BENCHMARK_MAIN();
