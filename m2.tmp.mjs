import { PGlite } from '@electric-sql/pglite';
import { mkdtempSync } from 'node:fs';
const mb = () => Math.round(process.memoryUsage().rss / 1e6);
const t0 = performance.now();
const db = new PGlite(mkdtempSync('/tmp/pgl-'));
await db.waitReady;
const ready = performance.now() - t0;
await db.exec('create table t(id serial primary key, org text, v text, n int); create index on t(org, n);');
async function round(n) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await db.query('insert into t(org, v, n) values ($1, $2, $3) returning id', ['o' + (i % 10), 'x'.repeat(100), i]);
    await db.query('select * from t where org = $1 and n > $2 order by n limit 5', ['o' + (i % 10), i - 10]);
  }
  const c = process.cpuUsage(c0); return ((c.user + c.system) / n).toFixed(0);
}
const r1 = await round(2000); const r2 = await round(5000); const r3 = await round(5000);
global.gc?.(); await new Promise(r=>setTimeout(r,2000));
console.log(process.argv.slice(2).join(' ') || 'default', 'ready ms', ready.toFixed(0), 'µs/iter', r1, r2, r3, 'rss', mb());
