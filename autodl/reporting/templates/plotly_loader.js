/* plotly.js, packed: LZMA ("lzma alone" format), 7 bits per character. Unpacked and run
   synchronously here, so the figure scripts after this one find Plotly defined, as with the
   plain bundle. Written after the LZMA SDK's public-domain reference decoder (LzmaSpec.cpp). */
(function (packed, size) {
  "use strict";
  /* 7-bit characters back to bytes: a character above 255 stands for the 7-bit value it
     minus 256 (the values a JavaScript string in HTML cannot hold: NUL, LF, CR, ", <, \). */
  var bytes = new Uint8Array(Math.floor(packed.length * 7 / 8));
  var acc = 0, bits = 0, n = 0;
  for (var i = 0; i < packed.length; i++) {
    var c = packed.charCodeAt(i);
    acc = ((acc << 7) | (c > 255 ? c - 256 : c)) & 0x7fff;
    bits += 7;
    if (bits >= 8) { bits -= 8; bytes[n++] = (acc >> bits) & 255; }
  }
  var inPos = 14, range = 0xffffffff, code = 0;  /* past the 13-byte header and the coder's 0 byte */
  var props = bytes[0], lc = props % 9, lp = Math.floor(props / 9) % 5, pb = Math.floor(props / 45);
  function probs(count) { var p = new Uint16Array(count); p.fill(1024); return p; }
  function normalize() {
    if (range < 0x1000000) { range = (range * 256) >>> 0; code = ((code * 256) + bytes[inPos++]) >>> 0; }
  }
  function bit(p, i) {
    var v = p[i], bound = (range >>> 11) * v, b;
    if (code < bound) { p[i] = v + ((2048 - v) >>> 5); range = bound; b = 0; }
    else { p[i] = v - (v >>> 5); code -= bound; range -= bound; b = 1; }
    normalize();
    return b;
  }
  function direct(count) {
    var result = 0;
    for (; count > 0; count--) {
      range = range >>> 1;
      if (code >= range) { code -= range; result = result * 2 + 1; } else { result = result * 2; }
      normalize();
    }
    return result;
  }
  function tree(p, base, count) {
    var m = 1;
    for (var k = 0; k < count; k++) { m = (m << 1) + bit(p, base + m); }
    return m - (1 << count);
  }
  function reverse(p, base, count) {
    var m = 1, symbol = 0;
    for (var k = 0; k < count; k++) { var b = bit(p, base + m); m = (m << 1) + b; symbol |= b << k; }
    return symbol;
  }
  function lengths() {
    return { choice: probs(2), low: probs(16 * 8), mid: probs(16 * 8), high: probs(256) };
  }
  function length(coder, posState) {
    if (bit(coder.choice, 0) === 0) { return tree(coder.low, posState * 8, 3); }
    if (bit(coder.choice, 1) === 0) { return 8 + tree(coder.mid, posState * 8, 3); }
    return 16 + tree(coder.high, 0, 8);
  }
  for (var j = 1; j < 5; j++) { code = ((code * 256) + bytes[inPos++]) >>> 0; }
  var out = new Uint8Array(size), pos = 0;
  var literals = probs(0x300 << (lc + lp)), isMatch = probs(192), isRep = probs(12), isRepG0 = probs(12);
  var isRepG1 = probs(12), isRepG2 = probs(12), isRep0Long = probs(192), posSlot = probs(4 * 64);
  var posCoders = probs(115), align = probs(16), lenCoder = lengths(), repLenCoder = lengths();
  var state = 0, rep0 = 0, rep1 = 0, rep2 = 0, rep3 = 0;
  var pbMask = (1 << pb) - 1, lpMask = (1 << lp) - 1;
  while (pos < size) {
    var posState = pos & pbMask, len;
    if (bit(isMatch, (state << 4) + posState) === 0) {
      var prev = pos > 0 ? out[pos - 1] : 0, symbol = 1;
      var base = 0x300 * (((pos & lpMask) << lc) + (prev >> (8 - lc)));
      if (state >= 7) {
        var matchByte = out[pos - rep0 - 1];
        do {
          var matchBit = (matchByte >> 7) & 1;
          matchByte <<= 1;
          var b = bit(literals, base + ((1 + matchBit) << 8) + symbol);
          symbol = (symbol << 1) | b;
          if (matchBit !== b) { break; }
        } while (symbol < 0x100);
      }
      while (symbol < 0x100) { symbol = (symbol << 1) | bit(literals, base + symbol); }
      out[pos++] = symbol - 0x100;
      state = state < 4 ? 0 : (state < 10 ? state - 3 : state - 6);
      continue;
    }
    if (bit(isRep, state) !== 0) {
      if (bit(isRepG0, state) === 0) {
        if (bit(isRep0Long, (state << 4) + posState) === 0) {
          state = state < 7 ? 9 : 11;
          out[pos] = out[pos - rep0 - 1];
          pos++;
          continue;
        }
      } else {
        var dist;
        if (bit(isRepG1, state) === 0) { dist = rep1; } else {
          if (bit(isRepG2, state) === 0) { dist = rep2; } else { dist = rep3; rep3 = rep2; }
          rep2 = rep1;
        }
        rep1 = rep0; rep0 = dist;
      }
      len = length(repLenCoder, posState);
      state = state < 7 ? 8 : 11;
    } else {
      rep3 = rep2; rep2 = rep1; rep1 = rep0;
      len = length(lenCoder, posState);
      state = state < 7 ? 7 : 10;
      var slot = tree(posSlot, (len < 3 ? len : 3) * 64, 6);
      if (slot < 4) { rep0 = slot; } else {
        var direct_bits = (slot >> 1) - 1, d = (2 | (slot & 1)) * Math.pow(2, direct_bits);
        if (slot < 14) { d += reverse(posCoders, d - slot, direct_bits); }
        else { d += direct(direct_bits - 4) * 16 + reverse(align, 0, 4); }
        rep0 = d;
      }
      if (rep0 >= pos) { break; }  /* the end marker (0xFFFFFFFF), or a damaged stream */
    }
    for (len += 2; len > 0 && pos < size; len--) { out[pos] = out[pos - rep0 - 1]; pos++; }
  }
  var script = document.createElement("script");
  script.text = new TextDecoder("utf-8").decode(out.subarray(0, pos));
  document.head.appendChild(script);
})("{{PACKED}}", {{SIZE}});
