// SAE feature browser: sortable, searchable tables and a feature detail panel. Vanilla JS, no network.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("data").textContent);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children || []) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return node;
  }

  function fmt(v, type) {
    if (v === undefined || v === null) return "";
    if (type === "num" && typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(a < 1 ? 4 : 3).replace(/\.?0+$/, "");
    }
    return String(v);
  }

  // A sortable, searchable table over data.rows; a column sorts by row[c.sort] when it names one (AUROC by strength).
  function makeTable(container, columns, rows, opts) {
    const sortKey = columns.some((c) => c.key === opts.sortKey) ? opts.sortKey : columns[0].key;
    const state = { key: sortKey, dir: opts.sortDir || 1, query: "", filter: opts.filter || (() => true) };
    const table = el("table", { id: opts.id });
    const thead = el("thead");
    const htr = el("tr");
    const ths = columns.map((c) => {
      const th = el("th", { text: c.label, title: c.title, "data-key": c.key });
      th.addEventListener("click", () => {
        state.dir = state.key === c.key ? -state.dir : c.type === "num" ? -1 : 1;
        state.key = c.key;
        render();
      });
      htr.appendChild(th);
      return th;
    });
    thead.appendChild(htr);
    const tbody = el("tbody");
    table.append(thead, tbody);
    container.appendChild(table);

    function matches(row) {
      if (!state.filter(row)) return false;
      if (!state.query) return true;
      const q = state.query.toLowerCase();
      return columns.some((c) => fmt(row[c.key], c.type).toLowerCase().includes(q));
    }

    function render() {
      const col = columns.find((c) => c.key === state.key);
      const by = col.sort || col.key;
      const shown = rows.filter(matches).sort((a, b) => {
        const x = a[by], y = b[by];
        if (x === y) return 0;
        if (x === undefined || x === null) return 1;
        if (y === undefined || y === null) return -1;
        return (col.type === "num" ? x - y : String(x).localeCompare(String(y))) * state.dir;
      });
      ths.forEach((th) => th.classList.remove("asc", "desc"));
      ths[columns.indexOf(col)].classList.add(state.dir > 0 ? "asc" : "desc");
      tbody.replaceChildren(...shown.map((row) => opts.renderRow(row, columns)));
      if (opts.onRender) opts.onRender(shown.length, rows.length);
    }
    return { state, render };
  }

  // Text with a line-break opportunity after each "=" (technique=<wbr>vocal_fry), so that narrow columns wrap there.
  function breakable(text) {
    const parts = String(text).replace(/=/g, "=\n").split("\n");
    const nodes = [];
    parts.forEach((p, i) => { if (i) nodes.push(el("wbr")); nodes.push(p); });
    return nodes;
  }

  function plainRow(row, columns) {
    return el("tr", {}, columns.map((c) => c.type === "num"
      ? el("td", { className: "num", text: fmt(row[c.key], c.type) })
      : el("td", { className: "text" }, breakable(fmt(row[c.key], c.type)))));
  }

  // A value worth showing: not missing, not a blank cell of the clip table.
  function present(v) {
    return v !== undefined && v !== null && String(v).trim() !== "";
  }

  function header(title, sub, backHref) {
    const h = el("header", {}, [el("h1", { text: title })]);
    if (sub) h.appendChild(el("div", { className: "muted", text: sub }));
    if (backHref) h.appendChild(el("div", {}, [el("a", { href: backHref, id: "back", text: "← all SAEs" })]));
    document.body.appendChild(h);
  }

  function searchBar(placeholder, extra) {
    const input = el("input", { type: "search", id: "search", placeholder: placeholder });
    const count = el("span", { className: "muted", id: "count" });
    const bar = el("div", { className: "bar" }, [input, ...(extra || []), count]);
    document.body.appendChild(bar);
    return { input, count };
  }

  // ---- index page: every SAE ---------------------------------------------------------------
  function indexPage() {
    // Shown inside another page (the Snakemake report embeds a copy of this page, without the SAE pages beside
    // it): the links cannot work there, so say where the browser is instead of offering broken links.
    let framed = location.protocol !== "file:" && location.protocol !== "http:" && location.protocol !== "https:";
    try { framed = framed || window.self !== window.top; } catch (e) { framed = true; }
    header(data.title, data.rows.length + " SAEs" + (framed ? "." : "; click one to browse its features."));
    if (framed) {
      document.body.appendChild(el("p", { className: "notice", id: "embedded-notice",
        text: "This is a copy of the feature browser's front page. Its SAE pages sit beside the original: open " +
              "results/browser/index.html of the study folder in a web browser (it needs no server)." }));
    }
    const { input, count } = searchBar("filter (model, layer, ...)");
    const layout = el("div", { className: "layout index" });
    const list = el("div", { className: "list" });
    layout.appendChild(list);
    document.body.appendChild(layout);
    const t = makeTable(list, data.columns, data.rows, {
      id: "saes",
      sortKey: "layer",
      sortDir: 1,
      renderRow: (row, columns) => {
        const tr = plainRow(row, columns);
        const first = tr.firstChild;
        first.replaceChildren(framed ? row.dataset : el("a", { href: row.href, className: "sae-link", text: row.dataset }));
        return tr;
      },
      onRender: (n, total) => (count.textContent = n + " of " + total),
    });
    input.addEventListener("input", () => { t.state.query = input.value.trim(); t.render(); });
    t.render();
  }

  // ---- SAE page: feature table + detail panel ----------------------------------------------
  function bar(value, scale) {
    const w = Math.min(60, Math.round(Math.abs(value) * scale));
    return el("span", { className: "barcell" + (value < 0 ? " neg" : ""), style: "width:" + w + "px" });
  }

  function smallTable(cols, rows) {
    const t = el("table", { className: "small" });
    t.appendChild(el("thead", {}, [el("tr", {}, cols.map((c) => el("th", { text: c[1] })))]));
    t.appendChild(el("tbody", {}, rows.map((r) => el("tr", {}, cols.map((c) => {
      const v = r[c[0]];
      const td = el("td", { className: typeof v === "number" ? "num" : "" });
      if (c[2]) td.appendChild(bar(c[2](v), 1));
      td.appendChild(document.createTextNode(fmt(v, typeof v === "number" ? "num" : "text")));
      return td;
    })))));
    return t;
  }

  let redrawAxes = null;  // the shown spectrogram's time axis depends on its width
  window.addEventListener("resize", () => { if (redrawAxes) redrawAxes(); });

  // The spectrogram strip with its axes as text: frequency (Hz, at the mel bands' positions, from the page data)
  // on the left, time in the clip (s) under each snippet, placed from the snippet's pixel span in the image.
  function spectrogram(d) {
    const axis = data.spec_axis || { freq_ticks: [] };
    const img = el("img", { className: "spec", id: "spectrogram", src: d.spectrogram,
      alt: "log-mel spectrograms of the top clips (frequency in Hz on a mel scale, time in s), activation in cyan" });
    const freq = el("div", { className: "freq-axis", id: "freq-axis" }, [
      ...axis.freq_ticks.map((t) => el("span", { className: "tick", style: "bottom:" + (100 * t.y).toFixed(2) + "%", text: t.label })),
    ]);
    const time = el("div", { className: "time-axis", id: "time-axis" });
    const box = el("div", { className: "specbox" }, [
      el("div", { className: "axis-title freq-title", text: "Hz" }), el("div"),
      freq, el("div", { className: "specimg" }, [img]),
      el("div"), time,
      el("div"), el("div", { className: "axis-title", text: "time in clip (s)" }),
    ]);
    function drawTime() {
      const W = img.naturalWidth, shown = img.clientWidth;
      if (!W || !shown) return;
      img.style.imageRendering = W > shown ? "auto" : "pixelated";  // nearest-neighbour only when enlarging
      const ticks = [];
      d.clips.forEach((c) => {
        if (!c.px) return;
        const [x0, x1] = c.px, dur = c.stop_s - c.start_s;
        if (!(dur > 0)) return;
        const pxPerS = ((x1 - x0) / W) * shown / dur;
        const step = [0.1, 0.2, 0.5, 1, 2, 5].find((s) => s * pxPerS >= 30) || 10;  // labels at least 30 px apart
        const margin = 12 / pxPerS;  // keep labels clear of the snippet's edges (and of the next snippet's)
        const at = [];
        for (let t = Math.ceil((c.start_s + margin) / step) * step; t <= c.stop_s - margin + 1e-9; t += step) at.push(t);
        if (!at.length) at.push((c.start_s + c.stop_s) / 2);
        at.forEach((t) => {
          const x = (x0 + ((t - c.start_s) / dur) * (x1 - x0)) / W;
          ticks.push(el("span", { className: "tick", style: "left:" + (100 * x).toFixed(2) + "%", text: String(Number(t.toFixed(2))) }));
        });
      });
      time.replaceChildren(...ticks);
    }
    img.addEventListener("load", drawTime);
    if (img.complete) drawTime();
    redrawAxes = drawTime;
    return box;
  }

  function showFeature(panel, id) {
    const d = data.details[String(id)];
    const row = data.rows[id];
    panel.replaceChildren();
    if (!d || !row) {
      panel.appendChild(el("p", { className: "muted", text: "Feature " + id + " has no clips in this browser (only the top features by association and density do)." }));
      return;
    }
    panel.appendChild(el("h2", { id: "feature-title", text: "Feature " + id }));
    panel.appendChild(el("div", { className: "muted", id: "feature-summary" }, [
      "density " + fmt(row.density, "num") + (present(row.concept) ? " · strongest concept " + row.concept + " (AUROC " + fmt(row.auroc, "num") + ")" : ""),
    ]));
    panel.appendChild(el("h3", { text: "Top-activating clips" }));
    if (d.spectrogram) {
      panel.appendChild(spectrogram(d));
      panel.appendChild(el("div", { className: "muted", text: "log-mel spectrograms of the snippets below, left to right; cyan: the feature's activation per model frame, on one scale." }));
    }
    d.clips.forEach((c, i) => {
      const labels = Object.entries(c.labels).filter(([, v]) => present(v)).map(([k, v]) => el("span", { className: "pill", text: k + "=" + v }));
      const nums = Object.entries(c.numeric).filter(([, v]) => present(v)).map(([k, v]) => el("span", { className: "pill", text: k + "=" + fmt(v, "num") }));
      panel.appendChild(el("div", { className: "clip" }, [
        el("div", {}, [el("b", { text: i + 1 + ". " + c.clip }), " activation " + fmt(c.activation, "num")]),
        el("audio", { controls: "", preload: "metadata", src: c.audio }),
        el("div", { className: "meta" }, [
          c.split + " · " + c.start_s.toFixed(2) + "–" + c.stop_s.toFixed(2) + " s (peak " + c.peak_s.toFixed(2) + " s) ",
          ...labels, ...nums,
        ]),
        ...(c.credit ? [el("div", { className: "credit muted", text: "Recording: " + c.credit })] : []),
      ]));
    });
    panel.appendChild(el("h3", { text: "Concepts (one-vs-rest AUROC of the clip codes)" }));
    panel.appendChild(smallTable(
      [["concept", "column"], ["value", "value"], ["auroc", "AUROC", (v) => (v - 0.5) * 120], ["mean_diff", "Δ mean"], ["n", "clips"]],
      d.associations.slice(0, 12)));
    if (d.correlations.length) {
      panel.appendChild(el("h3", { text: "Correlations (Spearman r with clip-table columns)" }));
      panel.appendChild(smallTable([["variable", "column"], ["r", "r", (v) => (v || 0) * 60]], d.correlations));
    }
    if (d.probes.length) {
      panel.appendChild(el("h3", { text: "Probe weights (ridge, standardised codes, training clips)" }));
      panel.appendChild(smallTable([["target", "target"], ["class", "class"], ["weight", "weight", (v) => v * 600]], d.probes.slice(0, 10)));
    }
    for (const [name, label] of Object.entries(data.hooks)) {
      panel.appendChild(el("h3", { text: label }));
      const rows = (d.extra || {})[name];
      if (rows && rows.length) panel.appendChild(smallTable([["variable", "variable"], ["value", "value", (v) => (v || 0) * 60]], rows));
      else panel.appendChild(el("p", { className: "muted", text: data.extra_available.includes(name) ? "no entries for this feature" : "not computed in this study" }));
    }
    panel.scrollTop = 0;
  }

  function saePage() {
    const s = data.summary;
    header(data.title,
      "k=" + s.k + " of d_sae=" + s.d_sae + " · trained on " + data.unit + " · held-out L0 " + fmt(s.l0, "num") + ", FVU " + fmt(s.fvu, "num") +
      ", dead " + fmt(s.dead_fraction, "num") + " · " + data.n_clips + " clips · " + Object.keys(data.details).length + " features with clips (bold)",
      data.index_href);
    const only = el("input", { type: "checkbox", id: "only-detail" });
    const onlyLabel = el("label", {}, [only, " only features with clips"]);
    const { input, count } = searchBar("search features, concepts (e.g. technique=belt)", [onlyLabel]);
    const layout = el("div", { className: "layout" });
    const list = el("div", { className: "list" });
    const panel = el("div", { className: "detail", id: "detail" }, [el("p", { className: "muted", text: "Click a bold feature to hear and see it." })]);
    layout.append(list, panel);
    document.body.appendChild(layout);
    let selected = null;
    const t = makeTable(list, data.columns, data.rows, {
      id: "features",
      sortKey: "auroc",  // by strength of association, strongest first
      sortDir: -1,
      filter: (row) => !only.checked || row.detail,
      renderRow: (row, columns) => {
        const tr = plainRow(row, columns);
        tr.setAttribute("data-feature", row.feature);
        if (row.detail) {
          tr.classList.add("has-detail");
          tr.addEventListener("click", () => { location.hash = "f" + row.feature; });
        }
        if (row.feature === selected) tr.classList.add("selected");
        return tr;
      },
      onRender: (n, total) => (count.textContent = n + " of " + total + " features"),
    });
    input.addEventListener("input", () => { t.state.query = input.value.trim(); t.render(); });
    only.addEventListener("change", () => t.render());
    function fromHash() {
      const m = /^#f(\d+)$/.exec(location.hash);
      if (!m) return;
      selected = Number(m[1]);
      showFeature(panel, selected);
      t.render();
    }
    window.addEventListener("hashchange", fromHash);
    t.render();
    fromHash();
  }

  if (data.kind === "index") indexPage();
  else saePage();
})();
