#include "load/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "auth/base64url.h"
#include "auth/signature_payload.h"
#include "gateway/json_writer.h"

namespace ringway::load {

namespace {

bool write_file(const std::string& path, const std::string& text, mode_t mode, std::string& err) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    err = path + ": " + strerror(errno);
    return false;
  }
  fchmod(fd, mode);  // an existing file keeps its old mode through O_CREAT
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = path + ": " + strerror(errno);
      close(fd);
      return false;
    }
    off += size_t(n);
  }
  if (close(fd) != 0) {
    err = path + ": " + strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

LoadIdentity identity_from_seed(const Seed& seed) { return client::identity_from_seed(seed); }

bool write_key_files(uint64_t count, std::span<const std::string> scopes,
                     const std::string& keys_path, const std::string& registry_path,
                     std::string& err) {
  std::string keys, registry;
  keys.reserve(count * 44);
  registry.reserve(count * 64);
  for (uint64_t i = 0; i < count; ++i) {
    auth::KeyPair kp = auth::generate_keypair();
    keys += auth::base64url_encode(kp.seed);
    keys += '\n';
    registry += auth::registry_line(kp, scopes);
    registry += '\n';
  }
  return write_file(keys_path, keys, 0600, err) && write_file(registry_path, registry, 0644, err);
}

bool read_key_seeds(const std::string& path, std::vector<Seed>& out, std::string& err) {
  std::ifstream in(path);
  if (!in) {
    err = path + ": " + strerror(errno);
    return false;
  }
  out.clear();
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Seed s;
    if (!auth::base64url_decode(line, s)) {
      err = path + ":" + std::to_string(n) + ": not a base64url 32-byte seed";
      return false;
    }
    out.push_back(s);
  }
  if (out.empty()) {
    err = path + ": no keys";
    return false;
  }
  return true;
}

std::vector<LoadIdentity> expand_identities(std::span<const Seed> seeds, unsigned threads) {
  std::vector<LoadIdentity> out(seeds.size());
  if (threads == 0) threads = 1;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t; i < seeds.size(); i += threads) out[i] = identity_from_seed(seeds[i]);
    });
  }
  for (auto& th : pool) th.join();
  return out;
}

client::ClientInfo load_client_info() {
  client::ClientInfo info;
  info.name = "ringway-load";
  info.version = "0.1.0";
  info.platform = "linux";
  return info;
}

void append_connect_request(std::string& out, const LoadIdentity& id, std::string_view nonce,
                            std::span<const std::string> scopes, uint64_t signed_at_ms,
                            std::string_view request_id, const client::ClientInfo& info) {
  client::append_device_connect_request(out, id, nonce, scopes, signed_at_ms, request_id, info);
}

}  // namespace ringway::load
