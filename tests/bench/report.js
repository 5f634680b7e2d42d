// In a Worker: posts the counter to the page every 50 ms while it changes. Times are sent in
// the page's clock (the worker's performance.now() starts at its own creation).
const shift = performance.timeOrigin;
let sent = -1;
setInterval(() => {
  const b = self.bench;
  if (b.count === sent && b.ready) return;
  sent = b.count;
  self.postMessage({ count: b.count, ready: b.ready, first: b.first + shift, last: b.last + shift });
}, 50);
