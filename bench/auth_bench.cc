// Auth costs on one core: Ed25519 sign/verify (BoringSSL), the whole device check a verifier
// thread runs per connect, registry lookup at 1M devices, and loading a 1M-line registry file.
//
// Ratios to read in one run: DeviceCheck vs Ed25519Verify (what the check adds around the
// signature), RegistryFind vs Ed25519Verify (lookups are noise next to crypto).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "auth/base64url.h"
#include "auth/keys.h"
#include "auth/registry.h"
#include "auth/scopes.h"
#include "auth/signature_payload.h"

namespace {

using namespace ringway::auth;

constexpr uint32_t kRegistryDevices = 1000000;
constexpr uint64_t kSignedAt = 1767225600000;

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Registry keys need not be curve points to be loaded or looked up; cheap distinct bytes.
PublicKey fake_key(uint32_t i) {
  PublicKey k{};
  for (size_t j = 0; j < k.size(); ++j) k[j] = static_cast<uint8_t>((i >> (8 * (j % 4))) + j * 7);
  return k;
}

// 1M lines in four shared scope lists, like a real fleet; device `real` is a true key pair so
// the device check can find it.
std::string registry_text(const KeyPair& real) {
  static const char* lists[] = {"", " send", " subscribe:chat.*,send", " publish:telemetry.*,send"};
  std::string text;
  text.reserve(size_t{kRegistryDevices} * 72);
  for (uint32_t i = 0; i + 1 < kRegistryDevices; ++i) {
    text += base64url_encode(fake_key(i));
    text += lists[i % 4];
    text += '\n';
  }
  text += base64url_encode(real.public_key) + " subscribe:chat.*,send\n";
  return text;
}

const KeyPair& device_key() {
  static const KeyPair kp = [] {
    std::array<uint8_t, 32> seed;
    for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i + 1);
    return keypair_from_seed(seed);
  }();
  return kp;
}

const DeviceRegistry& big_registry() {
  static const std::shared_ptr<const DeviceRegistry> reg =
      DeviceRegistry::parse(registry_text(device_key()), "bench").registry;
  return *reg;
}

void BM_Ed25519Sign(benchmark::State& state) {
  const KeyPair& kp = device_key();
  const std::string msg(200, 'm');  // about a connect payload's size
  for (auto _ : state) benchmark::DoNotOptimize(sign(kp, as_bytes(msg)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  const KeyPair& kp = device_key();
  const std::string msg(200, 'm');
  const Signature sig = sign(kp, as_bytes(msg));
  for (auto _ : state) {
    if (!verify(kp.public_key, as_bytes(msg), sig)) state.SkipWithError("verify failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Verify);

// What a verifier does per device connect, from the request's text fields: parse the id, decode
// key and signature, SHA-256 the key and compare, registry lookup, build the payload, verify,
// grant scopes.
void BM_DeviceCheck(benchmark::State& state) {
  const DeviceRegistry& reg = big_registry();
  const KeyPair& kp = device_key();
  const std::string id_hex = device_id_hex(kp.public_key);
  const std::vector<std::string> scopes = {"subscribe:chat.*", "send"};
  const std::string nonce = random_nonce();
  const std::string key_text = base64url_encode(kp.public_key);
  const std::string sig_text = base64url_encode(
      sign(kp, as_bytes(signature_payload(id_hex, "device", scopes, kSignedAt, nonce))));
  for (auto _ : state) {
    DeviceId id;
    PublicKey key;
    Signature sig;
    bool ok = parse_device_id_hex(id_hex, id) && base64url_decode(key_text, key) &&
              base64url_decode(sig_text, sig) && device_id_bytes(key) == id &&
              signed_at_fresh(kSignedAt, kSignedAt + 1000);
    const DeviceEntry* entry = ok ? reg.find(id) : nullptr;
    ok = entry != nullptr && entry->public_key == key;
    const std::string payload = signature_payload(id_hex, "device", scopes, kSignedAt, nonce);
    ok = ok && verify(key, as_bytes(payload), sig);
    if (!ok) state.SkipWithError("device check failed");
    auto allowed = entry->scopes();
    benchmark::DoNotOptimize(grant_scopes(scopes, {allowed.data(), allowed.size()}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DeviceCheck);

void BM_RegistryFind1M(benchmark::State& state) {
  const DeviceRegistry& reg = big_registry();
  const bool hit = state.range(0) != 0;
  std::vector<DeviceId> ids(1 << 16);  // random order, so lookups miss the cache like real ones
  std::mt19937 rng(1);
  for (auto& id : ids) {
    const uint32_t i = rng() % (kRegistryDevices - 1);
    id = device_id_bytes(fake_key(hit ? i : kRegistryDevices + i));
  }
  size_t i = 0, found = 0;
  for (auto _ : state) {
    found += reg.find(ids[i++ & (ids.size() - 1)]) != nullptr;
  }
  if (found != (hit ? static_cast<size_t>(state.iterations()) : 0)) state.SkipWithError("unexpected lookup result");
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_device"] = double(reg.memory_bytes()) / reg.size();
}
BENCHMARK(BM_RegistryFind1M)->Arg(1)->Arg(0)->ArgName("hit");

void BM_RegistryLoad1M(benchmark::State& state) {
  const std::string path = "/tmp/ringway-auth-bench-" + std::to_string(::getpid()) + ".txt";
  {
    const std::string text = registry_text(device_key());
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size()) {
      state.SkipWithError("cannot write the registry file");
      if (f) std::fclose(f);
      return;
    }
    std::fclose(f);
  }
  size_t devices = 0;
  for (auto _ : state) {
    const auto r = DeviceRegistry::load_file(path);
    if (!r.registry) {
      state.SkipWithError(r.error.c_str());
      break;
    }
    devices = r.registry->size();
  }
  ::unlink(path.c_str());
  state.counters["devices"] = double(devices);
}
BENCHMARK(BM_RegistryLoad1M)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Base64UrlDecodeSignature(benchmark::State& state) {
  const std::string text = base64url_encode(Signature{});
  Signature sig;
  for (auto _ : state) benchmark::DoNotOptimize(base64url_decode(text, sig));
}
BENCHMARK(BM_Base64UrlDecodeSignature);

}  // namespace

BENCHMARK_MAIN();
