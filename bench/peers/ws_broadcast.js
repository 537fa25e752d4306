#!/usr/bin/env node
// ws_broadcast: a minimal WebSocket broadcast server on node's `ws` module (Debian's node-ws),
// a peer for bench/fanout_compare.sh.
//
//   node bench/peers/ws_broadcast.js [--port P]      # 0 (the default) picks a free port
//
// One process, one event loop. Every text message received on a connection is sent to every
// other open connection, the way ws's own README broadcasts: `wss.clients.forEach` over the
// server's tracked clients. Nothing else; compression is off, as in the other servers compared.
// Prints "ws_broadcast listening on 127.0.0.1:PORT" once it listens.
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
  process.stderr.write('ws_broadcast: the ws module is missing (apt-get install node-ws)\n');
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
    process.stderr.write('usage: ws_broadcast.js [--port P]\n');
    process.exit(2);
  }
}

const wss = new Server({
  host: '127.0.0.1',
  port,
  backlog: 4096,
  perMessageDeflate: false,
  maxPayload: 1024 * 1024, // ringway's default --max-message-size
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    wss.clients.forEach((client) => {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
    });
  });
  ws.on('error', () => {}); // a reset peer ends the connection; nothing else to do
});

wss.on('error', (e) => {
  // EMFILE and friends on accept surface here; keep serving the connections we have.
  process.stderr.write(`ws_broadcast: ${e.message}\n`);
});

wss.on('listening', () => {
  process.stdout.write(`ws_broadcast listening on 127.0.0.1:${wss.address().port}\n`);
});
