// Prints sizeof of the structs that make up a connection's memory, so that docs quote a
// program's output instead of a number typed in. It only names the types: io/ and gateway/
// change underneath it, and nothing here touches a field.
#include <cstdio>

#include "auth/keys.h"
#include "gateway/session.h"
#include "http/upgrade_parser.h"
#include "io/conn.h"
#include "timer/timer_wheel.h"
#include "ws/message_reader.h"

namespace {

template <typename T>
void row(const char* name) {
  std::printf("| `%s` | %zu |\n", name, sizeof(T));
}

}  // namespace

int main() {
  using namespace ringway;
  std::printf("| type | bytes |\n|---|---:|\n");
  row<io::Conn>("io::Conn");
  row<gateway::Session>("gateway::Session");
  row<timer::TimerNode>("timer::TimerNode");
  row<ws::MessageReader>("ws::MessageReader");
  row<http::UpgradeParser>("http::UpgradeParser");
  row<auth::PublicKey>("auth::PublicKey");
  return 0;
}
