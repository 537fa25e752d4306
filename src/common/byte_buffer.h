#pragma once
// A growable byte buffer that owns no memory while empty. Used for output queues and message
// reassembly: a connection that is idle holds only these 24 bytes, never a heap block.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <utility>

namespace ringway {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        cap_(std::exchange(o.cap_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }

  // Returns false (and leaves the buffer unchanged) when memory cannot be had.
  [[nodiscard]] bool reserve(size_t n) {
    if (n <= cap_) return true;
    size_t cap = cap_ ? cap_ : 256;
    while (cap < n) cap = cap * 2 > cap ? cap * 2 : n;
    void* p = std::realloc(data_, cap);
    if (!p) return false;
    data_ = static_cast<uint8_t*>(p);
    cap_ = cap;
    return true;
  }
  [[nodiscard]] bool append(const void* p, size_t n) {
    if (n == 0) return true;
    if (!reserve(size_ + n)) return false;
    std::memcpy(data_ + size_, p, n);
    size_ += n;
    return true;
  }
  [[nodiscard]] bool append(std::span<const uint8_t> s) { return append(s.data(), s.size()); }
  // Extends the size by n bytes and returns where they start (for in-place encoding).
  [[nodiscard]] uint8_t* grow(size_t n) {
    if (!reserve(size_ + n)) return nullptr;
    uint8_t* p = data_ + size_;
    size_ += n;
    return p;
  }
  [[nodiscard]] bool prepend(const void* p, size_t n) {
    if (n == 0) return true;
    if (!reserve(size_ + n)) return false;
    std::memmove(data_ + n, data_, size_);
    std::memcpy(data_, p, n);
    size_ += n;
    return true;
  }
  // Inserts n bytes at offset pos (pos <= size()).
  [[nodiscard]] bool insert(size_t pos, const void* p, size_t n) {
    if (n == 0) return true;
    if (!reserve(size_ + n)) return false;
    std::memmove(data_ + pos + n, data_ + pos, size_ - pos);
    std::memcpy(data_ + pos, p, n);
    size_ += n;
    return true;
  }
  // Drops the first n bytes.
  void consume(size_t n) {
    if (n >= size_) {
      size_ = 0;
      return;
    }
    std::memmove(data_, data_ + n, size_ - n);
    size_ -= n;
  }
  void clear() { size_ = 0; }
  // Keeps the first n bytes (n <= size()), e.g. after grow() wrote fewer than it reserved.
  void truncate(size_t n) {
    if (n < size_) size_ = n;
  }
  // Empties the buffer and gives its memory back.
  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = cap_ = 0;
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace ringway
