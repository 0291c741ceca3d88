// BlurHash decoding (https://blurha.sh, the algorithm of woltapp/blurhash): a few dozen
// characters from the read model become a blurred preview drawn on a canvas, shown while the
// thumbnail itself loads.

const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

function decode83(text) {
  let value = 0;
  for (const char of text) {
    const digit = DIGITS.indexOf(char);
    if (digit < 0) throw new Error(`not a blurhash character: ${char}`);
    value = value * 83 + digit;
  }
  return value;
}

const toLinear = (srgb) => {
  const v = srgb / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
};

const toSrgb = (linear) => {
  const v = Math.min(1, Math.max(0, linear));
  return Math.round((v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055) * 255);
};

const signedSquare = (v) => Math.sign(v) * v * v;

/** RGBA pixels (width × height) of the blurred image a hash describes; throws if malformed. */
export function decode(hash, width, height, punch = 1) {
  if (typeof hash !== "string" || hash.length < 6) throw new Error("blurhash too short");
  const size = decode83(hash[0]);
  const componentsX = (size % 9) + 1;
  const componentsY = Math.floor(size / 9) + 1;
  if (hash.length !== 4 + 2 * componentsX * componentsY) throw new Error("blurhash length mismatch");
  const maximum = ((decode83(hash[1]) + 1) / 166) * punch;

  const colors = [];
  const dc = decode83(hash.slice(2, 6));
  colors.push([toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]);
  for (let i = 1; i < componentsX * componentsY; i++) {
    const ac = decode83(hash.slice(4 + i * 2, 6 + i * 2));
    colors.push([
      signedSquare((Math.floor(ac / 361) - 9) / 9) * maximum,
      signedSquare(((Math.floor(ac / 19) % 19) - 9) / 9) * maximum,
      signedSquare(((ac % 19) - 9) / 9) * maximum,
    ]);
  }

  const pixels = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (let j = 0; j < componentsY; j++) {
        const cy = Math.cos((Math.PI * y * j) / height);
        for (let i = 0; i < componentsX; i++) {
          const basis = Math.cos((Math.PI * x * i) / width) * cy;
          const color = colors[i + j * componentsX];
          r += color[0] * basis;
          g += color[1] * basis;
          b += color[2] * basis;
        }
      }
      const at = 4 * (x + y * width);
      pixels[at] = toSrgb(r);
      pixels[at + 1] = toSrgb(g);
      pixels[at + 2] = toSrgb(b);
      pixels[at + 3] = 255;
    }
  }
  return pixels;
}

/** A small canvas painted with the hash, stretched by CSS to its box; null if malformed. */
export function placeholder(hash, width = 32, height = 32) {
  try {
    const pixels = decode(hash, width, height);
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.className = "blurhash";
    canvas.setAttribute("aria-hidden", "true");
    canvas.getContext("2d").putImageData(new ImageData(pixels, width, height), 0, 0);
    return canvas;
  } catch {
    return null;
  }
}
