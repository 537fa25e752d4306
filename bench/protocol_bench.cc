// Micro-benchmarks for the gateway protocol's JSON layer: parsing a typical device and service
// connect request and a publish request, and writing the hello, an error and an event.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"

namespace {

using namespace ringway::gateway;

// A device connect as a client library sends it (about 520 bytes, PROTOCOL.md test vector).
constexpr std::string_view kDeviceConnect =
    R"({"type":"req","id":"1","method":"connect","params":{"minProtocol":1,"maxProtocol":1,)"
    R"("client":{"name":"ringway-js","version":"1.0.0","platform":"web"},"role":"device",)"
    R"("scopes":["subscribe:chat.*","send"],)"
    R"("device":{"id":"65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8",)"
    R"("publicKey":"ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ",)"
    R"("signature":"YBL1cFo2F3BLqDoEFYlkb97k0RZA1cSdLV1mJom9pZZjM5g53e8Bxofd3Cqq1qW8nWQEyi4vB9QnPFm9IxgcBQ",)"
    R"("signedAt":1767225600000,"nonce":"ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM"}}})";

constexpr std::string_view kServiceConnect =
    R"({"type":"req","id":"svc-1","method":"connect","params":{"minProtocol":1,"maxProtocol":1,)"
    R"("client":{"name":"backend","version":"2.3"},"role":"service",)"
    R"("scopes":["publish:*","send"],"auth":{"token":"s3cr3t-service-token-0123456789"}}})";

constexpr std::string_view kPublish =
    R"({"type":"req","id":"42","method":"publish","params":{"channel":"chat.room-1",)"
    R"("data":{"text":"hello, world","mentions":["alice","bob"],"ts":1767225600000}}})";

void BM_ParseConnectDevice(benchmark::State& state) {
  for (auto _ : state) {
    ConnectParse r = parse_connect(kDeviceConnect);
    benchmark::DoNotOptimize(r);
    if (!r.ok) state.SkipWithError("parse failed");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kDeviceConnect.size()));
}
BENCHMARK(BM_ParseConnectDevice);

void BM_ParseConnectService(benchmark::State& state) {
  for (auto _ : state) {
    ConnectParse r = parse_connect(kServiceConnect);
    benchmark::DoNotOptimize(r);
    if (!r.ok) state.SkipWithError("parse failed");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kServiceConnect.size()));
}
BENCHMARK(BM_ParseConnectService);

void BM_ParseRequestPublish(benchmark::State& state) {
  for (auto _ : state) {
    RequestParse r = parse_request(kPublish);
    benchmark::DoNotOptimize(r);
    if (!r.ok) state.SkipWithError("parse failed");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kPublish.size()));
}
BENCHMARK(BM_ParseRequestPublish);

// A publish carrying `range(0)` bytes of data.
void BM_ParseRequestLarge(benchmark::State& state) {
  std::string frame =
      R"({"type":"req","id":"42","method":"publish","params":{"channel":"c","data":")" +
      std::string(size_t(state.range(0)), 'x') + "\"}}";
  for (auto _ : state) {
    RequestParse r = parse_request(frame);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(frame.size()));
}
BENCHMARK(BM_ParseRequestLarge)->Arg(4 << 10)->Arg(1 << 20);

HelloInfo device_hello(const std::vector<std::string>& scopes) {
  return HelloInfo{.server_version = "0.1.0",
                   .conn_id = "w3-1048576",
                   .role = "device",
                   .device_id = "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8",
                   .scopes = scopes,
                   .max_payload = 1 << 20,
                   .max_buffered = 4 << 20,
                   .ping_interval_ms = 30000,
                   .idle_timeout_ms = 90000};
}

void BM_HelloResponse(benchmark::State& state) {
  std::vector<std::string> scopes = {"subscribe:chat.*", "send"};
  HelloInfo h = device_hello(scopes);
  for (auto _ : state) {
    std::string s = hello_response("1", h);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_HelloResponse);

// Appending into a reused string: no allocation per frame.
void BM_HelloResponseAppend(benchmark::State& state) {
  std::vector<std::string> scopes = {"subscribe:chat.*", "send"};
  HelloInfo h = device_hello(scopes);
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_hello_response(out, "1", h);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_HelloResponseAppend);

void BM_ErrorResponse(benchmark::State& state) {
  for (auto _ : state) {
    std::string s =
        error_response("1", codes::kInvalidRequest,
                       "params.device.publicKey: expected base64url of 32 bytes", false, 0);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ErrorResponse);

void BM_MessageEvent(benchmark::State& state) {
  constexpr std::string_view kFrom =
      "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8";
  std::string out;
  uint64_t offset = 0;
  for (auto _ : state) {
    out.clear();
    append_message_event(out, "chat.room-1", kFrom, ++offset, R"({"text":"hello, world"})");
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_MessageEvent);

// Escaping a 1 KiB string of mixed ASCII and UTF-8 with a few characters that need escapes.
void BM_AppendJsonString(benchmark::State& state) {
  std::string text;
  while (text.size() < 1024) text += "plain ascii words, caf\xc3\xa9 \xe2\x82\xac \"quoted\"\n";
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_json_string(out, text);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_AppendJsonString);

}  // namespace

BENCHMARK_MAIN();
