// The end-of-turn set and its figures (bench/lib/eotset.mjs,
// bench/lib/eotreport.mjs), without a server: the set's balance and
// determinism, the pause finder on made-up audio, and the sums.
//   node --test bench/lib/
import test from 'node:test';
import assert from 'node:assert/strict';
import { PAUSES, VOICES, TYPES, PHRASES, whole, splitOf, flitePlan, librivoxPlan, findPauses, checkSet, setCounts } from './eotset.mjs';
import { summarise } from './eotreport.mjs';

const RATE = 48000;
/** int16 LE: segments [{ms, db, hz}] one after another; hz 0 is white noise. */
function audio(segments) {
  const parts = [];
  let seed = 3;
  for (const { ms, db, hz = 200 } of segments) {
    const n = Math.round((RATE * ms) / 1000);
    const amp = 32767 * 10 ** (db / 20) * Math.SQRT2;
    const b = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const v = hz ? amp * Math.sin((2 * Math.PI * hz * i) / RATE) : (amp / Math.SQRT2) * Math.sqrt(3) * ((seed / 0x7fffffff) * 2 - 1);
      b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))), i * 2);
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

test('the set is sound: 60 phrases, every type in both parts, 20+ phrases in each', () => {
  assert.deepEqual(checkSet(), []);
  assert.equal(PHRASES.length, 60);
  const c = setCounts();
  assert.equal(c.tune.phrases + c.measure.phrases, PHRASES.length);
  for (const s of ['tune', 'measure']) {
    assert.ok(c[s].phrases >= 20, `${s}: ${c[s].phrases}`);
    for (const t of TYPES) assert.ok(c[s].by_type[t] >= 3, `${s} ${t}: ${c[s].by_type[t]}`);
    assert.ok(c[s].could_end >= 5);
  }
});

test('the split is a function of the text alone, blind to case and punctuation', () => {
  for (const p of PHRASES) {
    const t = whole(p);
    assert.equal(splitOf(t), splitOf(t.toUpperCase().replace(/[.,?]/g, '')));
  }
  // pinned: moving a text between parts would let tuning see measured items
  assert.equal(splitOf('Why is the sky blue?'), splitOf('why is the sky blue'));
  assert.deepEqual(PHRASES.slice(0, 6).map((p) => splitOf(whole(p))),
                   PHRASES.slice(0, 6).map((p) => splitOf(`${p.first}  ${p.rest}`)));
});

test('the full plan: every phrase finished once and at every pause, in every voice', () => {
  const items = flitePlan();
  assert.equal(items.filter((i) => i.kind === 'finished').length, PHRASES.length);
  assert.equal(items.filter((i) => i.kind === 'paused').length, PHRASES.length * PAUSES.length);
  for (const p of PHRASES) {
    const mine = items.filter((i) => i.kind === 'paused' && i.text === whole(p));
    assert.deepEqual(mine.map((i) => i.pause).sort((a, b) => a - b), PAUSES);
    assert.deepEqual(new Set(mine.map((i) => i.voice)), new Set(VOICES), whole(p));
    assert.deepEqual(mine[0].parts, [p.first.replaceAll(',', ''), p.rest.replaceAll(',', '')]);
  }
  assert.deepEqual(flitePlan(), items, 'deterministic');
});

test('a small plan keeps to its part and spreads over the word types', () => {
  const items = flitePlan({ n: 1, split: 'measure' });
  assert.equal(items.length, 1 + PAUSES.length);
  assert.ok(items.every((i) => i.split === 'measure'));
  assert.equal(new Set(items.filter((i) => i.kind === 'paused').map((i) => i.type)).size, PAUSES.length);
  for (const split of ['tune', 'measure']) {
    const six = flitePlan({ n: 6, split });
    for (const pause of [0, ...PAUSES]) {
      assert.deepEqual(new Set(six.filter((i) => i.pause === pause).map((i) => i.type)), new Set(TYPES), `${split} ${pause}`);
    }
  }
});

test('librivox: joined sentences first, each as recorded and denoised, split by text', () => {
  const clips = ['0870', '0880', '0890', '0920', '0930'].map((k) => ({ id: `x-${k}`, file: `/d/x-${k}.wav`, text: `clip ${k}` }));
  const plan = librivoxPlan(clips);
  assert.equal(plan.length, 14);
  assert.deepEqual(plan.slice(0, 4).map((x) => `${x.id} ${x.render}`),
                   ['0880+0890 recorded', '0880+0890 denoised', '0920+0930 recorded', '0920+0930 denoised']);
  assert.deepEqual(plan[0].files, ['/d/x-0880.wav', '/d/x-0890.wav']);
  for (const x of plan) assert.equal(x.split, splitOf(x.text));
});

