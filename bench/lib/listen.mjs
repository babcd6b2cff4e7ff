// Step "listen": parley's listening CPU per talker against the raw decoder
// on the same audio, in the same run.
//
// Baseline: build/parley-decoder-bench (bench/decoder-cpu.c) decodes the
// librivox clips (16 kHz WAV) with parley's own decoder settings, just
// before and just after parley hears them; it counts the CPU spent inside
// the decoder calls only. Measured: the same clips at
// 48 kHz (sox), declared, streamed at real-time pace through one parley
// session, each followed by 1.5 s of silence so that it makes a turn; the
// server's whole CPU (all threads, /proc/PID/stat) from the first frame to
// the last final transcript, with one decoder (--stt-max 1, see below). The fake LLM answers with an emoji, which has
// nothing speakable, so no speech is synthesised: what is counted is
// listening (resampling, VAD, decoding, partial and final transcripts, the
// turn).
//
// A second reference, for reading the first: the same decoder fed the same
// files at real-time pace (--pace: 1 s pieces, each when its audio would
// have been spoken, a partial hypothesis after each), as a live talker's
// decoder is. Between pieces it sleeps and its caches go cold, which costs
// CPU that decoding a file in one go does not; most of what is left
// between this figure and parley's is parley's own path (parley's pieces
// are cut at pauses too, so they are shorter than 1 s on average).
import { spawnSync } from 'node:child_process';
import { sleep } from '../../tests/integration/harness.mjs';
import { wordErrors } from '../../tests/integration/audio.mjs';
import { Session, Streamer, script, silenceFrames } from './client.mjs';
import { RATE } from './audio.mjs';
import { startParley, startFakeLLM } from './server.mjs';
import { procCpuSeconds, cpuMeter, ratio, round3 } from './stats.mjs';

function werOf(pairs) {
  let errors = 0;
  let words = 0;
  for (const [ref, hyp] of pairs) {
    const e = wordErrors(ref, hyp || '');
    errors += e.errors;
    words += e.words;
  }
  return words ? round3(errors / words) : null;
}

