// The AWS event stream (application/vnd.amazon.eventstream) encoder used by
// the fake Bedrock and the fuzz corpus generator: written from AWS's format
// description, independently of parley's C decoder.
//
//   message  = prelude (total u32 BE, headers length u32 BE, CRC32 of those 8)
//              headers, payload, CRC32 of everything before it (u32 BE)
//   header   = name length u8, name, type u8, value
//   types    0 true, 1 false, 2 byte, 3 short, 4 int, 5 long, 6 bytes (u16 len),
//            7 string (u16 len), 8 timestamp (i64 ms), 9 uuid (16 bytes)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32 (zlib's) of a Buffer. */
export function crc32(buf, crc = 0) {
  let c = ~crc >>> 0;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** One header: {name, type, value}; value by type (boolean types need none;
 *  numbers for 2-5, BigInt allowed for 5 and 8; Buffer/string for 6, 7, 9). */
function encodeHeader({ name, type, value }) {
  const n = Buffer.from(name);
  const parts = [Buffer.from([n.length]), n, Buffer.from([type])];
  const num = (bytes, v) => {
    const b = Buffer.alloc(bytes);
    if (bytes === 1) b.writeInt8(v);
    else if (bytes === 2) b.writeInt16BE(v);
    else if (bytes === 4) b.writeInt32BE(v);
    else b.writeBigInt64BE(BigInt(v));
    return b;
  };
  switch (type) {
    case 0: case 1: break;
    case 2: parts.push(num(1, value)); break;
    case 3: parts.push(num(2, value)); break;
    case 4: parts.push(num(4, value)); break;
    case 5: case 8: parts.push(num(8, value)); break;
    case 6: case 7: {
      const v = Buffer.from(value);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(v.length);
      parts.push(len, v);
      break;
    }
    case 9: parts.push(Buffer.from(value).subarray(0, 16)); break;
    default: throw new Error(`unknown header type ${type}`);
  }
  return Buffer.concat(parts);
}

/** A message from headers ({name: string} shorthand or [{name,type,value}])
 *  and a payload (Buffer, string or object -> JSON). */
export function encodeMessage(headers, payload) {
  const list = Array.isArray(headers)
    ? headers
    : Object.entries(headers).map(([name, value]) => ({ name, type: 7, value }));
  const h = Buffer.concat(list.map(encodeHeader));
  const p = Buffer.isBuffer(payload) ? payload
    : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload ?? {}));
  const total = 16 + h.length + p.length;
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(h.length, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  const body = Buffer.concat([prelude, h, p]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([body, crc]);
}

/** A Bedrock ConverseStream event (:message-type event). */
export function bedrockEvent(eventType, payload) {
  return encodeMessage({ ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' }, payload);
}

/** A Bedrock in-stream exception (:message-type exception). */
export function bedrockException(exceptionType, message) {
  return encodeMessage({ ':exception-type': exceptionType, ':content-type': 'application/json', ':message-type': 'exception' }, { message });
}
