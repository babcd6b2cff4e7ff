// Step "connect": WebSocket connect -> `status` with 1,000 idle sessions
// connected, against the same with none (the baseline), and the memory an
// idle session costs (VmRSS before and after opening them, /proc/PID/status).
// Probes connect one at a time, each closed before the next.
import { sleep } from '../../tests/integration/harness.mjs';
import { Session } from './client.mjs';
import { startParley, startFakeLLM } from './server.mjs';
import { summary, rssKb, ratio, round3 } from './stats.mjs';

async function probes(port, n) {
  const t = [];
  for (let i = 0; i < n; i++) {
    const s = await Session.open(port);
    t.push(s.readyMs);
    await s.close();
  }
  return summary(t);
}

export async function connect(ctx) {
  const idle = ctx.sizes.idleSessions;
  const fake = await startFakeLLM({});
  const srv = await startParley(ctx, 'connect', ['--llm-url', fake.url, '--max-sessions', String(idle + 100),
    '--max-sessions-per-ip', String(idle + 100)]);
  const held = [];
  try {
    await probes(srv.port, 5); // warm the paths once
    await sleep(500);
    const base = await probes(srv.port, ctx.sizes.probes);
    await sleep(300);
    const rss0 = rssKb(srv.pid);
    for (let i = 0; i < idle; i += 50) {
      held.push(...await Promise.all(Array.from({ length: Math.min(50, idle - i) }, () => Session.open(srv.port))));
    }
    await sleep(1000);
    const rss1 = rssKb(srv.pid);
    const loaded = await probes(srv.port, ctx.sizes.probes);
    const json = {
      idle_sessions: idle, probes: ctx.sizes.probes,
      connect_to_status_ms: { idle_0: base, [`idle_${idle}`]: loaded },
      p99_ratio: ratio(loaded.p99, base.p99),
      rss_kb: { before: rss0, with_idle: rss1 },
      rss_per_idle_session_kb: round3((rss1 - rss0) / idle),
    };
    ctx.shared.rssPerIdleKb = json.rss_per_idle_session_kb;
    const rows = [{
      figure: `connect -> status p99 with ${idle} idle sessions (${ctx.sizes.probes} probes)`,
      value: `${loaded.p99} ms (p50 ${loaded.p50})`,
      baseline: `none idle ${base.p99} ms (p50 ${base.p50})`,
      diff: `x${json.p99_ratio}`,
      target: '',
      met: null,
    }, {
      figure: 'RSS per idle session',
      value: `${json.rss_per_idle_session_kb} KiB`,
      baseline: `server ${Math.round(rss0 / 1024)} MiB before`,
      diff: '',
      target: '',
      met: null,
    }];
    return { json, rows };
  } finally {
    for (let i = 0; i < held.length; i += 100) await Promise.all(held.slice(i, i + 100).map((s) => s.close()));
    await srv.stop();
    await fake.close();
  }
}
