#pragma once
// Per-thread pool of wslay frame contexts for decoding.
//
// A wslay_frame_context is ~4.2 KB (it embeds a 4096-byte input buffer). A reader needs one only
// while a frame is partly received; at a frame boundary with nothing buffered the context is in
// the same state as a fresh one, so it goes back here and an idle connection owns none.
#include <wslay/wslay.h>

#include <cstddef>
#include <cstdint>

namespace ringway::ws::detail {

// Contexts kept per thread beyond this many are freed: enough for the readers that are mid-frame
// at once on a busy worker to recycle, small enough that a burst does not pin memory forever.
inline constexpr size_t kMaxPooledContexts = 16;

// The bytes the recv callback hands to wslay. Set before each wslay_frame_recv call on this
// thread (not stored in the context, so a pooled context serves any reader on any thread).
struct InputCursor {
  const uint8_t* data = nullptr;
  size_t left = 0;
};
void set_decoder_input(InputCursor* cursor);

// Returns a context at a frame boundary with an empty input buffer; nullptr when out of memory.
wslay_frame_context_ptr acquire_decoder_context();
// ctx must be at a frame boundary with nothing buffered (or the next reader would misparse).
void release_decoder_context(wslay_frame_context_ptr ctx);
// For contexts in an unknown state (mid-frame, after a protocol error).
void free_decoder_context(wslay_frame_context_ptr ctx);

// How many idle contexts this thread holds; for tests and metrics.
size_t pooled_decoder_contexts();
// Frees every pooled context of this thread.
void drain_decoder_pool();

}  // namespace ringway::ws::detail
