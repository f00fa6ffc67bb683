'use strict';
// Draws captchas with npm generators for `python -m captcha_ocr.zoo` (see captcha_ocr/zoo/node.py).
//
// Reads one JSON job on stdin:
//   {"modules": "/abs/node_modules", "generator": "svg-captcha", "options": {...},
//    "items": [{"index": 0, "text": "ab12" or null, "seed": [u32, u32, u32, u32]}, ...]}
// and writes one JSON line per item on stdout, in order:
//   {"index": 0, "text": "ab12", "data": "<base64 image bytes>"}  or  {"index": 0, "error": "..."}
// A generator that cannot be loaded at all gives one line {"fatal": "..."} and exit status 3.
//
// Every random draw of the generators comes from Math.random or crypto.randomBytes. Both are
// replaced here by one small-fast-counter PRNG (sfc32) that is re-seeded from each item's seed
// before it is drawn, so item i of a job is the same bytes whatever else the job holds.

const crypto = require('crypto');
const path = require('path');
const { createRequire } = require('module');

let next = Math.random;

function sfc32(a, b, c, d) {
  return function () {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

function reseed(seed) {
  next = sfc32(seed[0], seed[1], seed[2], seed[3]);
  for (let i = 0; i < 12; i++) next(); // sfc32's first outputs follow the seed words closely
}

Math.random = () => next();

// Before any generator is required: trek-captcha and captcha-canvas keep a reference to it.
crypto.randomBytes = function randomBytes(size, callback) {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = Math.floor(next() * 256);
  if (typeof callback === 'function') {
    process.nextTick(callback, null, buf);
    return undefined;
  }
  return buf;
};

// One function per generator: (text, options) -> Promise<{text, data: Buffer}>.
const drawers = {
  'svg-captcha': (req) => {
    const svgCaptcha = req('svg-captcha');
    const { Resvg } = req('@resvg/resvg-js');
    return async (text, o) => {
      const svg = svgCaptcha(text, o.create);
      // A page shows the SVG over its own background; we rasterise it over o.page (white).
      const png = new Resvg(svg, { background: o.page, fitTo: { mode: 'original' } }).render().asPng();
      return { text, data: Buffer.from(png) };
    };
  },
  'trek-captcha': (req) => {
    const captcha = req('trek-captcha');
    return async (text, o) => {
      const { token, buffer } = await captcha({ size: o.size, style: o.style });
      return { text: token, data: buffer };
    };
  },
  captchapng: (req) => {
    const Captchapng = req('captchapng');
    return async (text, o) => {
      const p = new Captchapng(o.width, o.height, text);
      p.color(...o.background); // the first colour is the background, as in its README
      p.color(...o.paint);
      return { text, data: Buffer.from(p.getBase64(), 'base64') };
    };
  },
  'captcha-canvas': (req) => {
    const { CaptchaGenerator } = req('captcha-canvas');
    return async (text, o) => {
      const captcha = new CaptchaGenerator({ height: o.height, width: o.width });
      captcha.setCaptcha(Object.assign({}, o.captcha, { text }));
      if (o.trace) captcha.setTrace(o.trace);
      if (o.decoy) captcha.setDecoy(o.decoy);
      return { text: captcha.text, data: captcha.generateSync() };
    };
  },
};

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function write(line) {
  return new Promise((resolve) => {
    if (process.stdout.write(JSON.stringify(line) + '\n')) resolve();
    else process.stdout.once('drain', resolve);
  });
}

async function main() {
  const job = JSON.parse(await readStdin());
  let draw;
  try {
    const make = drawers[job.generator];
    if (!make) throw new Error(`unknown generator ${job.generator}`);
    draw = make(createRequire(path.join(job.modules, '..', 'index.js')));
  } catch (err) {
    await write({ fatal: String(err && err.message ? err.message : err).split('\n')[0] });
    process.exit(3);
  }
  for (const item of job.items) {
    reseed(item.seed);
    try {
      const { text, data } = await draw(item.text, job.options);
      await write({ index: item.index, text, data: data.toString('base64') });
    } catch (err) {
      await write({ index: item.index, error: String(err && err.message ? err.message : err).split('\n')[0] });
    }
  }
}

main();
