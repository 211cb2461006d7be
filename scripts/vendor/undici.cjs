'use strict';
// The part of undici tsoci uses, bundled in place of the package's index (scripts/bundle.mjs): the index also
// builds fetch, WebSocket, EventSource, the cache stores and the mocks when it loads, ~50 ms of start-up for
// every pull. What this gives is what the index gives for these names.
const Dispatcher = require('undici/lib/dispatcher/dispatcher');
const EnvHttpProxyAgent = require('undici/lib/dispatcher/env-http-proxy-agent');
const api = require('undici/lib/api');
const util = require('undici/lib/core/util');
const { InvalidArgumentError } = require('undici/lib/core/errors');

Object.assign(Dispatcher.prototype, api);

/** undici's request(url, opts), for a dispatcher given in opts (tsoci always gives one). */
function request(url, opts) {
  if (!opts || typeof opts !== 'object' || !opts.dispatcher) throw new InvalidArgumentError('tsoci: request needs opts.dispatcher');
  const u = util.parseURL(url);
  return api.request.call(opts.dispatcher, {
    ...opts,
    origin: u.origin,
    path: u.search ? `${u.pathname}${u.search}` : u.pathname,
    method: opts.method || (opts.body ? 'PUT' : 'GET'),
  });
}

module.exports = { Dispatcher, EnvHttpProxyAgent, request };
