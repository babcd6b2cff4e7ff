// Writes the seed corpus of fuzz_eventstream (tests/fuzz/corpus/eventstream/):
//   node tests/fuzz/gen-eventstream-corpus.mjs
// Byte 0 of every input is the harness's control byte (see
// fuzz_eventstream.c): bit 0 picks the Bedrock stream parser (1) or the bare
// decoder (0), bit 1 repairs the CRCs, bits 2-7 give the chunk size.
const ctl = (bedrock, repair, chunk) => (bedrock ? 1 : 0) | (repair ? 2 : 0) | (chunk << 2);
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMessage, bedrockEvent, bedrockException } from '../fakes/eventstream.mjs';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus', 'eventstream');
mkdirSync(dir, { recursive: true });
const p = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0';

const answer = Buffer.concat([
  bedrockEvent('messageStart', { p, role: 'assistant' }),
  bedrockEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hello' }, p }),
  bedrockEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' there, caf\u00e9 \ud83d\ude00.' }, p }),
  bedrockEvent('contentBlockStop', { contentBlockIndex: 0, p }),
  bedrockEvent('messageStop', { p, stopReason: 'end_turn' }),
  bedrockEvent('metadata', { metrics: { latencyMs: 321 }, p, usage: { inputTokens: 12, outputTokens: 5, totalTokens: 17 } }),
]);
const allTypes = encodeMessage([
  { name: 't', type: 0 }, { name: 'f', type: 1 }, { name: 'b', type: 2, value: -5 },
  { name: 's', type: 3, value: 300 }, { name: 'i', type: 4, value: -70000 },
  { name: 'l', type: 5, value: 1n << 40n }, { name: 'by', type: 6, value: Buffer.from([0, 1, 2]) },
  { name: 'str', type: 7, value: 'x' }, { name: 'ts', type: 8, value: 1717000000000n },
  { name: 'u', type: 9, value: '0123456789abcdef' },
], 'payload');
const corrupt = Buffer.from(answer);
corrupt[40] ^= 0x10;

const seeds = {
  'bedrock-answer': [ctl(1, 0, 0), answer],
  'bedrock-answer-chunks-7': [ctl(1, 1, 7), answer],
  'bedrock-answer-bytewise': [ctl(1, 0, 1), answer],
  'bedrock-exception': [ctl(1, 1, 13), Buffer.concat([answer.subarray(0, 200), bedrockException('throttlingException', 'Too many requests, please wait before trying again.')])],
  'bedrock-error-message': [ctl(1, 1, 0), encodeMessage({ ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'boom' }, '')],
  'bedrock-reasoning-delta': [ctl(1, 1, 0), Buffer.concat([bedrockEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { text: 'hmm' } } }), bedrockEvent('messageStop', { stopReason: 'max_tokens' })])],
  'bedrock-not-json': [ctl(1, 1, 0), bedrockEvent('contentBlockDelta', 'not json')],
  'bedrock-corrupt-crc': [ctl(1, 0, 0), corrupt],
  'bedrock-truncated': [ctl(1, 0, 3), answer.subarray(0, answer.length - 3)],
  'decoder-all-header-types': [ctl(0, 1, 0), allTypes],
  'decoder-empty-message': [ctl(0, 0, 3), encodeMessage([], '')],
  'decoder-two-chunked': [ctl(0, 1, 5), Buffer.concat([allTypes, allTypes])],
};
for (const [name, [ctl, bytes]] of Object.entries(seeds)) {
  writeFileSync(path.join(dir, name), Buffer.concat([Buffer.from([ctl]), bytes]));
}
console.log(`wrote ${Object.keys(seeds).length} seeds to ${dir}`);
