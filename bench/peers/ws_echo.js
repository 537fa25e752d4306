#!/usr/bin/env node
// ws_echo: a minimal WebSocket echo server on node's `ws` module (Debian's node-ws), a peer for
// bench/compare_all.sh.
//
//   node bench/peers/ws_echo.js [--port P]      # 0 (the default) picks a free port
//
// One process, one event loop. Every data message goes back unchanged: the same payload, text
// as text and binary as binary. Any path is accepted; compression is off, as in the other
// servers compared. Prints "ws_echo listening on 127.0.0.1:PORT" once it listens.
'use strict';

// Debian installs node-ws outside node's default search path; prefer it, then any `ws` that
// NODE_PATH or a local node_modules provides.
function loadWs() {
  for (const where of ['/usr/share/nodejs/ws', '/usr/lib/nodejs/ws', 'ws']) {
    try {
      return require(where);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  process.stderr.write('ws_echo: the ws module is missing (apt-get install node-ws)\n');
  process.exit(2);
}

const WebSocket = loadWs();
const Server = WebSocket.WebSocketServer || WebSocket.Server;

let port = 0;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port' && i + 1 < args.length) {
    port = Number(args[++i]);
  } else {
    process.stderr.write('usage: ws_echo.js [--port P]\n');
    process.exit(2);
  }
}

const server = new Server({
  host: '127.0.0.1',
  port,
  backlog: 4096,
  perMessageDeflate: false,
  maxPayload: 1024 * 1024, // ringway's default --max-message-size
  clientTracking: false, // the echo needs no set of all clients
});

server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // a reset peer ends the connection; nothing else to do
});

server.on('error', (e) => {
  // EMFILE and friends on accept surface here; keep serving the connections we have.
  process.stderr.write(`ws_echo: ${e.message}\n`);
});

server.on('listening', () => {
  process.stdout.write(`ws_echo listening on 127.0.0.1:${server.address().port}\n`);
});
