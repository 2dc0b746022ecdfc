// The explorer page's one callback: redraw every view for the selected sequence.
// Arguments (Bokeh models and values) are named in rnnxbench/report/explorer_page.py.
function update() {
  const d = store.data;
  const sel = seqs.selected.indices;
  const k = sel.length ? sel[0] : 0;
  const x = Array.from(d.traj_x[k]);
  const y = Array.from(d.traj_y[k]);
  const dist = Array.from(d.dist[k]);
  const T = x.length;
  const steps = Array.from({length: T}, (_, i) => i + 1);
  const thr = slider.value;

  traj.data = {x: x, y: y, step: steps};
  const above = steps.filter((s) => dist[s - 1] > thr);
  jumps.data = {x: above.map((s) => x[s - 1]), y: above.map((s) => y[s - 1]),
                text: above.map((s) => "t=" + s)};
  span.location = thr;
  distances.data = {step: steps, dist: dist,
                    color: dist.map((v) => (v > thr ? "crimson" : "steelblue"))};

  input.data = {image: [d.input[k]]};
  for (let i = 0; i < names.length; i++) {
    rels[i].data = {image: [d["rel:" + names[i]][k]]};
    const scale = d["scale:" + names[i]][k];
    titles[i].text = scale > 0 ? names[i] + "  (colour: \u00b1" + scale.toExponential(2) + ")"
                               : names[i] + "  (all 0)";
  }
  const spans = d.gt_spans[k];
  gt.data = {left: spans.map((s) => s[0]), right: spans.map((s) => s[1]),
             top: spans.map(() => rows), bottom: spans.map(() => 0)};
  const lines = d.series[k];
  const D = lines.length;
  const lo = bounds[0], span_ = Math.max(bounds[1] - bounds[0], 1e-12);
  series.data = {
    xs: lines.map((v) => v.map((_, t) => t + 0.5)),
    ys: lines.map((v, i) => v.map((u) => D - 1 - i + 0.05 +
                                  0.9 * (Math.min(Math.max(u, lo), bounds[1]) - lo) / span_)),
  };

  const ep = d.expected[k];  // (C, T) row-major
  expected.data = {image: [ep]};
  const C = ep.shape ? ep.shape[0] : ep.length;
  const flat = ep.array ? ep.array : ep;
  const best = steps.map((s) => {
    let c = 0;
    for (let j = 1; j < C; j++) {
      if (flat[j * T + s - 1] > flat[c * T + s - 1]) { c = j; }
    }
    return c;
  });
  argmax.data = {x: steps, y: best};

  const p = points.data;
  p.color = colour.value === "true class" ? Array.from(p.color_label) : Array.from(p.color_ep);
  points.change.emit();

  const r = seqs.data;
  info.text = "<p><b>selected</b>: sequence " + r.sample[k] + " (row " + k + "), label " +
      r.label[k] + ", predicted " + r.predicted[k] + " with probability " +
      Number(r.confidence[k]).toFixed(3) + "; expected prediction by step: " +
      best.join(" ") + "</p>";
}
