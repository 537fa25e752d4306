#pragma once
// Reference-counted bytes for output. A block written once and then shared (one serialised event
// frame queued to every subscriber on every worker) is never copied per recipient: each output
// queue that holds it takes a reference and the last one to finish sending frees it. The count
// is atomic because a fan-out frame crosses workers; the header is 16 bytes and the bytes follow
// it in the same allocation.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace ringway::io {

class Block {
 public:
  // Largest block: output counters are 32-bit (max_buffered is bounded below this).
  static constexpr size_t kMaxCapacity = size_t(1) << 31;

  // A block with room for `capacity` bytes, size 0, one reference; nullptr when out of memory.
  static Block* create(size_t capacity) {
    if (capacity > kMaxCapacity) return nullptr;
    void* p = std::malloc(sizeof(Block) + capacity);
    if (!p) return nullptr;
    return new (p) Block(uint32_t(capacity));
  }

  uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  uint32_t room() const { return capacity_ - size_; }
  // Extends the written part (the writer must be the only holder, or write past every reader).
  void grow(uint32_t n) { size_ += n; }

  void ref(uint32_t n = 1) { refs_.fetch_add(n, std::memory_order_relaxed); }
  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~Block();
      std::free(this);
    }
  }
  // True when the caller holds the only reference (it may then write past size()).
  bool exclusive() const { return refs_.load(std::memory_order_acquire) == 1; }
  uint32_t refs() const { return refs_.load(std::memory_order_relaxed); }

 private:
  explicit Block(uint32_t capacity) : capacity_(capacity) {}
  std::atomic<uint32_t> refs_{1};
  uint32_t size_ = 0;
  uint32_t capacity_;
  uint32_t reserved_ = 0;
};
static_assert(sizeof(Block) == 16);

}  // namespace ringway::io
