// The benchmark's report: one table (Markdown, so it can go into
// docs/performance.md as it is) and the sanity check that `make test`'s
// smoke run applies to the JSON (every figure present and plausible; no
// performance threshold).

/** rows: [{figure, value, baseline, diff, target, met}] -> Markdown table. */
export function table(rows) {
  const head = ['figure', 'measured', 'baseline (same run)', 'difference', 'target', 'met'];
  const cell = (s) => String(s ?? '').replaceAll('|', '/');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const met = r.met === true ? 'yes' : r.met === false ? 'NO' : '';
    lines.push(`| ${[r.figure, r.value, r.baseline, r.diff, r.target, met].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
const isMs = (x) => isNum(x) && x >= 0 && x < 120000;

/** Problems with a bench JSON (empty when every figure is there and sane). */
export function check(json, steps) {
  const p = [];
  const need = (cond, what) => { if (!cond) p.push(what); };
  for (const name of steps) {
    const st = json.steps?.[name];
    need(st && !st.error, `step ${name} ran without error${st?.error ? ` (${st.error})` : ''}`);
  }
  const s = json.steps || {};
  if (s.listen && !s.listen.error) {
    const l = s.listen;
    need(isNum(l.decoder.cpu_s) && l.decoder.cpu_s > 0, 'listen: decoder CPU > 0');
    need(isNum(l.decoder_paced?.cpu_s) && l.decoder_paced.cpu_s > 0, 'listen: paced decoder CPU > 0');
    need(isNum(l.parley.cpu_s) && l.parley.cpu_s > 0, 'listen: parley CPU > 0');
    need(isNum(l.ratio) && l.ratio > 0, 'listen: ratio');
    need(l.parley.transcripts >= 1, 'listen: parley transcribed the clips');
    need(isNum(l.parley.wer) && l.parley.wer <= 1, 'listen: WER computed');
  }
  if (s.capacity && !s.capacity.error) {
    const c = s.capacity;
    need(c.server_cpus === '0', `capacity: server pinned to CPU 0 (${c.server_cpus})`);
    need(c.client_cpus === '1', `capacity: client pinned to CPU 1 (${c.client_cpus})`);
    need(isMs(c.baseline?.final?.p50), 'capacity: baseline pause');
    need(Number.isInteger(c.capacity_per_core), 'capacity: capacity figure');
    need(c.levels?.length >= 1, 'capacity: at least one level');
    for (const l of c.levels || []) {
      need(l.utterances >= 1, `capacity ${l.talkers}: utterances spoken`);
      need(l.transcribed >= 1, `capacity ${l.talkers}: utterances transcribed`);
      need(Number.isInteger(l.overloaded) && Number.isInteger(l.lost), `capacity ${l.talkers}: counts`);
      need(isMs(l.final_ms.p95) && isNum(l.final_beyond_pause_ms.p95), `capacity ${l.talkers}: transcript p95`);
      need(isMs(l.first_audio_ms.p99), `capacity ${l.talkers}: first audio p99`);
      need(isNum(l.server_cores) && l.server_cores > 0, `capacity ${l.talkers}: server CPU`);
      need(isNum(l.client.cores) && l.client.cores > 0, `capacity ${l.talkers}: client CPU`);
    }
  }
  if (s.latency && !s.latency.error) {
    need(s.latency.ttft?.length === 2, 'latency: two first-token delays');
    for (const r of s.latency.ttft || []) {
      for (const m of ['speculate_on', 'speculate_off']) {
        need(isMs(r[m].end_to_audio_ms.p50) && isMs(r[m].end_to_audio_ms.p95),
             `latency ${r.llm_first_token_ms} ${m}: p50/p95`);
        need(r[m].end_to_audio_ms.p50 >= r.llm_first_token_ms / 2, `latency ${r.llm_first_token_ms} ${m}: not before the LLM could answer`);
      }
      need(isNum(r.saving_p50_ms), `latency ${r.llm_first_token_ms}: saving`);
    }
  }
  if (s['barge-in'] && !s['barge-in'].error) {
    const b = s['barge-in'];
    need(isMs(b.onset_to_stop_tts_ms.p50), 'barge-in: p50');
    need(b.server_count >= 1, 'barge-in: the server counted it');
  }
  if (s.connect && !s.connect.error) {
    const c = s.connect;
    need(isMs(c.connect_to_status_ms.idle_0.p99), 'connect: p99 with none idle');
    need(isMs(c.connect_to_status_ms[`idle_${c.idle_sessions}`]?.p99), 'connect: p99 with idle sessions');
    need(isNum(c.rss_per_idle_session_kb), 'connect: RSS per idle session');
  }
  if (s.memory && !s.memory.error) {
    need(s.memory.transcribed >= 1, 'memory: the talkers were heard');
    need(isNum(s.memory.rss_per_talking_session_mb) && s.memory.rss_per_talking_session_mb > 0,
         'memory: RSS per talking session > 0');
  }
  if (s['turn-end'] && !s['turn-end'].error) {
    const t = s['turn-end'];
    need(t.finished?.answered >= 1 && isMs(t.finished.p50_ms), 'turn-end: finished sentences answered');
    for (const p of ['300', '400', '500'])
      need(t.paused?.[p]?.n >= 1 && Number.isInteger(t.paused[p].premature), `turn-end: ${p} ms pauses counted`);
  }
  if (s.conversation && !s.conversation.error) {
    const c = s.conversation;
    for (const side of ['old', 'new']) {
      need(c.turn_end?.[side]?.finished?.n >= 1 && Number.isInteger(c.turn_end[side].paused?.['400']?.premature),
           `conversation: ${side}: premature ends at 400 ms counted`);
      need(Number.isInteger(c.echo?.[side]?.cut) && c.echo[side].answers >= 1, `conversation: ${side}: echo answers counted`);
      need(c.backchannel?.[side]?.backchannels?.attempts >= 1, `conversation: ${side}: backchannels tried`);
      need(c.capacity?.[side]?.talkers >= 1 && isNum(c.capacity[side].server_cores), `conversation: ${side}: capacity measured`);
    }
  }
  need(isNum(json.client?.cpu_s) && json.client.cpu_s > 0, 'client CPU reported');
  for (const srv of json.servers || []) {
    need(srv.exit_code === 0, `server ${srv.name} exited 0 on SIGTERM (${srv.exit_code}, ${srv.signal})`);
    need(!srv.sanitizer_reports.length, `server ${srv.name}: no sanitizer report (${srv.sanitizer_reports[0]})`);
  }
  return p;
}
