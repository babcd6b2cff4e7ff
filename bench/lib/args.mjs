// Command-line options of the standalone bench tools (turn-end.mjs,
// listen-settings.mjs, voice-load.mjs): `--name value` pairs, bare flags,
// and --help printed from the tool's own header comment.
import fs from 'node:fs';

/** Options of `argv` (default: this process's). opt(name, def) is the value
 *  after `--name`, or def; flag(name) whether `--name` is present; rest the
 *  arguments after a lone `--`. */
export function options(argv = process.argv.slice(2)) {
  return {
    opt(name, def) {
      const i = argv.indexOf(`--${name}`);
      return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
    },
    flag(name) {
      return argv.includes(`--${name}`);
    },
    rest: argv.includes('--') ? argv.slice(argv.indexOf('--') + 1) : [],
  };
}

/** With --help: prints the `//` comment block at the top of the tool
 *  (moduleUrl: its import.meta.url), after the #! line, and exits 0. */
export function helpFromHeader(moduleUrl, argv = process.argv.slice(2)) {
  if (!argv.includes('--help')) return;
  const lines = [];
  for (const line of fs.readFileSync(new URL(moduleUrl), 'utf8').split('\n').slice(1)) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  console.log(lines.join('\n'));
  process.exit(0);
}
