// The latent explorer's scatter: draws a map (the JSON that explorer/latents.py builds) with
// plotly.js, shows the digit under the pointer from a sprite sheet, and reports clicks and lasso or
// box selections. Used by the app's gr.HTML and, inlined, by the exported standalone page.
(function () {
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const TWO = ["#2b83ba", "#d7191c"]; // correct, wrong
  const TILE = 28, ZOOM = 3; // sprite tiles are 28x28 MNIST digits, shown 3x in the tooltip

  function tooltip(el, data, i) {
    let tip = el.querySelector(".lm-tip");
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "lm-tip";
      tip.style.cssText = "position:fixed;z-index:1000;pointer-events:none;display:none;background:#111;color:#fff;" +
        "padding:4px;border-radius:4px;font:12px sans-serif;text-align:center";
      // colours on the children themselves: the page's own stylesheet (Gradio's) sets a text colour on
      // divs, which would win over one inherited from the tip and leave grey text on black
      tip.innerHTML = '<div class="lm-digit" style="image-rendering:pixelated;background-repeat:no-repeat;margin:0 auto"></div>' +
        '<div class="lm-text" style="color:#fff;white-space:nowrap"></div>';
      el.appendChild(tip);
    }
    if (i === null) { tip.style.display = "none"; return; }
    // points 0..n_test-1 are test digits on the first sheet; the training digits that follow (in a
    // map of all digits) fill one sheet per sprite_block of them
    const train = i >= data.n_test, k = train ? i - data.n_test : i;
    const sheet = train ? 1 + Math.floor(k / data.sprite_block) : 0, j = train ? k % data.sprite_block : k;
    const cols = data.sprite_columns, d = tip.querySelector(".lm-digit"), s = TILE * ZOOM;
    d.style.width = d.style.height = s + "px";
    d.style.backgroundImage = "url(" + data.sprites[sheet] + ")";
    d.style.backgroundSize = (cols * s) + "px auto";
    d.style.backgroundPosition = (-(j % cols) * s) + "px " + (-Math.floor(j / cols) * s) + "px";
    tip.querySelector(".lm-text").textContent = (train ? "train #" + k : "#" + i) + "  digit " + data.label[i] + "  pred " + data.pred[i] +
      (data.v ? "  score " + data.v[i].toFixed(3) : "");
    const [x, y] = el._lmMouse || [0, 0];
    tip.style.left = (x + 14) + "px";
    tip.style.top = (y + 14) + "px";
    tip.style.display = "block";
  }

  function traces(data) {
    const three = data.dim === 3, colours = data.legend.length === 2 ? TWO : PALETTE, out = [];
    if (data.v) { // a continuous score: every point in one trace, coloured on a scale with its bar
      // the highest scores are drawn last, on top: the few suspects are not buried under the many
      const all = data.x.map((_, i) => i).sort((a, b) => data.v[a] - data.v[b]), t = {
        type: three ? "scatter3d" : "scattergl", mode: "markers", name: data.legend_title, customdata: all,
        x: all.map(i => data.x[i]), y: all.map(i => data.y[i]), hoverinfo: "none", showlegend: false,
        marker: {size: three ? 2 : (data.x.length > 20000 ? 2.5 : 4), color: all.map(i => data.v[i]), colorscale: "Viridis",
          showscale: true, colorbar: {title: {text: data.legend_title, side: "right"}, thickness: 12},
          opacity: data.x.length > 20000 ? 0.6 : 0.8},
      };
      if (three) t.z = all.map(i => data.z[i]);
      out.push(t);
    }
    data.legend.forEach((name, k) => {
      const idx = [];
      for (let i = 0; i < data.c.length; i++) if (data.c[i] === k) idx.push(i);
      const t = {
        type: three ? "scatter3d" : "scattergl", mode: "markers", name: name, customdata: idx,
        x: idx.map(i => data.x[i]), y: idx.map(i => data.y[i]), hoverinfo: "none",
        // 70,000 points need smaller, lighter markers than 10,000 to stay readable
        marker: {size: three ? 2 : (data.c.length > 20000 ? 2.5 : 4), color: colours[k % colours.length],
          opacity: data.c.length > 20000 ? 0.6 : 0.75},
      };
      if (three) t.z = idx.map(i => data.z[i]);
      out.push(t);
    });
    const ov = data.overlay || {};
    const mark = (name, pts, symbol, size, colour) => {
      const t = {type: three ? "scatter3d" : "scattergl", mode: "markers", name: name, hoverinfo: "none",
        customdata: pts.map(p => p.index === undefined ? null : p.index), x: pts.map(p => p.x), y: pts.map(p => p.y),
        marker: {size: size, symbol: symbol, color: colour, line: {width: 2, color: "#000"}}};
      if (three) t.z = pts.map(p => p.z);
      out.push(t);
    };
    if (ov.neighbours && ov.neighbours.length) mark("neighbours", ov.neighbours, "circle-open", three ? 5 : 12, "#000");
    if (ov.point) mark("selected point", [ov.point], three ? "diamond" : "star", three ? 6 : 18, "#ffd400");
    if (ov.drawn) mark("your digit", [ov.drawn], three ? "cross" : "x", three ? 7 : 20, "#ff00ff");
    // last: the digits pointed at or selected in another map on the page (linked brushing), filled by link()
    out.push({type: three ? "scatter3d" : "scattergl", mode: "markers", name: "linked", showlegend: false,
      hoverinfo: "none", customdata: [], x: [], y: [], ...(three ? {z: []} : {}),
      marker: {size: three ? 6 : 14, symbol: "circle-open", color: "#e11d48", line: {width: 3, color: "#e11d48"}}});
    return out;
  }

  // every map drawn on the page: pointing at or selecting digits in one marks the same digits in the
  // others (the same index is the same digit in every model's map), and the legend's toggles follow
  const maps = new Set();
  let syncing = false;

  function others(el) {
    return [...maps].filter(o => o !== el && o.isConnected && o._lmData && o.data);
  }

  let pointed = null; // {from: a map, ids}: the digits a map points at, which the others ring

  function mark(o, ids) {
    const d = o._lmData, keep = ids.filter(i => i < d.x.length), k = o.data.length - 1;
    const update = {customdata: [keep], x: [keep.map(i => d.x[i])], y: [keep.map(i => d.y[i])]};
    if (d.dim === 3) update.z = [keep.map(i => d.z[i])];
    Plotly.restyle(o, update, [k]);
  }

  function link(el, ids) {
    pointed = {from: el, ids: ids};
    for (const o of others(el)) mark(o, ids);
  }



  // ---- find and filter -----------------------------------------------------------------------------
  // A bar above the map: show only a true digit, a predicted digit, the wrong predictions or the
  // points scoring at least a threshold (the other points fade, and say how many are shown), jump to
  // a digit by its index (it opens in the inspector), and a density layer under the points, which
  // makes the dense regions of a map of 70,000 digits read as dense.
  const FADED = 0.06;

  // a bar of controls the map keeps beside its plot (above or below it), made once per map
  function controlBar(el, key, className, css, below) {
    if (el[key] && el[key].isConnected) return null;
    const b = document.createElement("div");
    b.className = className;
    b.style.cssText = css + ";font:13px sans-serif";
    el.parentNode.insertBefore(b, below ? el.nextSibling : el);
    el[key] = b;
    return b;
  }

  function filterBar(el) {
    const bar = controlBar(el, "_lmFilter", "lm-filter", "display:flex;flex-wrap:wrap;gap:4px 10px;align-items:center;padding:2px 6px");
    if (!bar) return el._lmFilter;
    // compact controls whatever the page's stylesheet gives form elements (Gradio's are tall)
    const box = "height:24px;padding:0 4px;font-size:13px;border:1px solid #aaa;border-radius:4px;box-sizing:border-box";
    const digits = '<option value="">any</option>' + [...Array(10).keys()].map(d => `<option>${d}</option>`).join("");
    bar.innerHTML =
      `<label>digit <select class="lm-f-label" style="${box};width:4.5em">${digits}</select></label>` +
      `<label>predicted <select class="lm-f-pred" style="${box};width:4.5em">${digits}</select></label>` +
      '<label><input type="checkbox" class="lm-f-wrong"> wrong only</label>' +
      `<label class="lm-f-score-box" style="display:none">score &ge; <input type="number" class="lm-f-score" step="any" style="${box};width:5.5em"></label>` +
      '<label><input type="checkbox" class="lm-f-density"> density</label>' +
      `<label>go to # <input type="number" class="lm-f-jump" min="0" step="1" style="${box};width:6em" aria-label="Go to point index"></label>` +
      '<span class="lm-f-count" style="color:#666"></span>';
    bar.querySelectorAll("select, input[type=checkbox], .lm-f-score").forEach(c => c.addEventListener("change", () => applyFilter(el)));
    bar.querySelector(".lm-f-jump").addEventListener("keydown", e => {
      if (e.key !== "Enter") return;
      const i = parseInt(e.target.value, 10), d = el._lmData;
      if (!d) return; // the first drawing: the map answers once plotly has drawn it
      if (!(i >= 0 && i < d.x.length)) { bar.querySelector(".lm-f-count").textContent = "no point #" + e.target.value; return; }
      if (el._lmHandlers.pick) el._lmHandlers.pick(i);
    });
    return bar;
  }

  // which points pass the filters (null: all of them)
  function kept(el) {
    const bar = el._lmFilter, d = el._lmData;
    if (!bar) return null;
    const label = bar.querySelector(".lm-f-label").value, pred = bar.querySelector(".lm-f-pred").value;
    const wrong = bar.querySelector(".lm-f-wrong").checked, score = bar.querySelector(".lm-f-score").value;
    const min = d.v && score !== "" ? +score : null;
    if (label === "" && pred === "" && !wrong && min === null) return null;
    const keep = new Uint8Array(d.x.length);
    for (let i = 0; i < keep.length; i++) {
      keep[i] = (label === "" || d.label[i] === +label) && (pred === "" || d.pred[i] === +pred) &&
        (!wrong || d.pred[i] !== d.label[i]) && (min === null || d.v[i] >= min) ? 1 : 0;
    }
    return keep;
  }

  function applyFilter(el) {
    const bar = el._lmFilter, d = el._lmData;
    if (!bar || !el.data) return;
    bar.querySelector(".lm-f-score-box").style.display = d.v ? "" : "none";
    const keep = kept(el);
    el._lmKeep = keep;
    const shown = keep ? keep.reduce((s, k) => s + k, 0) : d.x.length;
    bar.querySelector(".lm-f-count").textContent = shown.toLocaleString() + " of " + d.x.length.toLocaleString() + " shown";
    const ks = [], sel = [];
    el.data.forEach((t, k) => {
      if (!t.customdata || ["neighbours", "selected point", "your digit", "linked", "density"].includes(t.name)) return;
      ks.push(k);
      sel.push(keep ? t.customdata.map((i, m) => keep[i] ? m : -1).filter(m => m >= 0) : null);
    });
    if (ks.length && (keep || el._lmFaded)) { // a map drawn afresh has nothing faded: no restyle then
      Plotly.restyle(el, {selectedpoints: sel, "unselected.marker.opacity": ks.map(() => FADED)}, ks);
    }
    el._lmFaded = !!keep;
    density(el);
  }

  // a filled 2-d histogram's contours of the points shown, under them (2-d maps only)
  function density(el) {
    const bar = el._lmFilter, d = el._lmData;
    if (!bar || !el.data || d.dim === 3) return;
    const on = bar.querySelector(".lm-f-density").checked, k = el.data.findIndex(t => t.name === "density");
    if (k >= 0) Plotly.deleteTraces(el, k);
    if (!on) return;
    const keep = el._lmKeep, xs = [], ys = [];
    for (let i = 0; i < d.x.length; i++) if (!keep || keep[i]) { xs.push(d.x[i]); ys.push(d.y[i]); }
    Plotly.addTraces(el, {type: "histogram2dcontour", name: "density", x: xs, y: ys, showscale: false, hoverinfo: "skip",
      colorscale: [[0, "rgba(255,255,255,0)"], [1, "rgba(40,40,40,0.55)"]], ncontours: 12,
      contours: {coloring: "fill", showlines: false}, showlegend: false}, 0);
  }

  // ---- a training film ---------------------------------------------------------------------------
  // The frames come once per film as int16 (frames, points, 2) over the film's box; the page moves
  // the points itself. While playing or scrubbing, frames are painted on a 2-d canvas over the plot
  // with plotly's WebGL layer hidden (in a browser without a GPU every WebGL frame is read back for
  // the compositor, which caps a restyle per frame at a few frames a second); when the film stops,
  // one restyle puts the points where the frame has them, so hover, click and lasso read that frame.
  const FILM_FPS = 5; // film frames per second while playing (the screen interpolates between them)
  const filmFiles = new Map(); // url -> Promise of Int16Array

  function filmFrames(url) {
    if (!filmFiles.has(url)) {
      filmFiles.set(url, fetch(url).then(r => {
        if (!r.ok) throw new Error("film " + r.status);
        return r.arrayBuffer();
      }).then(b => new Int16Array(b)));
    }
    return filmFiles.get(url);
  }

  // every point's position at (fractional) frame t, into xs and ys: the one place that reads frames
  function filmAt(el, t, xs, ys) {
    const f = el._lmFilm, q = el._lmFrames, n = f.points, b = f.box;
    const a = Math.max(0, Math.min(f.frames - 1, Math.floor(t))), c = Math.min(a + 1, f.frames - 1), w = t - a;
    const sx = (b[1] - b[0]) / 65534, sy = (b[3] - b[2]) / 65534, oa = 2 * a * n, oc = 2 * c * n;
    for (let i = 0; i < n; i++) {
      const qx = w ? q[oa + 2 * i] * (1 - w) + q[oc + 2 * i] * w : q[oa + 2 * i];
      const qy = w ? q[oa + 2 * i + 1] * (1 - w) + q[oc + 2 * i + 1] * w : q[oa + 2 * i + 1];
      xs[i] = b[0] + (qx + 32767) * sx;
      ys[i] = b[2] + (qy + 32767) * sy;
    }
  }

  const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

  // each drawn trace (plotly's, or traces() not yet drawn) as [colour, opacity, point indices]
  // groups, for the canvas
  function paintGroups(ts) {
    const groups = [];
    ts.forEach(t => {
      if (t.visible === false || t.visible === "legendonly" || !t.customdata || !t.customdata.length) return;
      if (["neighbours", "selected point", "your digit", "linked"].includes(t.name)) return;
      const m = t.marker || {}, op = m.opacity === undefined ? 1 : m.opacity;
      if (Array.isArray(m.color)) { // a score on a colour scale: ten bins of viridis
        let lo = Infinity, hi = -Infinity;
        m.color.forEach(v => { lo = Math.min(lo, v); hi = Math.max(hi, v); });
        const bins = VIRIDIS.map(() => []);
        t.customdata.forEach((i, k) => bins[Math.min(9, Math.floor(10 * (m.color[k] - lo) / ((hi - lo) || 1)))].push(i));
        bins.forEach((idx, k) => groups.push([VIRIDIS[k], op, idx]));
      } else groups.push([m.color, op, t.customdata]);
    });
    return groups;
  }

  function canvasOf(el, cls) {
    cls = cls || "lm-film";
    let cv = el.querySelector("canvas." + cls);
    if (!cv) {
      cv = document.createElement("canvas");
      cv.className = cls;
      cv.style.cssText = "position:absolute;left:0;top:0;pointer-events:none;z-index:5;display:none";
      el.style.position = "relative";
      el.appendChild(cv);
    }
    return cv;
  }

  // a colour as one little-endian RGBA pixel, blended onto the page's white at opacity `op`
  function pixel(colour, op) {
    const c = colour.startsWith("#") ? colour : "#7f7f7f";
    const ch = k => Math.round(255 - op * (255 - parseInt(c.slice(k, k + 2), 16)));
    return (255 << 24 | ch(5) << 16 | ch(3) << 8 | ch(1)) >>> 0;
  }

  // points written straight into the pixels of a canvas covering a w x h px box (a few squares each;
  // drawing them one by one through the 2-d context costs several times as much). Point i is at
  // px = a[0] * xs[i] + a[1], py = a[2] * ys[i] + a[3] in CSS pixels, clipped to the plot area
  // `area` [left, right, top, bottom]; `keep` fades the points filtered out. The 2-d context comes
  // back in CSS pixels, for marks drawn over the points.
  function paintPoints(cv, w, h, xs, ys, groups, keep, big, a, area) {
    const dpr = window.devicePixelRatio || 1, W = Math.round(w * dpr), H = Math.round(h * dpr);
    if (cv.width !== W || cv.height !== H) {
      cv.width = W; cv.height = H;
      cv.style.width = w + "px"; cv.style.height = h + "px";
    }
    const ctx = cv.getContext("2d");
    if (!cv._img || cv._img.width !== W || cv._img.height !== H) cv._img = ctx.createImageData(W, H);
    const img = cv._img, buf = new Uint32Array(img.data.buffer);
    buf.fill(0);
    const ax = a[0] * dpr, bx = a[1] * dpr, ay = a[2] * dpr, by = a[3] * dpr;
    const x0 = Math.max(0, Math.floor(area[0] * dpr)), x1 = Math.min(W, Math.ceil(area[1] * dpr));
    const y0 = Math.max(0, Math.floor(area[2] * dpr)), y1 = Math.min(H, Math.ceil(area[3] * dpr));
    const r = Math.max(1, Math.round((big ? 1.2 : 2) * dpr));
    for (const [colour, op, idx] of groups) {
      // plotly blends each marker over those below it, so a map's dense parts take about two
      // markers' worth of colour; one square each here takes that
      const on = pixel(colour, 1 - (1 - op) ** 2), off = pixel(colour, FADED);
      for (const i of idx) {
        const px = Math.round(ax * xs[i] + bx) - r, py = Math.round(ay * ys[i] + by) - r, v = keep && !keep[i] ? off : on;
        for (let y = Math.max(py, y0); y < Math.min(py + 2 * r, y1); y++) {
          const row = y * W;
          for (let x = Math.max(px, x0); x < Math.min(px + 2 * r, x1); x++) buf[row + x] = v;
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  // one frame painted on the canvas (plotly's layer hidden), then the marks of the overlay
  function paint(el, t) {
    const f = el._lmFilm, n = f.points;
    el._lmPaints = (el._lmPaints || 0) + 1; // counted by benchmarks/explorer_browser.py
    if (!el._lmXs || el._lmXs.length !== n) { el._lmXs = new Float32Array(n); el._lmYs = new Float32Array(n); }
    const xs = el._lmXs, ys = el._lmYs, fl = el._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
    filmAt(el, t, xs, ys);
    // plotly's linear axes: screen = _offset + _m * value + _b; the plot area clips
    const ctx = paintPoints(canvasOf(el), el.clientWidth, el.clientHeight, xs, ys, el._lmGroups, el._lmKeep,
      el._lmData.x.length > 20000, [xa._m, xa._offset + xa._b, ya._m, ya._offset + ya._b],
      [xa._offset, xa._offset + xa._length, ya._offset, ya._offset + ya._length]);
    const sx = i => xa._offset + xa.l2p(xs[i]), sy = i => ya._offset + ya.l2p(ys[i]);
    const ring = (i, rad, colour, width) => {
      ctx.beginPath(); ctx.arc(sx(i), sy(i), rad, 0, 2 * Math.PI); ctx.lineWidth = width; ctx.strokeStyle = colour; ctx.stroke();
    };
    const ov = el._lmData.overlay || {};
    (ov.neighbours || []).forEach(p => ring(p.index, 6, "#000", 2));
    if (ov.point) { ring(ov.point.index, 8, "#000", 4); ring(ov.point.index, 8, "#ffd400", 2); }
    const linked = el.data[el.data.length - 1];
    (linked && linked.customdata || []).forEach(i => ring(i, 7, "#e11d48", 3));
  }

  function glShown(el, on) {
    el.querySelectorAll(".gl-container").forEach(g => { g.style.visibility = on ? "" : "hidden"; });
    canvasOf(el).style.display = on ? "none" : "block";
  }

  // the film comes to rest on frame k: the data, every trace and the overlay's marks move there
  function settle(el, k) {
    const f = el._lmFilm, d = el._lmData, n = f.points;
    k = Math.max(0, Math.min(f.frames - 1, Math.round(k)));
    const xs = new Float32Array(n), ys = new Float32Array(n);
    filmAt(el, k, xs, ys);
    d.x = Array.from(xs);
    d.y = Array.from(ys);
    const ov = d.overlay || {};
    (ov.neighbours || []).concat(ov.point ? [ov.point] : []).forEach(p => { p.x = d.x[p.index]; p.y = d.y[p.index]; });
    if (ov.drawn && ov.neighbours && ov.neighbours.length) { // a drawn digit sits among its neighbours
      ov.drawn.x = ov.neighbours.reduce((s, p) => s + p.x, 0) / ov.neighbours.length;
      ov.drawn.y = ov.neighbours.reduce((s, p) => s + p.y, 0) / ov.neighbours.length;
    }
    const xsOf = [], ysOf = [], ks = [];
    el.data.forEach((t, j) => {
      if (!t.customdata) return;
      const drawn = t.name === "your digit" && ov.drawn;
      xsOf.push(t.customdata.map((i, m) => drawn ? ov.drawn.x : (i === null || i === undefined ? t.x[m] : d.x[i])));
      ysOf.push(t.customdata.map((i, m) => drawn ? ov.drawn.y : (i === null || i === undefined ? t.y[m] : d.y[i])));
      ks.push(j);
    });
    el._lmFrame = k;
    Plotly.restyle(el, {x: xsOf, y: ysOf}, ks);
    density(el); // drawn again from the points where this frame has them
    glShown(el, true);
    filmUi(el);
    if (el._lmReported !== k && el._lmHandlers.frame) { el._lmReported = k; el._lmHandlers.frame(k); }
  }

  function stop(el) {
    if (el._lmPlaying) { cancelAnimationFrame(el._lmPlaying); el._lmPlaying = 0; }
  }

  function play(el) {
    const f = el._lmFilm;
    if (el._lmPlaying) { stop(el); settle(el, el._lmT); return; }
    el._lmGroups = paintGroups(el.data);
    let t = el._lmFrame >= f.frames - 1 ? 0 : el._lmFrame, last = performance.now();
    glShown(el, false);
    const step = now => {
      t = Math.min(f.frames - 1, t + (now - last) / 1000 * FILM_FPS);
      last = now;
      el._lmT = t;
      paint(el, t);
      filmUi(el, t);
      if (t >= f.frames - 1) { el._lmPlaying = 0; settle(el, t); return; }
      el._lmPlaying = requestAnimationFrame(step);
    };
    el._lmPlaying = requestAnimationFrame(step);
    filmUi(el, t);
  }

  // the bar under the map: play, the slider over the frames, what the frame is, and the chart of the
  // frames' kNN-5 accuracy and loss with the frame marked (a click there jumps to a frame)
  function filmBar(el) {
    const bar = controlBar(el, "_lmBar", "lm-film-bar", "padding:4px 8px", true);
    if (!bar) return el._lmBar;
    bar.innerHTML = '<div style="display:flex;flex-wrap:wrap;gap:4px 8px;align-items:center">' +
      '<button class="lm-play" type="button" style="min-width:5.5em;padding:2px 8px;border:1px solid #888;border-radius:4px;cursor:pointer">▶ Play</button>' +
      '<input class="lm-frame" type="range" min="0" step="0.01" style="flex:1;min-width:80px" aria-label="Training time">' +
      '<span class="lm-frame-text" style="white-space:nowrap"></span></div>' +
      '<div class="lm-chart" style="height:110px"></div>';
    const slider = bar.querySelector(".lm-frame");
    bar.querySelector(".lm-play").addEventListener("click", () => play(el));
    slider.addEventListener("input", () => { // scrubbing: painted, as while playing
      if (!el._lmFrames) return;
      stop(el);
      if (!el._lmScrub) { el._lmGroups = paintGroups(el.data); glShown(el, false); el._lmScrub = true; }
      el._lmT = +slider.value;
      paint(el, el._lmT);
      filmUi(el, el._lmT);
    });
    slider.addEventListener("change", () => { el._lmScrub = false; if (el._lmFrames) settle(el, +slider.value); });
    return bar;
  }

  function filmUi(el, t) {
    const f = el._lmFilm, bar = el._lmBar;
    if (!f || !bar) return;
    t = t === undefined ? el._lmFrame : t;
    const k = Math.max(0, Math.min(f.frames - 1, Math.round(t)));
    const slider = bar.querySelector(".lm-frame");
    slider.max = f.frames - 1;
    if (document.activeElement !== slider || !el._lmScrub) slider.value = t;
    bar.querySelector(".lm-play").textContent = el._lmPlaying ? "❚❚ Pause" : "▶ Play";
    bar.querySelector(".lm-frame-text").textContent = "frame " + k + "/" + (f.frames - 1) + " · epoch " +
      f.epochs[k].toFixed(f.epochs[k] < 1 ? 3 : 1) + " · kNN-5 " + f.knn5[k].toFixed(1) + " %";
    const chart = bar.querySelector(".lm-chart");
    if (chart.data) Plotly.relayout(chart, {"shapes[0].x0": t, "shapes[0].x1": t});
  }

  function filmChart(el) {
    const f = el._lmFilm, chart = el._lmBar.querySelector(".lm-chart"), frames = f.epochs.map((_, k) => k);
    // a tick every 90 px or so, at whole epochs
    const every = Math.max(1, Math.round(f.epochs[f.frames - 1] / Math.max(2, Math.floor(el.clientWidth / 90))));
    const ticks = frames.filter(k => k === 0 || Number.isInteger(f.epochs[k]) && f.epochs[k] % every === 0);
    Plotly.react(chart, [
      {x: frames, y: f.knn5, name: "kNN-5 in the latent (%)", mode: "lines+markers", marker: {size: 4}, line: {color: "#1f77b4"}},
      {x: frames, y: f.loss, name: f.loss_name.startsWith("val") ? f.loss_name : "validation " + f.loss_name, yaxis: "y2", mode: "lines", line: {color: "#d62728"}},
    ], {
      margin: {l: 40, r: 50, t: 16, b: 22}, height: 110, showlegend: true,
      legend: {orientation: "h", y: 1.05, yanchor: "bottom", x: 0, font: {size: 11}},
      xaxis: {tickvals: ticks, ticktext: ticks.map(k => "ep " + (+f.epochs[k].toFixed(2))), fixedrange: true, tickangle: 0},
      yaxis: {title: {text: "kNN-5 %", font: {size: 11}}, fixedrange: true},
      yaxis2: {overlaying: "y", side: "right", fixedrange: true, title: {text: f.loss_name, font: {size: 11}}},
      shapes: [{type: "line", x0: el._lmFrame, x1: el._lmFrame, yref: "paper", y0: 0, y1: 1, line: {color: "#111", width: 2}}],
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    }, {displayModeBar: false, responsive: true});
    if (!chart._lmBound) {
      chart._lmBound = true;
      chart.on("plotly_click", ev => { if (el._lmFrames) { stop(el); settle(el, ev.points[0].x); } });
    }
  }

  // after a map is drawn: a film opens on the frame the answer names, else on the frame the page
  // showed already (an answer to a click keeps the film where it is), else on its last frame
  function startFilm(el, data) {
    const film = data.film;
    el.classList.toggle("lm-has-film", !!film); // the page's stylesheet makes room for the film's bar
    if (!film) {
      if (el._lmBar) { el._lmBar.remove(); el._lmBar = null; }
      stop(el); el._lmFilm = null; el._lmFrames = null;
      return;
    }
    const same = el._lmFilm && el._lmFilm.url === film.url;
    const k = film.frame !== null && film.frame !== undefined ? film.frame : (same ? el._lmFrame : film.frames - 1);
    if (!same) { stop(el); el._lmFrames = null; el._lmReported = undefined; }
    el._lmFilm = film;
    el._lmFrame = k;
    filmBar(el);
    filmChart(el);
    filmUi(el);
    filmFrames(film.url).then(q => {
      if (el._lmFilm !== film) return; // another map came meanwhile
      el._lmFrames = q;
      if (!el._lmPlaying) settle(el, k);
    });
  }

  // whether the axes still show render's ranges, not a zoom or a pan. One axis left as render gave
  // it is enough: plotly widens the other itself to keep the aspect (as when a draw kept the width it
  // started with), while a zoom or a pan moves both.
  function unzoomed(el) {
    const own = el._lmRanges, lay = el.layout || {};
    const same = (a, b) => a && b && Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) <= 1e-6 * Math.abs(b[1] - b[0]);
    return !!own && (same(lay.xaxis && lay.xaxis.range, own[0]) || same(lay.yaxis && lay.yaxis.range, own[1]));
  }

  // drawn again for its box; the ranges of a map not zoomed are made afresh (a new uirevision, or
  // plotly would keep the ranges it widened itself as if the user had set them)
  function redraw(el) {
    if (unzoomed(el)) el._lmRev = (el._lmRev || 0) + 1;
    render(el, el._lmData, el._lmHandlers);
  }

  // the plot follows its box: drawn again while not zoomed, else plotly keeps the user's view and
  // widens one axis
  function resize(el) {
    const fl = el._fullLayout;
    if (fl && Math.abs(fl.width - el.clientWidth) < 2 && Math.abs(fl.height - el.clientHeight) < 2) return; // drawn for it
    if (unzoomed(el) && (el._lmRefits = (el._lmRefits || 0) + 1) <= 3) redraw(el);
    else if (el.layout.width) Plotly.relayout(el, {width: el.clientWidth, height: el.clientHeight});
    else Plotly.Plots.resize(el);
  }

  // ---- the first draw ------------------------------------------------------------------------------
  // A shared link's page fetches its map's points while the app is still starting (the page head,
  // explorer/latents/layout.py) and paints them on a canvas as soon as the map's box exists: neither
  // plotly.js (4.8 MB to run) nor the app's first answer is waited for. plotly then draws the same
  // points on the same axes (ranges() for both) and the canvas goes.
  const PLOTLY = document.currentScript && document.currentScript.src ?
    document.currentScript.src.replace(/latent_map\.js(\?.*)?$/, "plotly.min.js") : null; // the app serves both from one folder
  let plotly = null;

  // plotly.js, loaded once (the exported page has it inline); a frame first, so that a first draw
  // waiting to be shown is not held up while the script runs
  function ready() {
    if (typeof Plotly !== "undefined") return Promise.resolve();
    if (!plotly) {
      plotly = new Promise((done, fail) => requestAnimationFrame(() => setTimeout(() => {
        const s = document.createElement("script");
        s.src = PLOTLY;
        s.onload = done;
        s.onerror = () => { plotly = null; fail(new Error("plotly.js did not load")); };
        document.head.appendChild(s);
      }, 0)));
    }
    return plotly;
  }

  // the plot area's margins: fixed, wide enough for the legend (at the side, or below on a narrow
  // map), so that the first draw knows where plotly will put the points
  // (measured: a legend of ten digits and the overlay's two marks takes 131 px at the side, 124 px
  // below a phone's map; a colour bar 90 px)
  function margins(data, narrow) {
    if (narrow) return {l: 10, r: data.v ? 100 : 10, t: 56, b: data.v ? 90 : 140};
    return {l: 10, r: data.v ? 110 : 150, t: 56, b: data.v ? 40 : 10};
  }

  // a 2-d map's axis ranges in a w x h px box: the points' extent (and the overlay's marks) with a
  // little room, widened along one axis so that a unit is as long on both (what plotly's
  // scaleanchor keeps)
  function ranges(data, w, h, m) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    const add = (x, y) => {
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    };
    for (let i = 0; i < data.x.length; i++) add(data.x[i], data.y[i]);
    const ov = data.overlay || {};
    [...(ov.neighbours || []), ...(ov.point ? [ov.point] : []), ...(ov.drawn ? [ov.drawn] : [])].forEach(p => add(p.x, p.y));
    const pw = w - m.l - m.r, ph = h - m.t - m.b;
    if (!(x1 >= x0 && y1 >= y0) || pw < 50 || ph < 50) return null; // no points, or a box not shown yet
    const pad = 0.03 * Math.max(x1 - x0, y1 - y0) || 1, u = Math.max((x1 - x0 + 2 * pad) / pw, (y1 - y0 + 2 * pad) / ph);
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return [[cx - u * pw / 2, cx + u * pw / 2], [cy - u * ph / 2, cy + u * ph / 2]];
  }

  // the first draw, before plotly: the points `data`, or else those the page head fetched (and then
  // plotly.js is loaded)
  function preview(el, data) {
    if (data) { paintFirst(el, data); return; }
    const first = window._lmFirst;
    if (!first || el._lmData || el._lmPreview) return;
    el._lmPreview = true;
    first.then(got => {
      if (!got || el._lmData || !el.isConnected) return; // the app's answer came first
      paintFirst(el, got);
      ready().catch(() => {});
    });
  }

  function paintFirst(el, data) {
    if (data.dim === 3 || data.film) return;
    filterBar(el); // now, not with plotly: the bar above the map would push the points down later
    const w = el.clientWidth, h = el.clientHeight, m = margins(data, w < 520), r = ranges(data, w, h, m);
    if (!r) return;
    const u = (w - m.l - m.r) / (r[0][1] - r[0][0]), cv = canvasOf(el, "lm-preview");
    const at = [u, m.l - u * r[0][0], -u, m.t + u * r[1][1]]; // x -> at[0] * x + at[1], y -> at[2] * y + at[3]
    cv.style.display = "block";
    const ctx = paintPoints(cv, w, h, data.x, data.y, paintGroups(traces(data)), null, data.x.length > 20000, at,
      [m.l, w - m.r, m.t, h - m.b]);
    ctx.font = '14px "Open Sans", verdana, arial, sans-serif'; // plotly's title, where it puts it
    ctx.fillStyle = "#444";
    data.title.split("<br>").forEach((line, k) => ctx.fillText(line, 0.01 * w, 27 + 18 * k));
    el._lmPreviewAt = performance.now(); // benchmarks/explorer_browser.py
    el._lmPreviewN = data.x.length;
    el._lmPreviewMap = at;
  }

  function render(el, data, handlers) {
    const three = data.dim === 3, axis = {visible: false, showgrid: false, zeroline: false}, narrow = el.clientWidth < 520;
    const layout = {
      // left-aligned on two lines, clear of the toolbar that plotly draws at the top right
      title: {text: data.title, font: {size: 14}, x: 0.01, xanchor: "left"}, margin: margins(data, narrow),
      hovermode: "closest",
      // keeps zoom and rotation across overlays; redraw() starts afresh
      uirevision: [data.model, data.proj, data.dim, data.digits, el._lmRev || 0].join("/"),
      // a colour bar takes the right edge, so the overlay's legend (point, neighbours) goes below; on
      // a phone's narrow map a legend at the side would take half of it, so it goes below as well
      legend: data.v ? {orientation: "h", y: 0, yanchor: "top"} :
        {itemsizing: "constant", title: {text: data.legend_title}, ...(narrow ? {orientation: "h", y: 0, yanchor: "top"} : {})},
      dragmode: three ? "orbit" : "lasso",
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    };
    el._lmRanges = null;
    if (three) layout.scene = {xaxis: axis, yaxis: axis, zaxis: axis};
    else {
      const r = data.film ? null : ranges(data, el.clientWidth, el.clientHeight, layout.margin);
      el._lmRanges = r;
      // the box's own size, which the ranges are made for (plotly's autosize keeps the size of its
      // first draw through later ones)
      if (r) { layout.width = el.clientWidth; layout.height = el.clientHeight; }
      layout.xaxis = r ? {...axis, range: r[0], autorange: false} : axis;
      layout.yaxis = {...axis, scaleanchor: "x", ...(r ? {range: r[1], autorange: false} : {})};
    }
    if (data.film) { // every frame in one fixed box, so the axes stay still while the points move
      const b = data.film.view || data.film.box, px = 0.05 * (b[1] - b[0]), py = 0.05 * (b[3] - b[2]);
      layout.xaxis = {...layout.xaxis, range: [b[0] - px, b[1] + px], autorange: false};
      layout.yaxis = {...layout.yaxis, range: [b[2] - py, b[3] + py], autorange: false};
    }
    if (el._lmPlaying) { stop(el); glShown(el, true); }
    Plotly.react(el, traces(data), layout, {displaylogo: false, responsive: true, scrollZoom: true})
      .then(() => {
        if (!el._lmDrawnAt) el._lmDrawnAt = performance.now(); // benchmarks/explorer_browser.py
        const first = el.querySelector("canvas.lm-preview");
        if (first) first.remove();
        // once more, for a resize that came while it was still drawing (plotly lets a resize during
        // a draw pass, and the draw keeps the size it started with)
        if (el.isConnected) resize(el);
      });
    el._lmFaded = false;
    el._lmData = data;
    el._lmHandlers = handlers || {};
    el._lmNarrow = narrow;
    maps.add(el);
    // a map drawn afresh (a late answer) rings again what another map points at
    if (pointed && pointed.from !== el && pointed.from.isConnected && pointed.ids.length) mark(el, pointed.ids);
    filterBar(el);
    applyFilter(el);
    startFilm(el, data);
    if (el._lmBound) return;
    el._lmBound = true; // plotly keeps its listeners across react(), so they are added once
    // plotly's own "responsive" follows the window only: a second map shown beside this one halves
    // its width without a window resize, so the plot follows its box instead
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        if (!el.isConnected || !el.data) return;
        el._lmRefits = 0; // the box moved: it may be drawn for it again (resize)
        // across the narrow width the legend moves (see render): draw again, else only resize
        if ((el.clientWidth < 520) !== el._lmNarrow) redraw(el);
        else resize(el);
      }).observe(el);
    }
    // capture phase: the pointer's position is known before plotly's own handlers raise a hover
    el.addEventListener("mousemove", e => { el._lmMouse = [e.clientX, e.clientY]; }, true);
    el.addEventListener("mouseleave", () => tooltip(el, el._lmData, null));
    el.on("plotly_hover", ev => {
      if (ev.event && ev.event.clientX !== undefined) el._lmMouse = [ev.event.clientX, ev.event.clientY];
      const i = ev.points[0].customdata;
      tooltip(el, el._lmData, i === null || i === undefined ? null : i);
      link(el, i === null || i === undefined ? [] : [i]);
    });
    el.on("plotly_unhover", () => { tooltip(el, el._lmData, null); link(el, []); });
    el.on("plotly_restyle", ([update]) => {
      // a legend toggle hides or shows a digit's trace: the same digit's trace in the other maps too
      if (syncing || !update || update.visible === undefined) return;
      syncing = true;
      try {
        const shown = Object.fromEntries(el.data.map(t => [t.name, t.visible === undefined ? true : t.visible]));
        for (const o of others(el)) {
          const idx = o.data.map((t, k) => k).filter(k => o.data[k].name in shown && o.data[k].name !== "linked");
          if (idx.length) Plotly.restyle(o, {visible: idx.map(k => shown[o.data[k].name])}, idx);
        }
      } finally { syncing = false; }
    });
    el.on("plotly_click", ev => {
      const i = ev.points[0].customdata;
      // a touch screen has no hover: a tap shows the digit's tip as a pointer resting there would
      if (ev.event && ev.event.clientX !== undefined) el._lmMouse = [ev.event.clientX, ev.event.clientY];
      tooltip(el, el._lmData, i === null || i === undefined ? null : i);
      if (i !== null && i !== undefined && el._lmHandlers.pick) el._lmHandlers.pick(i);
    });
    el.on("plotly_selected", ev => {
      if (!ev || !el._lmHandlers.select) return;
      const ids = [...new Set(ev.points.map(p => p.customdata).filter(i => i !== null && i !== undefined))];
      link(el, ids);
      el._lmHandlers.select(ids);
    });
  }

  window.LatentMap = {render: render, play: play, settle: settle, preview: preview, ready: ready};
})();
