// Step "turn-end": both sides of the adaptive end of turn, by
// bench/turn-end.mjs (run as a child process on the same binary): end of
// speech -> final transcript on finished sentences, and how often a speaker
// is cut off at a 300/400/500 ms pause after an unfinished phrase
// ("I would like to order a pizza with ... mushrooms and olives"). flite
// voices slt, rms, awb and kal16, set_speed 50.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../tests/integration/harness.mjs';

export async function turnEnd(ctx) {
  const n = ctx.sizes.turnEndN;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-turnend-'));
  const out = path.join(tmp, 'turn-end.json');
  try {
    const code = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bench/turn-end.mjs'), '--bin', ctx.bin,
        '--n', String(n), '--lanes', String(ctx.smoke ? 1 : 2), '--json', out],
      { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
      child.on('error', reject);
      child.on('exit', (c, sig) => (c === 0 ? resolve(0) : reject(new Error(`turn-end.mjs exited ${c ?? sig}: ${err.trim().split('\n').at(-1)}`))));
    });
    void code;
    const r = JSON.parse(fs.readFileSync(out, 'utf8')).binaries[0];
    const pct = (x) => (x.rate == null ? '-' : `${x.premature}/${x.n} (${(100 * x.rate).toFixed(0)}%)`);
    const rows = [{
      figure: 'end of speech -> final transcript, finished sentences, p50 / p95',
      value: `${Math.round(r.finished.p50_ms)} / ${Math.round(r.finished.p95_ms)} ms (${r.finished.answered}/${r.finished.n})`,
      baseline: 'fixed 600 ms pause before issue 10: 605 ms',
      target: 'shorter',
      met: r.finished.p50_ms < 600,
    }];
    for (const p of Object.keys(r.paused)) {
      rows.push({
        figure: `premature turn ends, ${p} ms pause after an unfinished phrase`,
        value: pct(r.paused[p]),
        target: p === '400' ? '<= 5%' : '',
        met: p === '400' && r.paused[p].rate != null ? r.paused[p].rate <= 0.05 : undefined,
      });
    }
    return { json: { n, finished: r.finished, paused: r.paused }, rows };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
