// Checks, in the browser and with its own WebCrypto, that the access-log
// entries on the page are in the log custosd signed: the checkpoint's Ed25519
// signature (C2SP signed-note), each entry's RFC 9162 inclusion proof, and an
// RFC 9162 consistency proof from the last checkpoint this browser saw
// (kept in localStorage). Byte layouts: audit/FORMAT.md.
'use strict';

const subtle = window.crypto.subtle;
const enc = new TextEncoder();

function b64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toB64(bytes) {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function sha256(bytes) {
  return new Uint8Array(await subtle.digest('SHA-256', bytes));
}

const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

// RFC 9162 §2.1.3.2.
async function verifyInclusion(index, size, leaf, path, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

// RFC 9162 §2.1.4.2.
async function verifyConsistency(first, second, firstHash, secondHash, path) {
  if (first > second) return false;
  if (first === second) return path.length === 0 && equal(firstHash, secondHash);
  if (first === 0) return path.length === 0;
  let proof = path.slice();
  if ((first & (first - 1)) === 0) proof.unshift(firstHash);
  if (proof.length === 0) return false;
  let fn = first - 1, sn = second - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = proof[0], sr = proof[0];
  for (const c of proof.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(fr, firstHash) && equal(sr, secondHash);
}

// Verifies a signed checkpoint note against a verifier key; returns
// {origin, size, root} or throws saying what is wrong.
async function verifyCheckpoint(note, verifierKey) {
  // Base64 may itself hold '+': only the first two separate the parts.
  const first = verifierKey.indexOf('+');
  const second = verifierKey.indexOf('+', first + 1);
  if (first < 0 || second < 0) throw new Error('verifier key is not name+id+key');
  const name = verifierKey.slice(0, first);
  const keyIdHex = verifierKey.slice(first + 1, second);
  const keyB64 = verifierKey.slice(second + 1);
  const key = b64(keyB64);
  if (key.length !== 33 || key[0] !== 1) throw new Error('verifier key is not Ed25519');
  const pub = key.slice(1);
  const keyId = (await sha256(concat(enc.encode(name), Uint8Array.of(0x0a), key))).slice(0, 4);
  if (Array.from(keyId, (b) => b.toString(16).padStart(2, '0')).join('') !== keyIdHex) {
    throw new Error('verifier key id does not match its key');
  }
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('checkpoint has no signature block');
  const text = note.slice(0, split + 1);
  const lines = text.split('\n');
  if (lines.length < 4) throw new Error('checkpoint text too short');
  const [origin, sizeText, rootText] = lines;
  if (origin !== name) throw new Error(`checkpoint origin ${origin} is not ${name}`);
  const signer = await subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
  for (const line of note.slice(split + 2).split('\n')) {
    const prefix = `\u2014 ${name} `;
    if (!line.startsWith(prefix)) continue;
    const sig = b64(line.slice(prefix.length));
    if (sig.length !== 68 || !equal(sig.slice(0, 4), keyId)) continue;
    if (await subtle.verify({ name: 'Ed25519' }, signer, sig.slice(4), enc.encode(text))) {
      return { origin, size: Number(sizeText), root: b64(rootText) };
    }
  }
  throw new Error('no valid signature by the verifier key');
}

function report(ok, text) {
  const li = document.createElement('li');
  li.className = ok ? 'ok' : 'bad';
  li.textContent = (ok ? '✓ ' : '✗ ') + text;
  document.getElementById('verify-results').appendChild(li);
  return ok;
}

async function run() {
  const summary = document.getElementById('verify-summary');
  const indices = document.getElementById('verify').dataset.indices;
  const storeKey = 'custos-last-checkpoint';
  const seen = JSON.parse(localStorage.getItem(storeKey) || 'null');
  const query = new URLSearchParams({ indices });
  if (seen) query.set('old_size', String(seen.size));
  let all = true;
  try {
    const res = await fetch(`/portal/proofs.json?${query}`, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`proofs: HTTP ${res.status}`);
    const proofs = await res.json();
    if (seen && seen.verifierKey !== proofs.verifier_key) {
      all = report(false, 'the log\'s verifier key changed since this browser last checked') && all;
    }
    const cp = await verifyCheckpoint(proofs.checkpoint, proofs.verifier_key);
    report(true, `checkpoint of ${cp.size} entries signed by ${proofs.verifier_key}`);
    const proven = new Set();
    for (const e of proofs.entries) {
      const ok = await verifyInclusion(e.index, cp.size, await leafHash(b64(e.entry)),
                                       e.hashes.map(b64), cp.root);
      if (ok) proven.add(e.index);
      all = report(ok, `entry #${e.index} is in the log`) && all;
    }
    // Every entry on the page, not only those the server chose to prove.
    for (const index of indices.split(',').filter((i) => i !== '').map(Number)) {
      if (!proven.has(index)) {
        all = report(false, `entry #${index}: no proof against the checkpoint of ${cp.size} entries`) && all;
      }
    }
    if (seen) {
      const ok = seen.size <= cp.size && proofs.consistency !== undefined &&
          await verifyConsistency(seen.size, cp.size, b64(seen.root), cp.root,
                                  proofs.consistency.hashes.map(b64));
      all = report(ok, `the log of ${cp.size} entries extends the one of ${seen.size} this browser saw before`) && all;
    } else {
      report(true, 'first visit: this checkpoint is kept to check the next one against');
    }
    if (all) {
      localStorage.setItem(storeKey, JSON.stringify(
          { size: cp.size, root: toB64(cp.root), verifierKey: proofs.verifier_key }));
    }
  } catch (err) {
    all = report(false, err.message);
  }
  summary.dataset.verified = all ? 'true' : 'false';
  summary.textContent = all ? 'Verified in this browser.' : 'NOT verified.';
  summary.className = all ? 'ok' : 'bad';
}

document.addEventListener('DOMContentLoaded', run);
