// How images are shown: the blurhash placeholder first, the rendition on top once it loaded.

import { placeholder } from "./blurhash.js";
import { h } from "./dom.js";

/** The best rendition URL of `image` for `name` (thumb, small, medium, large) as WebP. */
export function renditionUrl(image, name, format = "webp") {
  const rendition = image.renditions?.[name];
  if (!rendition) return null;
  return format === "webp" ? rendition.url : rendition.url.replace(/\.webp$/, `.${format}`);
}

/**
 * A box showing one image: its blurhash until the rendition arrives, a note while the image is
 * still processing, or its failure.
 */
export function picture(image, { rendition = "thumb", alt = "", className = "thumb" } = {}) {
  const box = h("div", { class: `picture ${className}`, dataset: { imageId: image?.id ?? "", status: image?.status ?? "none" } });
  if (!image) {
    box.append(h("span", { class: "picture-note" }, "no image"));
    return box;
  }
  if (image.width && image.height) box.style.aspectRatio = `${image.width} / ${image.height}`;
  if (image.blurhash) {
    const ratio = image.width && image.height ? image.height / image.width : 1;
    const canvas = placeholder(image.blurhash, 32, Math.max(1, Math.round(32 * ratio)));
    if (canvas) box.append(canvas);
  }
  if (image.status === "processing") {
    box.append(h("span", { class: "picture-note" }, "processing…"));
    return box;
  }
  if (image.status === "failed") {
    box.append(h("span", { class: "picture-note failed", title: image.failure ?? "" }, "failed"));
    return box;
  }
  const src = renditionUrl(image, rendition);
  if (src) {
    const img = h("img", { src, alt, decoding: "async", loading: "lazy" });
    img.addEventListener("load", () => box.classList.add("loaded"), { once: true });
    box.append(img);
  }
  return box;
}
