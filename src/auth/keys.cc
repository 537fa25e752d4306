#include "auth/keys.h"

#include <fcntl.h>
#include <openssl/curve25519.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "auth/base64url.h"

namespace ringway::auth {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Wipes a string that held key material before its memory is released.
struct ScrubOnExit {
  std::string& s;
  ~ScrubOnExit() { OPENSSL_cleanse(s.data(), s.size()); }
};

}  // namespace

KeyPair keypair_from_seed(const std::array<uint8_t, kSeedBytes>& seed) {
  KeyPair kp;
  kp.seed = seed;
  ED25519_keypair_from_seed(kp.public_key.data(), kp.private_key.data(), seed.data());
  return kp;
}

KeyPair generate_keypair() {
  std::array<uint8_t, kSeedBytes> seed;
  RAND_bytes(seed.data(), seed.size());
  KeyPair kp = keypair_from_seed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return kp;
}

Signature sign(const KeyPair& key, std::span<const uint8_t> msg) {
  Signature sig;
  ED25519_sign(sig.data(), msg.data(), msg.size(), key.private_key.data());  // cannot fail
  return sig;
}

bool verify(const PublicKey& key, std::span<const uint8_t> msg, const Signature& sig) {
  return ED25519_verify(msg.data(), msg.size(), sig.data(), key.data()) == 1;
}

std::array<uint8_t, 32> device_id_bytes(const PublicKey& key) {
  std::array<uint8_t, 32> id;
  SHA256(key.data(), key.size(), id.data());
  return id;
}

std::string hex_lower(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

std::string device_id_hex(const PublicKey& key) { return hex_lower(device_id_bytes(key)); }

bool parse_device_id_hex(std::string_view hex, std::array<uint8_t, 32>& out) {
  if (hex.size() != kDeviceIdHexChars) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string random_nonce() {
  std::array<uint8_t, kNonceBytes> bytes;
  RAND_bytes(bytes.data(), bytes.size());
  return base64url_encode(bytes);
}

bool write_private_key_file(const std::string& path, const KeyPair& key, std::string& err) {
  std::string line = std::string(kKeyFileTag) + " " + base64url_encode(key.seed) + "\n";
  ScrubOnExit scrub{line};
  // O_EXCL: an existing key is never replaced; O_NOFOLLOW: a planted symlink is not followed.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = errno_text("cannot create", path);
    return false;
  }
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = errno_text("cannot write", path);
      ::close(fd);
      ::unlink(path.c_str());  // no half-written key left behind
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    err = errno_text("cannot write", path);
    ::unlink(path.c_str());
    return false;
  }
  return true;
}

bool read_private_key_file(const std::string& path, KeyPair& key, std::string& err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno_text("cannot open", path);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    err = errno_text("cannot stat", path);
    ::close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    err = path + ": not a regular file";
    ::close(fd);
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    err = path + ": permissions " + mode +
          " are too open; a private key must not be accessible by group or others "
          "(chmod 600 " + path + ")";
    ::close(fd);
    return false;
  }
  std::string text(kMaxKeyFileBytes + 1, '\0');
  ScrubOnExit scrub{text};
  size_t len = 0;
  while (len < text.size()) {
    const ssize_t n = ::read(fd, text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno_text("cannot read", path);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  ::close(fd);
  if (len > kMaxKeyFileBytes) {
    err = path + ": not a ringway key file (too large)";
    return false;
  }
  std::string_view body(text.data(), len);
  if (!body.empty() && body.back() == '\n') body.remove_suffix(1);
  const std::string prefix = std::string(kKeyFileTag) + " ";
  std::array<uint8_t, kSeedBytes> seed;
  if (!body.starts_with(prefix) ||
      !base64url_decode(body.substr(prefix.size()), seed)) {
    err = path + ": not a ringway key file (expected one line '" + std::string(kKeyFileTag) +
          " <base64url 32-byte seed>')";
    return false;
  }
  key = keypair_from_seed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return true;
}

std::string registry_line(const KeyPair& key, std::span<const std::string> scopes) {
  std::string line = base64url_encode(key.public_key);
  for (size_t i = 0; i < scopes.size(); ++i) {
    line += i == 0 ? ' ' : ',';
    line += scopes[i];
  }
  return line;
}

}  // namespace ringway::auth
