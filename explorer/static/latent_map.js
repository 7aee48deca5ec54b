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

  function link(el, ids) {
    for (const o of others(el)) {
      const d = o._lmData, keep = ids.filter(i => i < d.x.length), k = o.data.length - 1;
      const update = {customdata: [keep], x: [keep.map(i => d.x[i])], y: [keep.map(i => d.y[i])]};
      if (d.dim === 3) update.z = [keep.map(i => d.z[i])];
      Plotly.restyle(o, update, [k]);
    }
  }

  function render(el, data, handlers) {
    const three = data.dim === 3, axis = {visible: false, showgrid: false, zeroline: false}, narrow = el.clientWidth < 520;
    const layout = {
      // left-aligned on two lines, clear of the toolbar that plotly draws at the top right
      title: {text: data.title, font: {size: 14}, x: 0.01, xanchor: "left"}, margin: {l: 10, r: 10, t: 56, b: 10},
      hovermode: "closest",
      uirevision: data.model + "/" + data.proj + "/" + data.dim + "/" + data.digits, // keeps zoom and rotation across overlays
      // a colour bar takes the right edge, so the overlay's legend (point, neighbours) goes below; on
      // a phone's narrow map a legend at the side would take half of it, so it goes below as well
      legend: data.v ? {orientation: "h", y: 0, yanchor: "top"} :
        {itemsizing: "constant", title: {text: data.legend_title}, ...(narrow ? {orientation: "h", y: 0, yanchor: "top"} : {})},
      dragmode: three ? "orbit" : "lasso",
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    };
    if (three) layout.scene = {xaxis: axis, yaxis: axis, zaxis: axis};
    else { layout.xaxis = axis; layout.yaxis = {...axis, scaleanchor: "x"}; }
    Plotly.react(el, traces(data), layout, {displaylogo: false, responsive: true, scrollZoom: true});
    el._lmData = data;
    el._lmHandlers = handlers || {};
    el._lmNarrow = narrow;
    maps.add(el);
    if (el._lmBound) return;
    el._lmBound = true; // plotly keeps its listeners across react(), so they are added once
    // plotly's own "responsive" follows the window only: a second map shown beside this one halves
    // its width without a window resize, so the plot follows its box instead
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        if (!el.isConnected || !el.data) return;
        // across the narrow width the legend moves (see render): draw again, else only resize
        if ((el.clientWidth < 520) !== el._lmNarrow) render(el, el._lmData, el._lmHandlers);
        else Plotly.Plots.resize(el);
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

  window.LatentMap = {render: render};
})();
