#include "auth/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ringway::auth {

bool read_text_file(const std::string& path, size_t max_bytes, std::string& out, std::string& err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err = path + ": not a regular file";
    ::close(fd);
    return false;
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size > max_bytes) {
    err = path + ": file is " + std::to_string(size) + " bytes, over the limit of " +
          std::to_string(max_bytes);
    ::close(fd);
    return false;
  }
  // One spare byte detects a file that grew after fstat without reading past the limit.
  out.resize(size + 1);
  size_t len = 0;
  while (len < out.size()) {
    const ssize_t n = ::read(fd, out.data() + len, out.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = path + ": cannot read: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  ::close(fd);
  if (len > max_bytes) {
    err = path + ": file grew past the limit of " + std::to_string(max_bytes) + " bytes";
    return false;
  }
  out.resize(len);
  return true;
}

bool ConfigLines::next(ConfigLine& out) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!rest_.empty()) {
    const size_t nl = rest_.find('\n');
    std::string_view line = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    ++line_no_;
    if (line.size() > max_line_bytes_) {
      // Reported even if it is all comment: the limit bounds what the file may contain.
      out = {{}, line_no_, true};
      return true;
    }
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line = line.substr(0, i);
        break;
      }
    }
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
    if (line.empty()) continue;
    out = {line, line_no_, false};
    return true;
  }
  return false;
}

size_t count_lines(std::string_view text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

}  // namespace ringway::auth
