// Which broker the page's loader opens a WebSocket to before any wasm has loaded, so the
// broker's handshake (100-200 ms with mosquitto's WebSocket listener) overlaps the download
// and compile of the app. The session takes that socket over when its first connect is to
// the same URL; an unused one is closed after a few seconds.
//
// The rule is the connect form's (plan_start in src/state/profile.rs): only with
// `connect=1`, and only to the saved broker or the default one, never to a broker that only
// the link names (that one waits for the user's yes). Whatever this parses differently from
// the form, the answer is still the saved or the default broker or nothing, so a link can
// never make the page open a socket anywhere else.
//
// inline-glue.mjs embeds this function's source in the loader (it must stay self-contained);
// tests/e2e/preconnect-rules.test.mjs tests it in Node.

/**
 * @param {string} query `location.search`
 * @param {string|null} saved the stored profile's JSON text (localStorage `mqtt-web.profile`)
 * @param {string} defaultBroker the broker the form shows when none is saved or linked
 * @returns {string|null} the WebSocket URL to open now, or null
 */
export function preconnectUrl(query, saved, defaultBroker) {
  let linked = null;
  let connect = false;
  for (const pair of String(query).replace(/^\?/, '').split('&')) {
    const at = pair.indexOf('=');
    const [rawKey, rawValue] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    let key, value;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch (_) {
      continue; // a malformed escape: the form skips the pair too
    }
    if (key === 'broker') linked = value === '' ? null : value; // the last one counts
    if (key === 'connect') connect = value === '1' || value === 'true';
  }
  if (!connect) return null;
  let savedBroker = '';
  if (typeof saved === 'string' && saved.length <= 1024 * 1024) {
    try {
      const profile = JSON.parse(saved);
      if (profile && typeof profile.broker_url === 'string') savedBroker = profile.broker_url;
    } catch (_) { /* garbage in storage counts as no profile */ }
  }
  const same = (a, b) => a.trim() !== '' && a.trim() === b.trim();
  if (linked !== null && !same(linked, savedBroker) && !same(linked, defaultBroker)) return null;
  const url = (linked ?? (savedBroker.trim() ? savedBroker : defaultBroker)).trim();
  try {
    const parsed = new URL(url);
    const ws = parsed.protocol === 'ws:' || parsed.protocol === 'wss:';
    return ws && parsed.hostname !== '' && !/\s/.test(url) ? url : null;
  } catch (_) {
    return null; // not a URL: the form reports it when the user connects
  }
}

/** The form's default broker for a page at `protocol`//`host` (params.rs, default_broker_for). */
export function defaultBrokerFor(protocol, host, buildDefault) {
  if (buildDefault) return buildDefault;
  if (!host) return 'ws://127.0.0.1:9001/mqtt';
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/mqtt`;
}