export async function listen(ctx) {
  const all = ctx.audio.librivox;
  const clips = ctx.sizes.listenClips >= all.length ? all
    : [...all].sort((a, b) => a.seconds - b.seconds).slice(0, ctx.sizes.listenClips); // the shortest
  const passes = ctx.sizes.listenPasses;
  const order = Array.from({ length: passes }, () => clips).flat();

  // The floor: the raw decoder on the same recordings, just before and
  // just after parley hears them (the mean of the two is the baseline, so
  // a machine busier at one moment than the other shows as their spread).
  const decode = (opts = []) => {
    const dec = spawnSync(ctx.decoderBench, [...opts, ...order.map((c) => c.file)], { encoding: 'utf8', maxBuffer: 16 << 20 });
    if (dec.status !== 0) throw new Error(`${ctx.decoderBench} failed (${dec.status}): ${dec.stderr}`);
    return JSON.parse(dec.stdout);
  };
  const decoders = [decode()];

  const fake = await startFakeLLM({ answer: '\u{1F642}' });
  // One decoder, loaded before the measurement: with a spare (--stt-max
  // above 1) the pool would load another (0.3-0.4 CPU-s, once) the moment the
  // talker takes the warm one, inside the measured window; the raw decoder's
  // figure does not count loading its model either.
  const srv = await startParley(ctx, 'listen', ['--llm-url', fake.url, '--stt-warm', '1', '--stt-max', '1']);
  try {
    const s = await Session.open(srv.port, { config: { input_sample_rate: RATE, audio_out: 'binary' } });
    const finals = [];
    let lastFinal = 0;
    s.on('final_user_request', (m, now) => { finals.push(m.content); lastFinal = now; });

    // The idle server's own CPU over one second, for the reader.
    await sleep(300);
    let c0 = procCpuSeconds(srv.pid);
    const i0 = performance.now();
    await sleep(1000);
    const idleCores = (procCpuSeconds(srv.pid) - c0) / ((performance.now() - i0) / 1000);

    const segs = [{ frames: silenceFrames(RATE, 500) }];
    for (const c of order) segs.push({ frames: c.frames }, { frames: silenceFrames(RATE, 1500) });
    const meter = cpuMeter();
    const streamer = new Streamer();
    c0 = procCpuSeconds(srv.pid);
    const t0 = performance.now();
    await streamer.play(s, script(() => segs.shift() || null));
    for (let w = 0; w < 100 && finals.length < order.length; w++) await sleep(100);
    const wall = ((finals.length ? lastFinal : performance.now()) - t0) / 1000;
    const cpu = procCpuSeconds(srv.pid) - c0;
    const client = meter.stop();
    await s.close();
    decoders.push(decode());
    const paced = decode(['--pace', '--chunk-ms', '1000', '--partial-ms', '1000']);
    const decoder = { ...decoders[0], cpu_s: round3((decoders[0].cpu_s + decoders[1].cpu_s) / 2) };
    decoder.cpu_per_audio_s = round3(decoder.cpu_s / decoder.audio_s);

    const audio = order.reduce((a, c) => a + c.seconds, 0);
    const parleyPerAudio = cpu / decoder.audio_s;
    const json = {
      clips: clips.map((c) => c.id), passes,
      audio_s: round3(decoder.audio_s),
      decoder: { cpu_s: decoder.cpu_s, cpu_per_audio_s: decoder.cpu_per_audio_s, settings: decoder.settings,
                 runs_cpu_s: decoders.map((d) => d.cpu_s),
                 wer: werOf(order.map((c, i) => [c.text, decoder.files[i]?.hyp])) },
      decoder_paced: { cpu_s: paced.cpu_s, cpu_per_audio_s: round3(paced.cpu_s / paced.audio_s),
                       settings: paced.settings },
      parley: { cpu_s: round3(cpu), cpu_per_audio_s: round3(parleyPerAudio), wall_s: round3(wall),
                streamed_s: round3(audio), idle_cores: round3(idleCores), transcripts: finals.length,
                wer: werOf(order.map((c, i) => [c.text, finals[i]])) },
      ratio: ratio(parleyPerAudio, decoder.cpu_per_audio_s),
      ratio_paced: ratio(parleyPerAudio, paced.cpu_s / paced.audio_s),
      target_ratio: 1.15,
      client: { ...client, ...streamer.stats() },
    };
    const rows = [{
      figure: `listening CPU per talker (CPU s per audio s; ${json.audio_s} s of librivox)`,
      value: `parley ${json.parley.cpu_per_audio_s} (${json.parley.cpu_s} s)`,
      baseline: `raw decoder ${decoder.cpu_per_audio_s} (${decoder.cpu_s} s: ${decoders.map((d) => d.cpu_s).join(' before, ')} after)`,
      diff: `x${json.ratio}`,
      target: 'x1.15 or less',
      met: json.ratio != null && json.ratio <= 1.15,
    }, {
      figure: 'the same, against the decoder fed at real-time pace (1 s pieces)',
      value: `parley ${json.parley.cpu_per_audio_s}`,
      baseline: `raw decoder paced ${json.decoder_paced.cpu_per_audio_s} (${paced.cpu_s} s)`,
      diff: `x${json.ratio_paced}`,
      target: '',
      met: null,
    }, {
      figure: 'word error rate on the same clips',
      value: `parley ${pctStr(json.parley.wer)}`,
      baseline: `raw decoder ${pctStr(json.decoder.wer)}`,
      diff: '',
      target: '30% or less',
      met: json.parley.wer != null && json.parley.wer <= 0.30,
    }];
    return { json, rows };
  } finally {
    await srv.stop();
    await fake.close();
  }
}

const pctStr = (x) => (x == null ? '-' : `${(x * 100).toFixed(1)}%`);
