// The Stats tab's charts as inline SVG: bars drawn from the numbers of GET /api/stats/charts, nothing else.
// No library and no network: each bar is a <g class="bar"> with its number in data-value (and a tooltip),
// so what a bar shows can be read back and checked against the API. Text goes in as text (textContent).
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 480, H = 210, LEFT = 46, RIGHT = 20, TOP = 10, BOTTOM = 38;

  function el(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function niceStep(raw) {  // the smallest of 1, 2, 5 × 10^k at least `raw`
    const power = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 5, 10]) if (m * power >= raw * (1 - 1e-9)) return m * power;
    return 10 * power;
  }

  function axisTop(max, whole) {  // a round top for the y axis, split in about 4 (whole: steps of at least 1)
    if (!(max > 0)) return whole ? {top: 1, step: 1} : {top: 1, step: 0.25};
    const step = whole ? Math.max(1, niceStep(max / 4)) : niceStep(max / 4);
    return {top: step * Math.ceil(max / step - 1e-9), step};
  }

  const r2 = (x) => Math.round(x * 100) / 100;

  // Vertical bars, one per bucket, each a stack of parts: {bars: [{parts: [{value, cls}], tip, data}],
  // ticks: [{at: boundary index 0..n, text}], format(value) for the y axis, whole: the numbers are counts,
  // label: what the chart shows.
  function bars(opts) {
    const n = opts.bars.length;
    const totals = opts.bars.map((b) => b.parts.reduce((s, p) => s + (p.value || 0), 0));
    const {top, step} = axisTop(Math.max(0, ...totals), opts.whole);
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const bw = plotW / Math.max(1, n);
    const y = (v) => TOP + plotH - (v / top) * plotH;
    const svg = el("svg", {class: `chart ${opts.cls || ""}`, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label,
                           preserveAspectRatio: "xMidYMid meet"});
    for (let v = 0; v <= top + step / 2; v += step) {
      svg.append(el("line", {class: "grid", x1: LEFT, x2: W - RIGHT, y1: r2(y(v)), y2: r2(y(v))}),
                 el("text", {class: "axis", x: LEFT - 6, y: r2(y(v) + 3), "text-anchor": "end"}, opts.format(v)));
    }
    opts.bars.forEach((b, i) => {
      const g = el("g", {class: "bar", "data-index": i, "data-value": totals[i]}, el("title", {}, b.tip));
      for (const [k, v] of Object.entries(b.data || {})) g.setAttribute(`data-${k}`, String(v));
      let base = 0;
      for (const p of b.parts) {
        const h = ((p.value || 0) / top) * plotH;
        g.append(el("rect", {class: p.cls, x: r2(LEFT + i * bw + bw * 0.1), width: r2(bw * 0.8),
                             y: r2(y(base + (p.value || 0))), height: r2(h), "data-value": p.value || 0}));
        base += p.value || 0;
      }
      svg.append(g);
    });
    svg.append(el("line", {class: "baseline", x1: LEFT, x2: W - RIGHT, y1: y(0), y2: y(0)}));
    for (const t of opts.ticks) {
      const anchor = t.at === 0 ? "start" : t.at === n ? "end" : "middle";  // the ends stay inside the frame
      svg.append(el("text", {class: "axis tick", x: r2(LEFT + t.at * bw), y: H - BOTTOM + 14, "text-anchor": anchor}, t.text));
    }
    if (opts.xLabel) svg.append(el("text", {class: "axis", x: LEFT + plotW / 2, y: H - 6, "text-anchor": "middle"}, opts.xLabel));
    return svg;
  }

  // Horizontal bars, one per row: {rows: [{label, value, cls, tip}], format}
  function rows(opts) {
    const ROW = 24, LABEL = 200, height = TOP + opts.rows.length * ROW + 8;
    const {top} = axisTop(Math.max(0, ...opts.rows.map((r) => r.value)), true);
    const plotW = W - LABEL - RIGHT - 30;
    const svg = el("svg", {class: `chart ${opts.cls || ""}`, viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": opts.label});
    opts.rows.forEach((r, i) => {
      const yTop = TOP + i * ROW;
      const w = (r.value / top) * plotW;
      const shown = r.label.length > 32 ? `${r.label.slice(0, 31)}…` : r.label;
      svg.append(el("g", {class: "bar", "data-index": i, "data-value": r.value, "data-label": r.label},
        el("title", {}, r.tip),
        el("text", {class: "row-label", x: LABEL - 8, y: yTop + 15, "text-anchor": "end"}, shown),
        el("rect", {class: r.cls, x: LABEL, y: yTop + 3, width: r2(w), height: ROW - 6, "data-value": r.value}),
        el("text", {class: "axis", x: r2(LABEL + w + 6), y: yTop + 15}, opts.format(r.value))));
    });
    return svg;
  }

  function ticksEvery(n, text) {  // about 6 labels on the x axis, at bucket boundaries 0..n
    const every = Math.max(1, Math.ceil((n + 1) / 6));
    const out = [];
    for (let i = 0; i <= n; i += every) out.push({at: i, text: text(i)});
    return out;
  }

  return {bars, rows, ticksEvery, niceStep};
})();
