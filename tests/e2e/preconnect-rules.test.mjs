// The loader's preconnect rule (scripts/preconnect.mjs), run in Node: which broker the page
// opens a socket to before any wasm has loaded. The browser side (the socket opens early,
// is the session's, nothing goes to a linked broker) is in trust.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preconnectUrl, defaultBrokerFor } from '../../scripts/preconnect.mjs';

const OWN = 'ws://127.0.0.1:9001/mqtt';
const DEFAULT = 'ws://127.0.0.1:8080/mqtt';
const EVIL = 'ws://127.0.0.2:9001/mqtt';
const saved = JSON.stringify({ broker_url: OWN, username: 'alice', password: 'pw' });
const q = (url) => encodeURIComponent(url);

test('only connect=1 to the saved or the default broker is opened early', () => {
  assert.equal(preconnectUrl('?connect=1', saved, DEFAULT), OWN);
  assert.equal(preconnectUrl(`?broker=${q(OWN)}&connect=1`, saved, DEFAULT), OWN);
  assert.equal(preconnectUrl('connect=true', null, DEFAULT), DEFAULT);
  assert.equal(preconnectUrl(`?broker=${q(DEFAULT)}&connect=1`, saved, DEFAULT), DEFAULT);
  // Without connect=1 the page waits for the user.
  assert.equal(preconnectUrl('', saved, DEFAULT), null);
  assert.equal(preconnectUrl(`broker=${q(OWN)}`, saved, DEFAULT), null);
  assert.equal(preconnectUrl('connect=0', saved, DEFAULT), null);
});

test('a broker only the link names is never opened early, however the link is spelled', () => {
  for (const query of [
    `?broker=${q(EVIL)}&connect=1`,
    `?connect=1&broker=${EVIL}`,
    `?broker=${q(OWN)}&broker=${q(EVIL)}&connect=1`, // the last one counts, as in the form
    `?broker=${q(' ' + EVIL + ' ')}&connect=1`,
    `?broker=${q(EVIL)}&connect=1&connect=1`,
  ]) {
    assert.equal(preconnectUrl(query, saved, DEFAULT), null, query);
    assert.equal(preconnectUrl(query, null, DEFAULT), null, query);
  }
  // Whatever the parse makes of odd input, the answer is the saved or default broker or none.
  for (const query of ['?broker=%zz&connect=1', '?broker=&connect=1', '?%&connect=1', '?broker=ws%3A%2F%2F127.0.0.2+/x&connect=1']) {
    assert.ok([OWN, DEFAULT, null].includes(preconnectUrl(query, saved, DEFAULT)), query);
  }
});

test('garbage in storage counts as no profile; a stored URL that is not a WebSocket one is not opened', () => {
  for (const junk of ['', '{', 'null', '[1,2]', '\u0000', '{"broker_url":5}', JSON.stringify({ broker_url: '  ' })]) {
    assert.equal(preconnectUrl('connect=1', junk, DEFAULT), DEFAULT, JSON.stringify(junk));
  }
  const oversize = JSON.stringify({ broker_url: OWN, pad: 'x'.repeat(1024 * 1024) });
  assert.equal(preconnectUrl('connect=1', oversize, DEFAULT), DEFAULT);
  for (const url of ['http://127.0.0.1:9001/mqtt', 'ws://', 'ws:// 127.0.0.1/mqtt', 'not a url']) {
    assert.equal(preconnectUrl('connect=1', JSON.stringify({ broker_url: url }), DEFAULT), null, url);
  }
  assert.equal(preconnectUrl('connect=1', JSON.stringify({ broker_url: ` ${OWN} ` }), DEFAULT), OWN, 'trimmed, as the form does');
});

test('the default broker is the build setting, else the page origin at /mqtt', () => {
  assert.equal(defaultBrokerFor('http:', 'host:8080', ''), 'ws://host:8080/mqtt');
  assert.equal(defaultBrokerFor('https:', 'host', ''), 'wss://host/mqtt');
  assert.equal(defaultBrokerFor('file:', '', ''), 'ws://127.0.0.1:9001/mqtt');
  assert.equal(defaultBrokerFor('http:', 'host', OWN), OWN);
});
