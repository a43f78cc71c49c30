/**
 * Keeps the benchmark harness working: a tiny run through the real harness (real
 * server processes, the load generator process, the tRPC protocol on plain ws) with a
 * few connections for a second. Benchmarks are not tests: no timing is asserted here,
 * only that the run produced its result file and lost or repeated nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../bench/report.ts';

const run = promisify(execFile);
const outDir = mkdtempSync(path.join(tmpdir(), 'tandem-bench-smoke-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('benchmark harness', () => {
  it('runs a tiny fan-out against Tandem and bare ws and writes its results', { timeout: 180_000 }, async () => {
    await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        '--quick',
        '--scenario',
        'fanout',
        '--layouts',
        '2x3',
        '--rates',
        '30',
        '--step-ms',
        '1000',
        '--contestants',
        'ws,tandem',
        '--out',
        outDir,
      ],
      { cwd: path.resolve(import.meta.dirname, '..'), timeout: 170_000 },
    );
    const results = JSON.parse(readFileSync(path.join(outDir, 'latest.json'), 'utf8')) as BenchResults;
    expect(results.machine.node).toBe(process.version);
    expect(results.fanout.map((step) => step.contestant).sort()).toEqual(['tandem', 'ws']);
    for (const step of results.fanout) {
      expect(step).toMatchObject({ layout: '2x3', offeredDeliveriesPerSecond: 30, missing: 0, duplicates: 0, errors: 0 });
      expect(step.sent).toBeGreaterThan(0);
      expect(step.acked).toBe(step.sent);
      expect(step.deliveredRatio).toBe(1);
      for (const field of ['p50', 'p99', 'max', 'serverCpuUsPerDelivery', 'serverCpuShare', 'loadgenCpuShare', 'serverRssMb'] as const) {
        expect(typeof step[field]).toBe('number');
      }
    }
    expect(readFileSync(path.join(outDir, 'latest.md'), 'utf8')).toContain('Fan-out latency');
  });
});
