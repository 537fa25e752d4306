#include "app/dev_state.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "auth/base64url.h"
#include "auth/keys.h"
#include "auth/service_tokens.h"

namespace ringway::app {

namespace {

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

bool write_new_file(const std::string& path, const std::string& text, std::string& err) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
  if (!ok) err = path + ": short write";
  close(fd);
  return ok;
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return true;
}

}  // namespace

bool prepare_dev_state(const std::string& dir, DevState& out, std::string& err) {
  out.dir = dir;
  out.key_file = dir + "/device.key";
  out.devices_file = dir + "/devices.txt";
  out.tokens_file = dir + "/tokens.txt";
  out.token_file = dir + "/service.token";
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    err = dir + ": " + std::strerror(errno);
    return false;
  }
  const std::vector<std::string> scopes = {"subscribe:*", "publish:*", "send"};
  if (!exists(out.key_file)) {
    auth::KeyPair fresh = auth::generate_keypair();
    if (!auth::write_private_key_file(out.key_file, fresh, err)) return false;
    out.created = true;
  }
  auth::KeyPair key;
  if (!auth::read_private_key_file(out.key_file, key, err)) return false;
  out.device_id = auth::device_id_hex(key.public_key);
  if (!exists(out.devices_file) &&
      !write_new_file(out.devices_file,
                      "# development devices (ringway dev mode; browser sign-ups are added)\n" +
                          auth::registry_line(key, scopes) + "\n",
                      err))
    return false;
  if (!exists(out.token_file)) {
    uint8_t raw[32];
    RAND_bytes(raw, sizeof raw);
    out.token = auth::base64url_encode({raw, sizeof raw});
    if (!write_new_file(out.token_file, out.token + "\n", err)) return false;
    out.created = true;
  } else if (!read_file(out.token_file, out.token)) {
    err = out.token_file + ": cannot be read";
    return false;
  }
  if (!exists(out.tokens_file)) {
    std::string line = std::string(kDevServiceName) + " " + auth::token_digest_hex(out.token) +
                       " " + kDevScopes + "\n";
    if (!write_new_file(out.tokens_file, line, err)) return false;
  }
  return true;
}

std::string dev_banner(const DevState& dev, const std::string& hostport) {
  std::string d = dev.dir;
  std::string s;
  s += "development mode: generated a device key, a registry and a service token in " + d + "/\n";
  s += "  device id " + dev.device_id + "\n";
  s += "  try it:\n";
  s += "    open http://" + hostport + "/ in a browser (it signs up its own key and logs in)\n";
  s += "    build/release/tools/ringway-cli --url ws://" + hostport + "/ws --key " + d +
       "/device.key subscribe demo\n";
  s += "    curl -s -X POST http://" + hostport + "/v1/publish -H \"Authorization: Bearer $(cat " + d +
       "/service.token)\" -d '{\"channel\":\"demo\",\"data\":\"hello\"}'\n";
  return s;
}

}  // namespace ringway::app
