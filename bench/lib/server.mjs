// Starting what a benchmark step measures: the real parley (through the
// integration tests' harness, so every server is killed if the bench dies),
// pinned to a core when asked, and the fake LLM it talks to. Also the file
// descriptor limit that 1,000 idle sessions need.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { startServer, waitReady, sanitizerReports } from '../../tests/integration/harness.mjs';
import { startFakeOpenAI } from '../../tests/fakes/fake-llm.mjs';

/** Pins every thread of process `pid` (and so the threads they create) to
 *  `cpus` ("0", "1", "0,1"); throws when taskset fails. */
export function pin(pid, cpus) {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpus), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid}: ${r.stderr || r.error}`);
}

/** The CPUs each thread of `pid` may run on, deduplicated ("0", or "0-1"). */
export function affinity(pid) {
  const set = new Set();
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      set.add(/Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))[1]);
    } catch { /* the thread ended */ }
  }
  return [...set].join(' ');
}

/** Raises this process's soft limit of open files to at least `want` (as far
 *  as the hard limit allows; children inherit it). Returns the new soft limit. */
export function raiseFdLimit(want) {
  const line = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  const soft = line[1] === 'unlimited' ? Infinity : Number(line[1]);
  const hard = line[2] === 'unlimited' ? Infinity : Number(line[2]);
  if (soft >= want) return soft;
  const target = Math.min(want, hard);
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${line[2]}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prlimit --nofile=${target}: ${r.stderr || r.error}`);
  return target;
}

/** A fake OpenAI-compatible LLM on loopback (tests/fakes/fake-llm.mjs). */
export function startFakeLLM(opts) {
  return startFakeOpenAI({ tokenDelayMs: 10, ...opts });
}

/**
 * Starts parley (ctx.bin) on 127.0.0.1:0 with `args`, waits until /readyz
 * answers 200, and pins it to `cpus` when given. Returns the harness's
 * server plus pid and a stop() that records how it ended in ctx.servers.
 */
export async function startParley(ctx, name, args, { cpus } = {}) {
  const srv = await startServer(['--turns-per-minute', '1000', ...args], {}, { timeoutMs: 30000 });
  if (cpus != null) pin(srv.proc.pid, cpus);
  await waitReady(srv.port, ctx.smoke ? 120000 : 60000);
  const stop = srv.stop;
  return {
    ...srv,
    pid: srv.proc.pid,
    affinity: () => affinity(srv.proc.pid),
    async stop() {
      const r = await stop('SIGTERM', { killAfterMs: 10000 });
      const reports = sanitizerReports(srv.stderr());
      ctx.servers.push({ name, exit_code: r.code, signal: r.signal, sanitizer_reports: reports.slice(0, 20) });
      return r;
    },
  };
}
