// Loopback port helpers shared by the test harness (t/lib/nginx.mjs) and the
// benchmarks (bench/lib/nginx.mjs). No side effects on import.
//
//   const [a, b] = await freePorts(2);
//   while (!(await canConnect(a))) await sleep(20);

import net from 'node:net';

/** Free loopback ports: the OS picks them (bind to 0) and we release them. */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** True when something accepts a TCP connection on 127.0.0.1:port. */
export function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
