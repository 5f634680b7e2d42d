// A second MQTT broker for the end-to-end tests: aedes (in-memory) with a TCP listener and a
// WebSocket listener, both on 127.0.0.1 only.
//
//   node aedes-broker.mjs --ws-port N --tcp-port M [--auth alice:s3cret] [--log] [--stdin-lifeline]
//
// Prints `aedes ready ws=N tcp=M auth=on|off pid=P` on stdout once both listen.
// --auth USER:PASSWORD  accept only that user with that password (CONNACK 5 otherwise,
//                       which is what aedes answers when `authenticate` says no).
// --deny-subscribe P     refuse every subscription whose filter starts with P (SUBACK 0x80).
// --log                 one stderr line per client connect, disconnect, subscribe and error.
// --stdin-lifeline      exit when stdin closes (the test runner that started it went away).
// SIGTERM ends it at once: clients lose their sockets without a DISCONNECT, as with a broker
// that is stopped.
import net from 'node:net';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';

const HOST = '127.0.0.1';
const { values: args } = parseArgs({
  options: {
    'ws-port': { type: 'string' },
    'tcp-port': { type: 'string' },
    auth: { type: 'string' },
    'deny-subscribe': { type: 'string' },
    log: { type: 'boolean', default: false },
    'stdin-lifeline': { type: 'boolean', default: false },
  },
});
const port = (name) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    console.error(`--${name} must be a port number (got ${args[name]})`);
    process.exit(2);
  }
  return n;
};
const wsPort = port('ws-port');
const tcpPort = port('tcp-port');
let login = null;
if (args.auth !== undefined) {
  const i = args.auth.indexOf(':');
  if (i < 1) {
    console.error('--auth must be USER:PASSWORD');
    process.exit(2);
  }
  login = { username: args.auth.slice(0, i), password: args.auth.slice(i + 1) };
}
const log = args.log ? (line) => console.error(`[aedes] ${line}`) : () => {};

const options = {};
if (login) {
  options.authenticate = (client, username, password, done) => {
    const ok = username === login.username && password !== undefined && password.toString('utf8') === login.password;
    log(`authenticate ${client.id} user=${username ?? '-'} ${ok ? 'accepted' : 'refused'}`);
    done(null, ok);
  };
}
const denied = args['deny-subscribe'];
if (denied) {
  // A null subscription is aedes's way of refusing one: the SUBACK carries 0x80 for it.
  options.authorizeSubscribe = (client, sub, done) => {
    const refuse = sub.topic.startsWith(denied);
    log(`authorize subscribe ${client.id} ${sub.topic} ${refuse ? 'refused' : 'granted'}`);
    done(null, refuse ? null : sub);
  };
}
const broker = await Aedes.createBroker(options);
broker.on('client', (c) => log(`client ${c.id} connected`));
broker.on('clientDisconnect', (c) => log(`client ${c.id} disconnected`));
broker.on('subscribe', (subs, c) => log(`subscribe ${c?.id} ${subs.map((s) => `${s.topic}@${s.qos}`).join(' ')}`));
broker.on('unsubscribe', (topics, c) => log(`unsubscribe ${c?.id} ${topics.join(' ')}`));
broker.on('clientError', (c, err) => log(`client error ${c?.id}: ${err.message}`));
broker.on('connectionError', (c, err) => log(`connection error ${c?.id}: ${err.message}`));
broker.on('keepaliveTimeout', (c) => log(`keepalive timeout ${c?.id}`));

const tcp = net.createServer(broker.handle);
const web = http.createServer((req, res) => { res.writeHead(426, { 'content-type': 'text/plain' }); res.end('WebSocket only\n'); });
// Browsers ask for the `mqtt` subprotocol; the handshake must echo it or they close the socket.
const wss = new WebSocketServer({
  server: web,
  handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
});
// Every write of aedes becomes its own WebSocket message, so one MQTT packet reaches the page
// in several messages (a PUBLISH as first byte, length, topic length, topic, payload; a CONNACK
// as four 1-byte messages). MQTT allows that [MQTT-6.0.0-2] and it is kept: the page must
// reassemble packets across messages.
wss.on('connection', (socket, req) => {
  const stream = createWebSocketStream(socket);
  stream.on('error', () => {}); // a reset socket; aedes sees the close
  broker.handle(stream, req);
});

const listen = (server, p) => new Promise((ok, fail) => {
  server.once('error', fail);
  server.listen(p, HOST, ok);
});
await listen(tcp, tcpPort);
await listen(web, wsPort);
console.log(`aedes ready ws=${wsPort} tcp=${tcpPort} auth=${login ? 'on' : 'off'} pid=${process.pid}`);

if (args['stdin-lifeline']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
