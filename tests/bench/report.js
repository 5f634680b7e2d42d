// In a Worker: posts the counter to the page every 50 ms while it changes. Times are sent in
// the page's clock (the worker's performance.now() starts at its own creation).
const shift = performance.timeOrigin;
let sent = '';
setInterval(() => {
  const b = self.bench;
  const state = `${b.count} ${b.ready} ${b.connectedAt}`;
  if (state === sent) return;
  sent = state;
  self.postMessage({ count: b.count, ready: b.ready, first: b.first + shift, last: b.last + shift,
    connectedAt: b.connectedAt ? b.connectedAt + shift : 0 });
}, 50);
