#include "app/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace ringway::app {

void sd_notify_state(const char* state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  socklen_t alen = socklen_t(offsetof(sockaddr_un, sun_path) + len);
  [[maybe_unused]] ssize_t n = sendto(fd, state, std::strlen(state), MSG_NOSIGNAL,
                                      reinterpret_cast<sockaddr*>(&addr), alen);
  close(fd);
}

}  // namespace ringway::app
