// Node preload (NODE_OPTIONS=--require=<this file>) that keeps every TCP server
// LocalStack starts through Node on loopback. kinesis-local hard-codes 0.0.0.0
// for its ports and has no option to change it, and test machines must not
// expose an unauthenticated emulator on the network.
'use strict';

const net = require('net');

const LOOPBACK = '127.0.0.1';
const ANY_HOSTS = new Set([undefined, null, '', '0.0.0.0', '::', '::0']);
const originalListen = net.Server.prototype.listen;

// Returns listen()'s arguments with an "all interfaces" host replaced by loopback.
// Unix sockets, pipes and inherited handles are passed through untouched.
function toLoopback(args) {
  const [first, second] = args;
  if (args.length === 0 || typeof first === 'function') {
    // listen([callback]): a random port on all interfaces.
    return [0, LOOPBACK, ...args];
  }
  if (first !== null && typeof first === 'object') {
    const isTcp = first.path === undefined && first.handle === undefined && first._handle === undefined && first.fd === undefined;
    return isTcp && ANY_HOSTS.has(first.host) ? [{ ...first, host: LOOPBACK }, ...args.slice(1)] : args;
  }
  const isPort = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (!isPort) {
    return args; // a pipe path
  }
  if (typeof second === 'string' || second === null) {
    // listen(port, host, ...)
    return ANY_HOSTS.has(second) ? [first, LOOPBACK, ...args.slice(2)] : args;
  }
  // listen(port[, backlog][, callback]): no host means all interfaces.
  return [first, LOOPBACK, ...args.slice(1)];
}

net.Server.prototype.listen = function listen(...args) {
  return originalListen.apply(this, toLoopback(args));
};
