#include "ws/frame_context_pool.h"

#include <algorithm>
#include <cstring>

namespace ringway::ws::detail {
namespace {

thread_local InputCursor* tls_input = nullptr;

ssize_t recv_from_cursor(uint8_t* buf, size_t len, int /*flags*/, void* /*user_data*/) {
  InputCursor* in = tls_input;
  if (!in || in->left == 0) return 0;  // wslay turns 0 into WSLAY_ERR_WANT_READ
  size_t n = std::min(len, in->left);
  std::memcpy(buf, in->data, n);
  in->data += n;
  in->left -= n;
  return static_cast<ssize_t>(n);
}

struct ContextPool {
  wslay_frame_context_ptr items[kMaxPooledContexts] = {};
  size_t count = 0;
  ~ContextPool() { clear(); }
  void clear() {
    while (count) wslay_frame_context_free(items[--count]);
  }
};

thread_local ContextPool tls_pool;

}  // namespace

void set_decoder_input(InputCursor* cursor) { tls_input = cursor; }

wslay_frame_context_ptr acquire_decoder_context() {
  ContextPool& pool = tls_pool;
  if (pool.count) return pool.items[--pool.count];
  wslay_frame_callbacks callbacks{};
  callbacks.recv_callback = recv_from_cursor;
  wslay_frame_context_ptr ctx = nullptr;
  if (wslay_frame_context_init(&ctx, &callbacks, nullptr) != 0) return nullptr;
  return ctx;
}

void release_decoder_context(wslay_frame_context_ptr ctx) {
  if (!ctx) return;
  ContextPool& pool = tls_pool;
  if (pool.count < kMaxPooledContexts) {
    pool.items[pool.count++] = ctx;
  } else {
    wslay_frame_context_free(ctx);
  }
}

void free_decoder_context(wslay_frame_context_ptr ctx) {
  if (ctx) wslay_frame_context_free(ctx);
}

size_t pooled_decoder_contexts() { return tls_pool.count; }

void drain_decoder_pool() { tls_pool.clear(); }

}  // namespace ringway::ws::detail
