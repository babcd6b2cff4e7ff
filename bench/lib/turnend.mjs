// Step "turn-end": both sides of the end of turn on the MEASURE part of the
// end-of-turn set (bench/lib/eotset.mjs), by bench/turn-end.mjs run as a
// child process on the same binary: end of speech -> final transcript on
// finished sentences, and how often a speaker is cut off at a pause of
// 300/400/500/700 ms inside an unfinished phrase, per pause length and per
// word type (function, content, number, list, name, question), and at the
// pauses of Debian's librivox clips. flite voices slt, rms, awb and kal16,
// set_speed 50. Full: the whole measure part (about 4 minutes); quick and
// smoke: ctx.sizes.turnEndN items per cell (6 and 1).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../tests/integration/harness.mjs';
import { TYPES } from './eotset.mjs';

// Full runs the whole measure part; quick and smoke at most
// ctx.sizes.turnEndN items per cell (6 and 1).
const ARGS = {
  full: () => ['--split', 'measure'],
  quick: (n) => ['--split', 'measure', '--n', String(n), '--librivox', '4'],
  smoke: (n) => ['--split', 'measure', '--n', String(n), '--librivox', '1', '--lanes', '2'],
};
const TARGETS = { 400: 0.05, 700: 0.15 }; // issue 17: premature turn ends at these pauses
const FINISHED_P50_MS = 350;

export async function turnEnd(ctx) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-turnend-'));
  const out = path.join(tmp, 'turn-end.json');
  const args = (ARGS[ctx.mode] || ARGS.full)(ctx.sizes.turnEndN);
  try {
    await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bench/turn-end.mjs'), '--bin', ctx.bin, ...args, '--json', out],
        { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
      child.on('error', reject);
      child.on('exit', (c, sig) => (c === 0 ? resolve(0) : reject(new Error(`turn-end.mjs exited ${c ?? sig}: ${err.trim().split('\n').at(-1)}`))));
    });
    const res = JSON.parse(fs.readFileSync(out, 'utf8'));
    const m = res.binaries[0].splits.measure;
    const pct = (x) => (x?.n ? `${x.premature}/${x.n} (${(100 * x.rate).toFixed(0)}%)` : '-');
    const rows = [{
      figure: 'end of speech -> final transcript, finished sentences (measure part), p50 / p95',
      value: `${Math.round(m.finished.p50_ms)} / ${Math.round(m.finished.p95_ms)} ms (${m.finished.answered}/${m.finished.n})`,
      baseline: 'fixed 600 ms pause before issue 10: 605 ms',
      target: `p50 <= ${FINISHED_P50_MS} ms`,
      met: m.finished.p50_ms != null && m.finished.p50_ms <= FINISHED_P50_MS,
    }];
    for (const p of Object.keys(m.paused)) {
      const t = TARGETS[p];
      rows.push({
        figure: `premature turn ends, ${p} ms pause inside an unfinished phrase (measure part)`,
        value: pct(m.paused[p]),
        target: t != null ? `<= ${t * 100}%` : '',
        met: t != null && m.paused[p].rate != null ? m.paused[p].rate <= t : undefined,
      });
    }
    rows.push({
      figure: 'premature turn ends by word type, all pauses (measure part)',
      value: TYPES.map((t) => `${t} ${pct(m.by_type[t])}`).join(', '),
    });
    rows.push({
      figure: 'premature turn ends where the first part could end a sentence / could not',
      value: `${pct(m.could_end)} / ${pct(m.could_not_end)}`,
    });
    const lv = m.librivox;
    rows.push({
      figure: 'librivox (measure part): premature turn ends, as recorded / denoised',
      value: `${lv.recorded.premature}/${lv.recorded.n} / ${lv.denoised.premature}/${lv.denoised.n} (pauses >= 250 ms inside: ${lv.recorded.pauses} / ${lv.denoised.pauses})`,
    });
    return {
      json: { args, n: res.n, split: 'measure', set: res.set, finished: m.finished, paused: m.paused, by_type: m.by_type,
              by_type_pause: m.by_type_pause, could_end: m.could_end, could_not_end: m.could_not_end, librivox: lv,
              duration_s: res.duration_s },
      rows,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
