'use strict';
// The authenticator app's side of the test: RFC 6238 time-based codes (HMAC-SHA1,
// 30 s steps, 6 digits) from the base32 shared secret the engine shows, as Google
// Authenticator computes them. Test code only; the HMAC is node:crypto's.

const crypto = require('node:crypto');

const PERIOD_SECONDS = 30;
const DIGITS = 6;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// base32Decode decodes RFC 4648 base32 (upper or lower case, padding optional).
function base32Decode(text) {
  const clean = text.replace(/\s+/g, '').replace(/=+$/, '').toUpperCase();
  const out = [];
  let bits = 0;
  let acc = 0;
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 0xff);
    }
    acc &= (1 << bits) - 1; // keep only the bits not yet emitted
  }
  return Buffer.from(out);
}

// hotp is RFC 4226's HOTP value of counter for key, as a zero-padded string.
function hotp(key, counter) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** DIGITS).padStart(DIGITS, '0');
}

// stepAt is the 30 s time step of a Unix time in milliseconds.
function stepAt(ms = Date.now()) {
  return Math.floor(ms / 1000 / PERIOD_SECONDS);
}

// codeAt is the app's code for secret at a time step.
function codeAt(secret, step) {
  return hotp(base32Decode(secret), step);
}

// nextCode returns the code of the earliest time step after lastStep (the step of
// the last code the engine accepted for this secret; undefined if none) that the
// engine still accepts: the current step, or the next one, which the engine
// accepts too (it allows one step of clock drift either way). So a test never
// waits 30 s for a fresh code, but each secret yields at most two codes in a row
// within one step: a third would lie two steps ahead and be refused.
function nextCode(secret, lastStep) {
  const now = stepAt();
  const step = lastStep === undefined ? now : Math.max(now, lastStep + 1);
  if (step > now + 1) {
    throw new Error(`the next unused code (step ${step}) lies more than one step ahead of now (${now})`);
  }
  return { code: codeAt(secret, step), step };
}

module.exports = { base32Decode, hotp, stepAt, codeAt, nextCode, PERIOD_SECONDS };
