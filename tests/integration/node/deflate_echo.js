// Echo through node's `ws` with permessage-deflate: prints the negotiated extension, then one
// line per message sent, and exits 0 when every echo matched (NODE_PATH=/usr/share/nodejs).
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');

const [url, takeover] = process.argv.slice(2);
const ws = new WebSocket(url, {
  perMessageDeflate: {
    threshold: 0,  // compress everything it sends
    serverNoContextTakeover: false,
    clientNoContextTakeover: takeover !== 'takeover',
  },
  maxPayload: 2 << 20,
});

function jsonText(n) {
  let s = '';
  for (let i = 0; s.length < n; ++i) s += JSON.stringify({device: `sensor-${i % 97}`, t: i}) + ',';
  return s.slice(0, n);
}

const messages = [];
for (const n of [0, 1, 300, 5000, 70000, 1 << 20]) {
  messages.push(jsonText(n));
  messages.push(crypto.randomBytes(n));
}

let next = 0;
function sendNext() {
  if (next === messages.length) {
    ws.close(1000);
    return;
  }
  ws.send(messages[next]);
}

ws.on('upgrade', (res) => {
  console.log('extensions: ' + res.headers['sec-websocket-extensions']);
});
ws.on('open', () => {
  console.log('negotiated: ' + ws.extensions);
  sendNext();
});
ws.on('message', (data, isBinary) => {
  const want = messages[next];
  const got = isBinary ? data : data.toString();
  const same = isBinary ? Buffer.compare(got, want) === 0 : got === want;
  console.log(`echo ${next} ${want.length} ${same ? 'ok' : 'DIFFERS'}`);
  if (!same) process.exit(1);
  ++next;
  sendNext();
});
ws.on('close', (code) => {
  console.log('closed ' + code);
  process.exit(next === messages.length && code === 1000 ? 0 : 1);
});
ws.on('error', (e) => {
  console.log('error ' + e.message);
  process.exit(1);
});
