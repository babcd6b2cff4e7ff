#!/usr/bin/env node
// Fits the end-of-turn model's weights (src/text/eot_model.c) on the TUNE
// part of the end-of-turn set, as the recogniser heard it.
//
//   node bench/turn-end.mjs --bin build/parley --split tune \
//        --pauses 1900,1950,2000,1990 --librivox 0 --json /tmp/eot-tune-heard.json
//   node bench/eot-fit.mjs --json /tmp/eot-tune-heard.json [--features build/parley-eot-features]
//                          [--max-fp 0.03] [--l2 0.01] [--without CUE,...] [--verbose]
//
// The first run hears every tune phrase whole (a finished sentence) and with
// a pause of about two seconds after its first part, in each of the four
// flite voices: no turn waits that long (rules or model), so every first part
// ends a turn of its own and its final transcript is the first part as the
// recogniser heard it. Those are the examples: finished sentences (label 1)
// against first parts (label 0), both as transcribed (recognition errors
// included). Items of the MEASURE part are refused.
//
// Each transcript's cues come from parley-eot-features (the server's own
// code). Transcripts whose last word trails off, or with no words, are left
// out: hard rules decide those, not the weights. Then a logistic regression
// (gradient descent, L2 `--l2` on the weights, not the bias) of
//   lm_end, lm_last, min(words, 12), number, name
// and the confidence threshold: the lowest p(finished) at which at most
// `--max-fp` of the first parts would end at once (they are what a
// premature end is made of), which fixes how many finished sentences end
// fast. Prints the C constants for eot_model.c and each example's score.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { options, helpFromHeader } from './lib/args.mjs';
import { REPO_ROOT } from '../tests/integration/harness.mjs';

const argv = process.argv.slice(2);
const { opt } = options(argv);
helpFromHeader(import.meta.url, argv);
const die = (m) => { console.error(`eot-fit: ${m} (--help for usage)`); process.exit(2); };
const JSON_IN = opt('json', null);
const TOOL = path.resolve(REPO_ROOT, opt('features', 'build/parley-eot-features'));
const MAX_FP = Number(opt('max-fp', '0.03'));
const L2 = Number(opt('l2', '0.01'));
const WITHOUT = new Set((opt('without', '') || '').split(',').filter(Boolean)); // cues left out (weight 0), to see what each brings
if (!JSON_IN) die('--json FILE (a turn-end.mjs run on the tune part) is needed');
if (!(MAX_FP >= 0 && MAX_FP < 1) || !(L2 >= 0)) die('--max-fp wants 0..1, --l2 0 or more');

const run = JSON.parse(fs.readFileSync(JSON_IN, 'utf8'));
const measure = run.items.filter((r) => r.split !== 'tune');
if (measure.length) die(`${measure.length} items of the measure part in ${JSON_IN}: fit on the tune part only`);

// examples: [text, label, item]
const ex = [];
for (const r of run.items) {
  const o = r.per_bin[0];
  if (!o.texts.length || !o.texts[0].trim()) continue;
  if (r.kind === 'finished' && o.finals === 1) ex.push({ text: o.texts[0], y: 1, r });
  if (r.kind === 'paused' && o.premature) ex.push({ text: o.texts[0], y: 0, r });
}
const res = spawnSync(TOOL, [], { input: ex.map((e) => e.text.replace(/\n/g, ' ')).join('\n') + '\n', encoding: 'utf8' });
if (res.status !== 0) die(`${TOOL}: ${res.stderr || res.error}`);
const feats = res.stdout.trim().split('\n').map((l) => JSON.parse(l));
ex.forEach((e, i) => { e.f = feats[i]; });
const hard = ex.filter((e) => e.f.trailing || !e.f.words || e.f.reply);
const soft = ex.filter((e) => !e.f.trailing && e.f.words && !e.f.reply);

