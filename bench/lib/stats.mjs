// Small statistics and /proc readings for the benchmark (bench/bench.mjs).
import fs from 'node:fs';

/** The p-th percentile (nearest rank) of xs; null when xs is empty. */
export function pct(xs, p) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** {n, p50, p95, p99, max} of xs (ms), rounded to 0.1. */
export function summary(xs) {
  const r = (x) => (x == null ? null : Math.round(x * 10) / 10);
  const v = xs.filter((x) => Number.isFinite(x));
  return { n: v.length, p50: r(pct(v, 50)), p95: r(pct(v, 95)), p99: r(pct(v, 99)), max: r(v.length ? Math.max(...v) : null) };
}

/** a - b, or null when either is missing. */
export const minus = (a, b) => (a == null || b == null ? null : Math.round((a - b) * 10) / 10);

/** a / b, or null. */
export const ratio = (a, b) => (a == null || b == null || b === 0 ? null : Math.round((a / b) * 1000) / 1000);

// Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ): 100
// on every Linux architecture parley builds on.
const USER_HZ = 100;

/** CPU seconds (user + system, all threads) a process has used so far. */
export function procCpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / USER_HZ; // fields 14, 15: utime, stime
}

/** Seconds CPU `cpu` has been busy (not idle or waiting for I/O) since boot
 *  (/proc/stat), for telling what else ran on a pinned server's core. */
export function cpuBusySeconds(cpu) {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / USER_HZ;
}

/** Resident memory of a process, in KiB (VmRSS). */
export function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/** This process's CPU seconds (user + system) so far. */
export function selfCpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Measures this process's CPU over an interval: const m = cpuMeter(); ...; m.stop() ->
 *  {cpu_s, wall_s, cores}. */
export function cpuMeter() {
  const c0 = selfCpuSeconds();
  const t0 = performance.now();
  return {
    stop() {
      const cpu = selfCpuSeconds() - c0;
      const wall = (performance.now() - t0) / 1000;
      return { cpu_s: round3(cpu), wall_s: round3(wall), cores: round3(wall > 0 ? cpu / wall : 0) };
    },
  };
}

export const round3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
