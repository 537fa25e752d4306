#pragma once
// systemd's readiness protocol (Type=notify): a datagram such as "READY=1" to the unix socket
// named by $NOTIFY_SOCKET. Written here in a few lines instead of linking libsystemd for one
// call; does nothing when the variable is unset (not started by systemd).
namespace ringway::app {

void sd_notify_state(const char* state);

}  // namespace ringway::app
