// data.mjs - loads the profiles the end-to-end tests look at into a running server through /ingest:
// a folded CPU profile of service "shop" whose hottest function (by self) is calc3, in two time
// ranges (version 1.2, then 1.3) where calc2's share of the total grows; and real Go pprof files.

import fs from 'node:fs';
import path from 'node:path';

// Range A (baseline) and range B (comparison): 6 profiles each, 3 minutes apart.
function stacks(calc2) {
  return [
    ['main;run;calc3', 600],
    ['main;run;calc2', calc2],
    ['main;run;calc1', 100],
    ['main;io;read', 80],
    ['main;io;calc3', 50],
    ['net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;github.com/acme/shop/api.(*Server).Checkout;encoding/json.Marshal;runtime.mallocgc', 40],
    ['net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;github.com/acme/shop/api.(*Server).Checkout;github.com/acme/shop/store.(*DB).Query;database/sql.(*DB).QueryContext', 30],
    ['net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;github.com/acme/shop/api.(*Server).Browse;compress/gzip.(*Writer).Write', 25],
    ['runtime.gcBgMarkWorker;runtime.gcDrain;runtime.scanobject', 20],
  ];
}

export const EXPECT = {
  service: 'shop',
  cpuType: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
  hot: 'calc3', // top by self
  grew: 'calc2', // share grew from range A to range B
};

function folded(calc2) {
  return stacks(calc2).map(([s, v]) => `${s} ${v}`).join('\n') + '\n';
}

async function post(base, params, body, what) {
  const u = base + '/ingest?' + new URLSearchParams(params).toString();
  const res = await fetch(u, { method: 'POST', body });
  if (!res.ok) throw new Error(`ingest of ${what} failed: ${res.status} ${await res.text()}`);
}

// Returns {now, A: [from, until], B: [from, until]} in unix seconds.
export async function loadData(base, root) {
  const now = Math.floor(Date.now() / 1000);
  const A = [now - 50 * 60, now - 32 * 60];
  const B = [now - 28 * 60, now - 10 * 60];
  for (const [range, calc2, version] of [[A, 200, '1.2'], [B, 500, '1.3']]) {
    for (let t = range[0]; t + 10 <= range[1]; t += 180) {
      await post(base, {
        name: `shop.cpu{env=prod,version=${version}}`, from: String(t), until: String(t + 10),
        sampleRate: '100', format: 'folded', spyName: 'e2e',
      }, folded(calc2), `shop folded at ${t}`);
    }
  }
  // Real Go profiles (CPU, heap, mutex, block), if the repository has them.
  const dir = path.join(root, 'tests/data/go');
  for (const f of ['cpu', 'heap', 'mutex', 'block']) {
    const file = path.join(dir, f + '.pb.gz');
    if (!fs.existsSync(file)) continue;
    await post(base, { name: 'go-app', from: String(now - 15 * 60), until: String(now - 15 * 60 + 10), format: 'pprof' },
      fs.readFileSync(file), file);
  }
  return { now, A, B };
}
