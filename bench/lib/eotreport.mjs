// The end-of-turn benchmark's figures (bench/turn-end.mjs): every item's
// outcome on one binary summed up per part of the set (tune, measure), per
// pause length, per word type, and the librivox clips apart; and the
// Markdown tables printed from them. Pure functions of the items.
import { TYPES, RENDERS } from './eotset.mjs';

/** The p-th percentile (nearest rank) of xs; null when empty. */
export function pct(xs, p) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const share = (outs) => {
  const pre = outs.filter((o) => o.premature).length;
  const merged = outs.filter((o) => o.premature && o.merged).length;
  return { n: outs.length, premature: pre, rate: outs.length ? pre / outs.length : null, merged };
};

/**
 * Figures of binary number b over rows (items as turn-end.mjs records
 * them: {kind, type, ends, pause, split, per_bin: [{finals, final_ms,
 * premature, at_pause}]}), for the pause lengths `pauses`:
 *   finished: end of speech -> first final_user_request (p50, p95, max) of
 *     the finished sentences answered in one turn; `split` counts those
 *     that became two turns, `no_turn` those never answered;
 *   paused[pause]: premature turn ends ({n, premature, rate, no_turn});
 *   by_type[type], by_type_pause[type][pause], could_end, could_not_end:
 *     premature ends over every pause length;
 *   librivox[recorded|denoised]: items, pauses found inside (and how many
 *     stay under -50 dBFS for 250 ms), premature ends (and how many came
 *     after a pause found), end of speech -> final p50.
 */
export function summarise(rows, b, pauses) {
  const of = (kind) => rows.filter((r) => r.kind === kind);
  const fin = of('finished').map((r) => r.per_bin[b]);
  const one = fin.filter((o) => o.finals && !o.premature).map((o) => o.final_ms);
  const paused = of('paused');
  const outs = (pred) => paused.filter(pred).map((r) => r.per_bin[b]);
  const byPause = {};
  for (const p of pauses) {
    const o = outs((r) => r.pause === p);
    byPause[p] = { ...share(o), no_turn: o.filter((x) => !x.finals).length };
  }
  const byType = {};
  const byTypePause = {};
  for (const t of TYPES) {
    byType[t] = share(outs((r) => r.type === t));
    byTypePause[t] = Object.fromEntries(pauses.map((p) => [p, share(outs((r) => r.type === t && r.pause === p))]));
  }
  const librivox = (lv) => {
    const o = lv.map((r) => r.per_bin[b]);
    const fin = o.filter((x) => x.finals && !x.premature).map((x) => x.final_ms);
    return {
      n: lv.length,
      pauses: lv.reduce((a, r) => a + r.pauses.length, 0),
      with_pause: lv.filter((r) => r.pauses.length).length,
      quiet_pauses: lv.reduce((a, r) => a + r.pauses.filter((p) => p.quietMs >= 250).length, 0),
      premature: o.filter((x) => x.premature).length,
      premature_at_pause: o.filter((x) => x.premature && x.at_pause != null).length,
      final_p50_ms: pct(fin, 50),
      no_turn: o.filter((x) => !x.finals).length,
    };
  };
  return {
    finished: {
      n: fin.length, answered: one.length, split: fin.filter((o) => o.premature).length,
      no_turn: fin.filter((o) => !o.finals).length,
      p50_ms: pct(one, 50), p95_ms: pct(one, 95), max_ms: one.length ? Math.max(...one) : null,
    },
    paused: byPause,
    all_pauses: share(paused.map((r) => r.per_bin[b])),
    by_type: byType,
    by_type_pause: byTypePause,
    could_end: share(outs((r) => r.ends)),
    could_not_end: share(outs((r) => !r.ends)),
    librivox: Object.fromEntries(RENDERS.map((r) => [r, librivox(of('librivox').filter((x) => x.render === r))])),
  };
}

const f = (x) => (x == null ? '-' : `${Math.round(x)}`);
/** "k/n (r%)", or "-" when n is 0. */
export const frac = (x) => (x && x.n ? `${x.premature}/${x.n} (${(100 * x.rate).toFixed(0)}%)` : '-');

/** Markdown tables of one part of the set. parts: [{name, s}] one per
 *  binary, s being summarise()'s result. */
export function partTables(parts, pauses) {
  const L = [];
  L.push(`| binary | finished: end of speech -> final p50 / p95 / max (ms) | ${pauses.map((p) => `premature, ${p} ms`).join(' | ')} | premature, all pauses |`);
  L.push(`|---|---|${pauses.map(() => '---').join('|')}|---|`);
  for (const { name, s } of parts) {
    const x = s.finished;
    const extra = [x.split ? `${x.split} split in two` : '', x.no_turn ? `${x.no_turn} no turn` : ''].filter(Boolean).join(', ');
    L.push(`| ${name} | ${f(x.p50_ms)} / ${f(x.p95_ms)} / ${f(x.max_ms)} (${x.answered}/${x.n}${extra ? `; ${extra}` : ''}) | ${pauses.map((p) => frac(s.paused[p])).join(' | ')} | ${frac(s.all_pauses)} |`);
  }
  L.push('');
  L.push(`| binary | premature, all pauses: ${TYPES.join(' | ')} | first part could end a sentence | could not |`);
  L.push(`|---|${TYPES.map(() => '---').join('|')}|---|---|`);
  for (const { name, s } of parts) {
    L.push(`| ${name} | ${TYPES.map((t) => frac(s.by_type[t])).join(' | ')} | ${frac(s.could_end)} | ${frac(s.could_not_end)} |`);
  }
  L.push('');
  L.push(`| binary | word type | ${pauses.map((p) => `${p} ms`).join(' | ')} |`);
  L.push(`|---|---|${pauses.map(() => '---').join('|')}|`);
  for (const { name, s } of parts) {
    for (const t of TYPES) L.push(`| ${name} | ${t} | ${pauses.map((p) => frac(s.by_type_pause[t][p])).join(' | ')} |`);
  }
  return L.join('\n');
}

/** Markdown table of the librivox items, per part and rendering.
 *  parts: [{name, split, s}]. */
export function librivoxTable(parts) {
  const L = [];
  L.push('| binary | part | audio | items | pauses >= 250 ms inside (items with one; with 250 ms under -50 dBFS) | premature turn ends (at a pause found) | end of speech (energy) -> final p50 (ms) |');
  L.push('|---|---|---|---|---|---|---|');
  for (const { name, split, s } of parts) {
    for (const r of RENDERS) {
      const x = s.librivox[r];
      if (!x.n) continue;
      L.push(`| ${name} | ${split} | ${r} | ${x.n} | ${x.pauses} (${x.with_pause}; ${x.quiet_pauses}) | ${x.premature}/${x.n} (${x.premature_at_pause}) | ${f(x.final_p50_ms)}${x.no_turn ? ` (${x.no_turn} no turn)` : ''} |`);
    }
  }
  return L.join('\n');
}
