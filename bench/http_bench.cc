// Micro-benchmarks for the http layer: parsing a browser's upgrade request (whole, in 64-byte
// chunks, one byte at a time), validating it, and computing Sec-WebSocket-Accept.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string_view>

#include "http/handshake.h"
#include "http/responses.h"
#include "http/upgrade_parser.h"

namespace {

using ringway::http::ParseState;
using ringway::http::UpgradeParser;

// What a current desktop browser sends to open a WebSocket (about 500 bytes).
constexpr std::string_view kBrowserUpgradeRequest =
    "GET /ws?client=web HTTP/1.1\r\n"
    "Host: gateway.example.com\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://app.example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

std::span<const uint8_t> request_bytes() {
  return {reinterpret_cast<const uint8_t*>(kBrowserUpgradeRequest.data()),
          kBrowserUpgradeRequest.size()};
}

// One request per iteration, fed in chunks of `chunk` bytes; reset() frees the buffer, as the
// gateway does after each handshake, so allocation is part of the cost.
void parse_in_chunks(benchmark::State& state, size_t chunk) {
  const std::span<const uint8_t> bytes = request_bytes();
  UpgradeParser parser;
  for (auto _ : state) {
    for (size_t offset = 0; offset < bytes.size(); offset += chunk) {
      parser.feed(bytes.subspan(offset, std::min(chunk, bytes.size() - offset)));
    }
    if (parser.state() != ParseState::kComplete) state.SkipWithError("request did not parse");
    benchmark::DoNotOptimize(parser.request().headers.data());
    parser.reset();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}

void BM_ParseUpgradeWhole(benchmark::State& state) {
  parse_in_chunks(state, kBrowserUpgradeRequest.size());
}
BENCHMARK(BM_ParseUpgradeWhole);

void BM_ParseUpgrade64ByteChunks(benchmark::State& state) { parse_in_chunks(state, 64); }
BENCHMARK(BM_ParseUpgrade64ByteChunks);

void BM_ParseUpgradeOneByteAtATime(benchmark::State& state) { parse_in_chunks(state, 1); }
BENCHMARK(BM_ParseUpgradeOneByteAtATime);

void BM_CheckUpgrade(benchmark::State& state) {
  UpgradeParser parser;
  parser.feed(request_bytes());
  for (auto _ : state) {
    benchmark::DoNotOptimize(ringway::http::check_upgrade(parser.request()));
  }
}
BENCHMARK(BM_CheckUpgrade);

void BM_ComputeAcceptKey(benchmark::State& state) {
  char accept[ringway::http::kAcceptKeyLength];
  for (auto _ : state) {
    ringway::http::compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept);
    benchmark::DoNotOptimize(accept);
  }
}
BENCHMARK(BM_ComputeAcceptKey);

// The whole server side of a handshake: parse, validate, write the 101.
void BM_FullHandshakeResponse(benchmark::State& state) {
  const std::span<const uint8_t> bytes = request_bytes();
  UpgradeParser parser;
  char out[ringway::http::kMaxResponseBytes];
  for (auto _ : state) {
    parser.feed(bytes);
    const ringway::http::UpgradeCheck check = ringway::http::check_upgrade(parser.request());
    benchmark::DoNotOptimize(
        ringway::http::write_switching_protocols(check.key, out, sizeof out));
    parser.reset();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_FullHandshakeResponse);

}  // namespace

BENCHMARK_MAIN();
