// Step "conversation" (issue 17): holding a conversation the way people
// talk, the new parts against today's behaviour, side by side in one run.
// NEW is the server's defaults with the echo guard on (--echo-guard auto);
// OLD switches the new parts off:
//   --end-of-turn rules --turn-merging off --false-interruptions stop --echo-guard off
// Each part runs the benchmark tool that measures it, against ctx.bin:
//   end of turn   bench/turn-end.mjs, both configurations as two servers
//                 hearing every item at the same moment (MEASURE part of the
//                 set, fake LLM at 150 ms to first token): premature ends
//                 per pause length and word type, how many of them were
//                 merged, finished end of speech -> final p50;
//   echo          bench/echo.mjs in simulated rooms, NEW then OLD: answers
//                 cut by their own echo, user turns from echo, a real
//                 interruption over the echo: onset -> stop_tts;
//   backchannels  bench/backchannel.mjs, NEW then OLD: answers interrupted
//                 by "mhm", "yeah", ... or a short noise that resume, what is
//                 lost or repeated, LLM requests, real barge-in latency;
//   capacity      the capacity step at 12 talkers on one core, NEW (the echo
//                 guard on: the talkers do not say they cancel echo) then OLD.
// The tools' own JSON is kept under steps.conversation.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../tests/integration/harness.mjs';
import { capacity } from './capacity.mjs';

// The echo guard is off by default (it still gates a near end with no echo
// at all): the new configuration turns it on for clients that do not say
// they cancel echo.
export const NEW_ARGS = ['--echo-guard', 'auto'];
export const OLD_ARGS = ['--end-of-turn', 'rules', '--turn-merging', 'off', '--false-interruptions', 'stop',
  '--echo-guard', 'off'];

/** Runs `node bench/<tool> args` and resolves its --json output (parsed). */
function tool(ctx, name, args) {
  const out = path.join(os.tmpdir(), `parley-conversation-${process.pid}-${name.replace(/\W/g, '')}-${Date.now()}.json`);
  const argv = [path.join(REPO_ROOT, 'bench', name), ...args, '--json', out];
  ctx.log(`conversation: node bench/${name} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARLEY_BIN: ctx.bin } });
    let tail = '';
    const keep = (d) => { tail = (tail + d).slice(-4000); };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench/${name} exited ${code}: ${tail.slice(-600)}`));
      try {
        const j = JSON.parse(fs.readFileSync(out, 'utf8'));
        fs.rmSync(out, { force: true });
        resolve(j);
      } catch (e) {
        reject(new Error(`bench/${name}: no JSON (${e.message}): ${tail.slice(-600)}`));
      }
    });
  });
}

const frac = (k, n) => (n ? `${k}/${n} (${Math.round((100 * k) / n)}%)` : '-');
const ms = (x) => (x == null ? '-' : `${Math.round(x)} ms`);