test('findPauses: a silence of 300 ms inside speech, not one of 200 ms nor the edges', () => {
  const pcm = audio([
    { ms: 500, db: -70, hz: 0 }, { ms: 800, db: -20 }, { ms: 300, db: -70, hz: 0 }, { ms: 600, db: -22 },
    { ms: 200, db: -70, hz: 0 }, { ms: 400, db: -20 }, { ms: 700, db: -70, hz: 0 },
  ]);
  const r = findPauses(pcm, RATE);
  assert.equal(r.startMs, 500);
  assert.equal(r.endMs, 2800);
  assert.equal(r.pauses.length, 1);
  assert.ok(Math.abs(r.pauses[0].atMs - 1300) <= 10 && Math.abs(r.pauses[0].ms - 300) <= 20, JSON.stringify(r.pauses));
  assert.ok(r.pauses[0].quietMs >= 280);
});

test('findPauses: in a room whose tone is over -50 dBFS, a pause is found but not quiet', () => {
  const pcm = audio([
    { ms: 400, db: -46, hz: 0 }, { ms: 700, db: -18 }, { ms: 400, db: -46, hz: 0 }, { ms: 700, db: -18 },
    { ms: 400, db: -46, hz: 0 },
  ]);
  const r = findPauses(pcm, RATE, { overDb: 12 });
  assert.equal(r.pauses.length, 1);
  assert.ok(r.pauses[0].ms >= 380);
  assert.equal(r.pauses[0].quietMs, 0);
});

test('summarise: counts per pause, type, part of a sentence, merged ends, and librivox', () => {
  const out = (premature, final_ms = 300) => ({ finals: premature ? 2 : 1, final_ms: premature ? -500 : final_ms, premature });
  const rows = [
    { kind: 'finished', type: 'number', per_bin: [out(false, 300)] },
    { kind: 'finished', type: 'list', per_bin: [out(false, 500)] },
    { kind: 'finished', type: 'list', per_bin: [out(true)] },
    { kind: 'finished', type: 'name', per_bin: [{ finals: 0, final_ms: null, premature: false }] },
    { kind: 'paused', type: 'content', ends: true, pause: 400, per_bin: [{ ...out(true), merged: true }] },
    { kind: 'paused', type: 'content', ends: true, pause: 700, per_bin: [out(false)] },
    { kind: 'paused', type: 'function', ends: false, pause: 400, per_bin: [out(false)] },
    { kind: 'paused', type: 'name', ends: false, pause: 700, per_bin: [{ finals: 0, final_ms: null, premature: false }] },
    { kind: 'librivox', render: 'recorded', pauses: [{ atMs: 1000, ms: 300, quietMs: 100 }], per_bin: [out(false, 800)] },
    { kind: 'librivox', render: 'denoised', pauses: [{ atMs: 1000, ms: 300, quietMs: 300 }], per_bin: [{ ...out(true), at_pause: 0 }] },
  ];
  const s = summarise(rows, 0, [400, 700]);
  assert.deepEqual(s.finished, { n: 4, answered: 2, split: 1, no_turn: 1, p50_ms: 300, p95_ms: 500, max_ms: 500 });
  assert.deepEqual(s.paused[400], { n: 2, premature: 1, rate: 0.5, merged: 1, no_turn: 0 });
  assert.deepEqual(s.paused[700], { n: 2, premature: 0, rate: 0, merged: 0, no_turn: 1 });
  assert.deepEqual(s.by_type.content, { n: 2, premature: 1, rate: 0.5, merged: 1 });
  assert.deepEqual(s.by_type.number, { n: 0, premature: 0, rate: null, merged: 0 });
  assert.deepEqual(s.by_type_pause.content[400], { n: 1, premature: 1, rate: 1, merged: 1 });
  assert.deepEqual(s.could_end, { n: 2, premature: 1, rate: 0.5, merged: 1 });
  assert.deepEqual(s.could_not_end, { n: 2, premature: 0, rate: 0, merged: 0 });
  assert.equal(s.librivox.recorded.quiet_pauses, 0);
  assert.equal(s.librivox.recorded.final_p50_ms, 800);
  assert.deepEqual([s.librivox.denoised.premature, s.librivox.denoised.premature_at_pause, s.librivox.denoised.quiet_pauses], [1, 1, 1]);
});
