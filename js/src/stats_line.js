// The stats line under an answer (first token, tokens per second, tokens, request id), one
// for the stream pane and the Arena. Each part is its own inline block ending in the separator,
// so a narrow column wraps between parts and never starts a line with "·"; a part longer than
// the line (a long request id) still breaks inside itself.
import { h } from "./dom.js";

function statsParts(stats, requestId, countZeroTokens) {
  const parts = [];
  if (stats && stats.time_to_first_token != null) {
    parts.push(`first token ${stats.time_to_first_token.toFixed(2)} s`);
  }
  if (stats && stats.tokens_per_second != null) {
    parts.push(`${stats.tokens_per_second.toFixed(1)} tok/s`);
  }
  const tokens = stats ? stats.output_tokens : null;
  if (countZeroTokens ? tokens != null : tokens) parts.push(`${tokens} tokens`);
  if (requestId) parts.push(`request id ${requestId}`);
  return parts;
}

// Fill `el` with the parts; returns whether there was anything to show.
export function fillStats(el, stats, requestId, { countZeroTokens = false } = {}) {
  const parts = statsParts(stats, requestId, countZeroTokens);
  const nodes = [];
  parts.forEach((part, i) => {
    if (i) nodes.push(document.createTextNode(" "));
    nodes.push(h("span", "nvnb-stat", i < parts.length - 1 ? `${part} ·` : part));
  });
  el.replaceChildren(...nodes);
  return parts.length > 0;
}