const NAMES = ['lm_end', 'lm_last', 'words', 'number', 'name'];
const CAP = 12;
const x = (f) => [f.lm_end, f.lm_last, Math.min(f.words, CAP), f.number, f.name];
const sig = (z) => 1 / (1 + Math.exp(-z));
let w = new Array(NAMES.length).fill(0);
let b = 0;
const X = soft.map((e) => x(e.f));
const Y = soft.map((e) => e.y);
for (let it = 0; it < 200000; it++) {
  const gw = new Array(w.length).fill(0);
  let gb = 0;
  for (let i = 0; i < X.length; i++) {
    const d = sig(b + X[i].reduce((a, v, k) => a + v * w[k], 0)) - Y[i];
    gb += d;
    for (let k = 0; k < w.length; k++) gw[k] += d * X[i][k];
  }
  const lr = 0.05;
  b -= (lr * gb) / X.length;
  w = w.map((v, k) => (WITHOUT.has(NAMES[k]) ? 0 : v - lr * (gw[k] / X.length + L2 * v)));
}
const p = (f) => sig(b + x(f).reduce((a, v, k) => a + v * w[k], 0));
soft.forEach((e) => { e.p = p(e.f); });

// threshold: lowest p with at most MAX_FP of ALL first parts (hard ones
// never end fast) scored at or above it
const negs = ex.filter((e) => e.y === 0).length;
const cands = [...new Set(soft.map((e) => e.p))].sort((a, c) => a - c);
let theta = 1;
for (const t of cands) {
  const fp = soft.filter((e) => e.y === 0 && e.p >= t).length;
  if (fp <= MAX_FP * negs) { theta = t; break; }
}
const pos = ex.filter((e) => e.y === 1);
const fastPos = soft.filter((e) => e.y === 1 && e.p >= theta).length + hard.filter((e) => e.y === 1 && e.f.reply).length;
const fastNeg = soft.filter((e) => e.y === 0 && e.p >= theta).length;

// The LM's own word (eot_model.h PARLEY_EOT_LM_ENDS / _WORDS): beside the
// score, a transcript whose trigram end probability is at least 10^t with
// at least w words (no number or name last) is confident. The loosest
// (t, w) that ends none of the first parts the score leaves unsure, and
// how many finished sentences it adds.
const lmRule = [];
for (const t of [-0.5, -0.55, -0.6, -0.65, -0.7]) {
  for (const wmin of [4, 5, 6, 7]) {
    const hit = (e) => e.p < theta && e.f.lm_end >= t && e.f.words >= wmin && !e.f.number && !e.f.name;
    lmRule.push({ t, wmin, tp: soft.filter((e) => e.y === 1 && hit(e)).length, fp: soft.filter((e) => e.y === 0 && hit(e)).length });
  }
}
const best = lmRule.filter((r) => r.fp === 0).sort((a, c) => c.tp - a.tp || a.t - c.t)[0];

const fmt = (v) => (v < 0 ? `(${v.toFixed(3)})` : v.toFixed(3));
const out = [];
out.push(`# ${ex.length} examples from ${JSON_IN} (${pos.length} finished, ${negs} first parts); ${hard.length} decided by the hard rules (trailing ${hard.filter((e) => e.f.trailing).length}), ${soft.length} fitted`);
out.push(`# threshold ${theta.toFixed(3)}: finished sentences ending fast ${fastPos}/${pos.length}, first parts ending fast ${fastNeg}/${negs} (--max-fp ${MAX_FP})`);
out.push(`#define BIAS ${fmt(b)}`);
NAMES.forEach((n, k) => out.push(`#define W_${n.toUpperCase()} ${fmt(w[k])}`));
out.push(`#define PARLEY_EOT_CONFIDENT ${theta.toFixed(3)}`);
out.push(`# the LM's own word: ${lmRule.map((r) => `${r.t}/${r.wmin}: +${r.tp} finished, ${r.fp} first parts`).join('; ')}`);
if (best) out.push(`#define PARLEY_EOT_LM_ENDS (${best.t})\n#define PARLEY_EOT_LM_WORDS ${best.wmin}`);
console.log(out.join('\n'));
if (opt('verbose', null) != null || argv.includes('--verbose')) {
  for (const e of [...soft].sort((a, c) => c.p - a.p)) {
    console.log(`${e.p.toFixed(3)}\t${e.y}\t${e.r.kind}\t${e.r.voice}\t${e.r.type}\t${e.text}\t${JSON.stringify(e.f)}`);
  }
}