export async function conversation(ctx) {
  const z = ctx.sizes;
  const json = { old_args: OLD_ARGS };
  const rows = [];
  const row = (figure, value, baseline, target, met) => rows.push({ figure, value, baseline, target, met });

  // ---- end of turn, side by side
  const te = await tool(ctx, 'turn-end.mjs', ['--bin', `${ctx.bin} ${OLD_ARGS.join(' ')},${ctx.bin} ${NEW_ARGS.join(' ')}`,
    '--split', 'measure', '--librivox', '0', '--ttft', '150', '--n', String(z.convTurnN)]);
  const [teOld, teNew] = te.binaries.map((b) => b.splits.measure);
  json.turn_end = { duration_s: te.duration_s, old: teOld, new: teNew };
  for (const p of te.pauses) {
    const o = teOld.paused[p];
    const n = teNew.paused[p];
    const target = p === 400 ? '5% or less' : p === 700 ? '15% or less' : '';
    const met = p === 400 ? n.rate <= 0.05 : p === 700 ? n.rate <= 0.15 : undefined;
    row(`conversation: premature turn ends, ${p} ms pause (measure part; merged of them)`,
      `${frac(n.premature, n.n)}; merged ${n.merged}`, `${frac(o.premature, o.n)}`, target, met);
  }
  for (const t of Object.keys(teNew.by_type)) {
    row(`  premature ends after/inside ${t}, all pauses`, frac(teNew.by_type[t].premature, teNew.by_type[t].n),
      frac(teOld.by_type[t].premature, teOld.by_type[t].n));
  }
  row('conversation: finished sentence, end of speech -> final p50 / p95', `${ms(teNew.finished.p50_ms)} / ${ms(teNew.finished.p95_ms)}`,
    `${ms(teOld.finished.p50_ms)} / ${ms(teOld.finished.p95_ms)}`, '350 ms or less', teNew.finished.p50_ms != null && teNew.finished.p50_ms <= 350);

  // ---- echo in simulated rooms
  const echoArgs = ['--answers', String(z.convEchoAnswers), '--rooms', String(z.convEchoRooms),
    '--interruptions', String(z.convEchoInterruptions), '--cpu', 'no'];
  const echoNew = await tool(ctx, 'echo.mjs', echoArgs);
  const echoOld = await tool(ctx, 'echo.mjs', [...echoArgs, '--args', OLD_ARGS.join(' ')]);
  json.echo = { new: echoNew, old: echoOld };
  row('conversation: answers cut by their own echo (simulated rooms)', `${echoNew.cut}/${echoNew.answers}`,
    `${echoOld.cut}/${echoOld.answers}`, '0', echoNew.cut === 0);
  row('  user turns from echo', String(echoNew.echo_turns), String(echoOld.echo_turns), '0', echoNew.echo_turns === 0);
  row('  real interruption over the echo: onset -> stop_tts p50 (stopped)',
    `${ms(echoNew.interruption_ms?.p50)} (${echoNew.stopped}/${echoNew.interruptions})`,
    `${ms(echoOld.interruption_ms?.p50)} (${echoOld.stopped}/${echoOld.interruptions})`, '250 ms or less, all stopped',
    echoNew.interruption_ms?.p50 <= 250 && echoNew.stopped === echoNew.interruptions);

  // ---- backchannels and short noises
  const bcArgs = ['--reps', String(z.convBackchannelReps), '--voices', z.convVoices, '--listen-ms', '1500',
    ...(z.convBackchannelLimit ? ['--limit', String(z.convBackchannelLimit)] : [])];
  const bcNew = await tool(ctx, 'backchannel.mjs', [...bcArgs, '--args', NEW_ARGS.join(' ')]);
  const bcOld = await tool(ctx, 'backchannel.mjs', [...bcArgs, '--args', OLD_ARGS.join(' ')]);
  json.backchannel = { new: bcNew, old: bcOld };
  const rec = (b) => {
    const both = [b.backchannels, b.noises];
    const attempts = both.reduce((a, x) => a + x.attempts, 0);
    const recovered = both.reduce((a, x) => a + x.recovered_within_1s, 0);
    const off = Math.max(0, ...both.map((x) => Math.max(Math.abs(x.repeated_ms.max ?? 0), x.lost_ms_max ?? 0)));
    return { attempts, recovered, off_max_ms: recovered ? off : null, llm: b.backchannels.llm_requests_extra,
             stop_p50: b.all_onset_to_stop_tts_ms.p50, real_p50: b.real_interruptions.onset_to_stop_tts_ms.p50,
             real: `${b.real_interruptions.interrupted}/${b.real_interruptions.attempts}` };
  };
  const rn = rec(bcNew);
  const ro = rec(bcOld);
  row('conversation: answers interrupted by a backchannel or a short noise that resume (<= 1 s lost or repeated)',
    frac(rn.recovered, rn.attempts), frac(ro.recovered, ro.attempts), '90% or more',
    rn.attempts > 0 && rn.recovered / rn.attempts >= 0.9);
  row('  of those: lost or repeated, max', ms(rn.off_max_ms), '-', '1000 ms or less', rn.off_max_ms == null || rn.off_max_ms <= 1000);
  row('  LLM requests for backchannels', String(rn.llm), String(ro.llm), '0', rn.llm === 0);
  row('  any onset over an answer -> stop_tts p50 (real interruptions alone)', `${ms(rn.stop_p50)} (${ms(rn.real_p50)})`,
    `${ms(ro.stop_p50)} (${ms(ro.real_p50)})`, '200 ms or less, as before', rn.stop_p50 != null && rn.stop_p50 <= 200);
  row('  real interruptions that ended the answer', rn.real, ro.real, 'all');

  // ---- capacity at 12 talkers on one core, the echo guard on
  const level = async (serverArgs) => {
    const r = await capacity({ ...ctx, serverArgs, sizes: { ...z, talkers: [z.convTalkers], capacitySeconds: z.convCapacitySeconds } });
    return r.json.levels[0];
  };
  const capNew = await level(NEW_ARGS);
  const capOld = await level(OLD_ARGS);
  json.capacity = { talkers: z.convTalkers, new: capNew, old: capOld };
  const cap = (l) => (l ? `${l.within_limits ? 'within the limits' : 'NOT within the limits'}, server ${l.server_cores} cores` : '-');
  row(`conversation: ${z.convTalkers} talkers on one core, echo guard on`, cap(capNew), cap(capOld), 'within the limits',
    Boolean(capNew && capNew.within_limits));
  return { json, rows };
}
