// The collection map: every picture at its 2-D point (iconodex map), drawn on one canvas.
// Far out each picture is a pixel coloured by its cluster (written straight into an ImageData, so
// 100k points cost one putImageData); close in, the visible ones are drawn from thumbnail atlases.
// Served (/map: data from /map/points …) or offline (iconodex map --html: data inlined in #map-data).
"use strict";

(() => {
  const canvas = document.getElementById("field");
  const ctx = canvas.getContext("2d");
  const tip = document.getElementById("tip");
  const status = document.getElementById("status");
  const panel = document.getElementById("panel");
  const inline = document.getElementById("map-data");
  const offline = inline !== null;
  const WORLD = 1000;
  const HIGHLIGHTS = 50; // search results marked on the map
  const THUMBS_FROM = 32; // on-screen pixels per picture from which thumbnails are drawn (about 1k fit a screen)
  const state = { n: 0, ids: [], titles: [], x: null, y: null, cluster: null, clusters: [], atlas: null,
                  sheets: [], view: { scale: 1, tx: 0, ty: 0 }, size: 1, highlighted: new Set(),
                  selected: [], panelId: null, ready: false, frames: [], drawn: 0, mode: "" };
  window.iconodexMap = state;

  const palette = (c) => c < 0 ? [110, 110, 110] : hsl((c * 137.5) % 360);
  function hsl(h) {
    const f = (n) => { const k = (n + h / 30) % 12; return Math.round(255 * (0.55 - 0.35 * Math.max(-1, Math.min(k - 3, 9 - k, 1)))); };
    return [f(0), f(8), f(4)];
  }

  async function load() {
    const data = offline ? JSON.parse(inline.textContent) : await getJson("map/points");
    state.clusters = offline ? data.clusters : (await getJson("map/clusters")).clusters;
    Object.assign(state, { n: data.ids.length, ids: data.ids, titles: data.titles, atlas: data.atlas, links: data.links || [],
                           x: Float32Array.from(data.x), y: Float32Array.from(data.y),
                           cluster: Int32Array.from(data.cluster) });
    state.index = new Map(state.ids.map((id, i) => [id, i]));
    state.size = 0.9 * WORLD / Math.sqrt(Math.max(state.n, 1)); // pictures tile the field at full zoom
    const sources = offline ? data.atlas.sources : [...Array(data.atlas.count).keys()].map((i) => url(`map/atlas/${i}.jpg`));
    // decoded once into ImageBitmaps: Chrome would otherwise re-decode sheets it evicted, every frame
    state.sheets = sources.map(() => null);
    sources.forEach((src, i) => {
      const img = new Image();
      img.onload = () => createImageBitmap(img).then((bitmap) => { state.sheets[i] = bitmap; draw(); });
      img.src = src;
    });
    resize();
    fit(0, 0, WORLD, WORLD, false);
    state.ready = true;
    say(`${state.n.toLocaleString()} pictures, ${state.clusters.length} clusters`);
  }

  const url = (path) => new URL(path, document.baseURI.replace(/map(\.html)?([?#].*)?$/, "")).href;
  async function getJson(path, options = {}) {
    const response = await fetch(url(path), { ...options, headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }
  const say = (text) => { status.textContent = text; };

  // -- view -------------------------------------------------------------------------------
  function resize() {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(canvas.clientWidth * ratio);
    canvas.height = Math.round(canvas.clientHeight * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    draw();
  }
  const toScreen = (i) => [state.x[i] * state.view.scale + state.view.tx, state.y[i] * state.view.scale + state.view.ty];
  const toWorld = (sx, sy) => [(sx - state.view.tx) / state.view.scale, (sy - state.view.ty) / state.view.scale];

  function fit(x0, y0, x1, y1, animate = true) {
    const w = canvas.clientWidth, h = canvas.clientHeight, pad = state.size * 2;
    const scale = Math.min(w / (x1 - x0 + pad * 2), h / (y1 - y0 + pad * 2), 400 / state.size);
    const target = { scale, tx: w / 2 - scale * (x0 + x1) / 2, ty: h / 2 - scale * (y0 + y1) / 2 };
    if (!animate) { state.view = target; draw(); return; }
    const from = { ...state.view }, start = performance.now();
    const step = (now) => {
      const t = Math.min(1, (now - start) / 400), e = t * (2 - t);
      for (const k of ["scale", "tx", "ty"]) state.view[k] = from[k] + (target[k] - from[k]) * e;
      draw();
      if (t < 1) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }
  state.flyTo = (ids) => {
    const at = ids.map((id) => state.index.get(id)).filter((i) => i !== undefined);
    if (!at.length) return;
    const xs = at.map((i) => state.x[i]), ys = at.map((i) => state.y[i]);
    fit(Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys));
  };
  state.screenOf = (id) => { const i = state.index.get(id); return i === undefined ? null : toScreen(i); };

  // -- drawing ----------------------------------------------------------------------------
  let pending = false;
  function draw() {
    if (pending || !state.x) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  }
  function render() {
    const started = performance.now();
    const w = canvas.clientWidth, h = canvas.clientHeight, side = state.size * state.view.scale;
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, w, h);
    state.drawn = side >= THUMBS_FROM ? drawThumbs(w, h, side) : drawPixels(side);
    state.mode = side >= THUMBS_FROM ? "thumbnails" : "points";
    drawMarks(side);
    drawLabels(w);
    if (selecting) drawLasso(selecting);
    state.frames.push(performance.now() - started);
    if (state.frames.length > 240) state.frames.shift();
  }
  let buffer = null;
  const BACKGROUND = 0xff111111; // #111 as little-endian RGBA
  function drawPixels(side) {
    // one 32-bit write per pixel into the canvas's own buffer: no per-point allocation or draw call
    const ratio = canvas.width / canvas.clientWidth, W = canvas.width, H = canvas.height;
    if (!buffer || buffer.width !== W || buffer.height !== H) buffer = new ImageData(W, H); // reused: no readback
    const image = buffer, px = new Uint32Array(image.data.buffer);
    px.fill(BACKGROUND);
    const dot = Math.max(2, Math.min(Math.round(side * ratio * 0.8), Math.round(THUMBS_FROM * ratio)));
    const { scale, tx, ty } = state.view, colours = new Map();
    let drawn = 0;
    for (let i = 0; i < state.n; i++) {
      const X = Math.round((state.x[i] * scale + tx) * ratio - dot / 2), Y = Math.round((state.y[i] * scale + ty) * ratio - dot / 2);
      if (X < 0 || Y < 0 || X + dot > W || Y + dot > H) continue;
      const c = state.cluster[i];
      let colour = colours.get(c);
      if (colour === undefined) { const [r, g, b] = palette(c); colour = (255 << 24 | b << 16 | g << 8 | r) >>> 0; colours.set(c, colour); }
      for (let dy = 0; dy < dot; dy++) px.fill(colour, (Y + dy) * W + X, (Y + dy) * W + X + dot);
      drawn++;
    }
    ctx.putImageData(image, 0, 0);
    return drawn;
  }
  function drawThumbs(w, h, side) {
    const { cell, row, per_atlas: per } = state.atlas;
    let drawn = 0;
    const { scale, tx, ty } = state.view;
    for (let i = 0; i < state.n; i++) {
      const sx = state.x[i] * scale + tx, sy = state.y[i] * scale + ty;
      if (sx < -side || sy < -side || sx > w + side || sy > h + side) continue;
      const sheet = state.sheets[Math.floor(i / per)], c = i % per;
      if (sheet) {
        ctx.drawImage(sheet, (c % row) * cell, Math.floor(c / row) * cell, cell, cell, sx - side / 2, sy - side / 2, side, side);
      } else {
        const [r, g, b] = palette(state.cluster[i]);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(sx - side / 2, sy - side / 2, side, side);
      }
      drawn++;
    }
    return drawn;
  }
  function drawMarks(side) {
    const r = Math.max(side / 2 + 2, 4);
    ctx.lineWidth = 2;
    for (const [set, colour] of [[state.highlighted, "#ff3"], [new Set(state.selected), "#3cf"]]) {
      ctx.strokeStyle = colour;
      for (const id of set) {
        const i = state.index.get(id);
        if (i === undefined) continue;
        const [sx, sy] = toScreen(i);
        ctx.strokeRect(sx - r, sy - r, 2 * r, 2 * r);
      }
    }
  }
  function drawLasso(outline) {
    ctx.strokeStyle = "#fc0";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    outline.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.stroke();
  }
  function drawLabels(w) {
    ctx.font = "bold 13px system-ui, sans-serif";
    ctx.textAlign = "center";
    state.labelsShown = [];
    for (const c of state.clusters) {
      const extent = c.extent * state.view.scale; // a cluster is named once it is big enough to read, until it fills the view
      if (extent < 60 || extent > 0.75 * Math.min(w, canvas.clientHeight)) continue;
      const sx = c.x * state.view.scale + state.view.tx, sy = c.y * state.view.scale + state.view.ty;
      ctx.fillStyle = "#000b";
      const width = ctx.measureText(c.name).width + 8;
      ctx.fillRect(sx - width / 2, sy - 10, width, 18);
      ctx.fillStyle = "#fff";
      ctx.fillText(c.name, sx, sy + 4);
      state.labelsShown.push(c.name);
    }
  }

  // -- interaction ------------------------------------------------------------------------
  function nearest(sx, sy) {
    const reach = Math.max(state.size * state.view.scale / 2, 5);
    const { scale, tx, ty } = state.view;
    let best = -1, bestD = reach * reach;
    for (let i = 0; i < state.n; i++) {
      const d = (state.x[i] * scale + tx - sx) ** 2 + (state.y[i] * scale + ty - sy) ** 2;
      if (d <= bestD) { best = i; bestD = d; }
    }
    return best;
  }
  const local = (event) => { const r = canvas.getBoundingClientRect(); return [event.clientX - r.left, event.clientY - r.top]; };
  let dragging = null, selecting = null;
  canvas.addEventListener("pointerdown", (event) => {
    const [sx, sy] = local(event);
    canvas.setPointerCapture(event.pointerId);
    if (event.shiftKey) selecting = [[sx, sy]];
    else dragging = { sx, sy, tx: state.view.tx, ty: state.view.ty, moved: false };
  });
  canvas.addEventListener("pointermove", (event) => {
    const [sx, sy] = local(event);
    if (selecting) { selecting.push([sx, sy]); draw(); return; }
    if (dragging) {
      dragging.moved ||= Math.abs(sx - dragging.sx) + Math.abs(sy - dragging.sy) > 3;
      state.view.tx = dragging.tx + sx - dragging.sx;
      state.view.ty = dragging.ty + sy - dragging.sy;
      draw();
      return;
    }
    const i = nearest(sx, sy);
    tip.hidden = i < 0;
    if (i >= 0) { tip.textContent = state.titles[i] || state.ids[i]; tip.style.left = `${sx + 12}px`; tip.style.top = `${sy + 12}px`; }
  });
  canvas.addEventListener("pointerup", (event) => {
    const [sx, sy] = local(event);
    if (selecting) { select(selecting); selecting = null; draw(); return; }
    if (dragging && !dragging.moved) { const i = nearest(sx, sy); if (i >= 0) openItem(state.ids[i]); }
    dragging = null;
  });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [sx, sy] = local(event), factor = Math.exp(-event.deltaY * 0.002);
    const scale = Math.min(Math.max(state.view.scale * factor, 0.05), 400 / state.size);
    const [wx, wy] = toWorld(sx, sy);
    state.view = { scale, tx: sx - wx * scale, ty: sy - wy * scale };
    draw();
  }, { passive: false });
  window.addEventListener("resize", resize);

  function select(outline) { // the pictures inside the drawn outline (closed from its last point to its first)
    const world = outline.map(([sx, sy]) => toWorld(sx, sy));
    const xs = world.map((p) => p[0]), ys = world.map((p) => p[1]);
    const [ax, bx, ay, by] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    state.selected = state.ids.filter((_, i) => state.x[i] >= ax && state.x[i] <= bx && state.y[i] >= ay && state.y[i] <= by
                                                && inside(world, state.x[i], state.y[i]));
    for (const id of ["export-json", "export-csv"]) document.getElementById(id).disabled = !state.selected.length;
    say(`${state.selected.length} selected`);
  }
  function inside(polygon, x, y) { // even-odd rule: a ray to the right crosses the outline an odd number of times
    let within = false;
    for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
      const [xi, yi] = polygon[i], [xj, yj] = polygon[j];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) within = !within;
    }
    return within;
  }
  function download(name, type, text) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type }));
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
  }
  const csvCell = (v) => `"${String(v).replaceAll('"', '""')}"`;
  state.exportRows = () => state.selected.map((id) => ({ id, title: state.titles[state.index.get(id)] }));
  document.getElementById("export-json").addEventListener("click", () =>
    download("selection.json", "application/json", JSON.stringify(state.exportRows(), null, 1)));
  document.getElementById("export-csv").addEventListener("click", () =>
    download("selection.csv", "text/csv", ["id,title", ...state.exportRows().map((r) => `${csvCell(r.id)},${csvCell(r.title)}`)].join("\n")));

  // -- search: highlight the results that are on the map and fly to them ---------------------
  function highlight(ids, what, page = {}) {
    state.highlighted = new Set(ids.filter((id) => state.index.has(id)));
    say(state.highlighted.size ? `${state.highlighted.size} on the map for ${what}`
      : page.no_good_match ? `no good match on the map for ${what}` : `nothing on the map for ${what}`);
    state.flyTo([...state.highlighted]);
    draw();
  }
  async function searchFor(run, what) {
    say(`Searching for ${what}…`);
    try { const page = await run(); highlight(page.results.map((r) => r.id), what, page); }
    catch (error) { say(`search failed: ${error.message}`); }
  }
  document.getElementById("find").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("q").value.trim();
    if (!q) { state.highlighted = new Set(); draw(); return; }
    if (offline) { // no model in a page opened from disk: the titles that hold every word
      const words = q.toLowerCase().split(/\s+/);
      highlight(state.ids.filter((_, i) => words.every((w) => (state.titles[i] || "").toLowerCase().includes(w))), `“${q}”`);
      return;
    }
    searchFor(() => getJson(`search?q=${encodeURIComponent(q)}&limit=${HIGHLIGHTS}`), `“${q}”`);
  });
  function searchPicture(file) {
    if (offline || !file || !file.type.startsWith("image/")) return;
    const form = new FormData();
    form.append("image", file, file.name || "picture");
    form.append("limit", String(HIGHLIGHTS));
    searchFor(() => getJson("search", { method: "POST", body: form }), "your picture");
  }
  const picture = document.getElementById("picture"), pictureButton = document.getElementById("picture-button");
  pictureButton.hidden = offline;
  pictureButton.addEventListener("click", () => picture.click());
  picture.addEventListener("change", () => { searchPicture(picture.files[0]); picture.value = ""; });
  canvas.addEventListener("dragover", (event) => { if (!offline) event.preventDefault(); });
  canvas.addEventListener("drop", (event) => { event.preventDefault(); searchPicture(event.dataTransfer.files[0]); });

  // -- item panel -------------------------------------------------------------------------
  async function openItem(id) {
    state.panelId = id;
    panel.hidden = false;
    const title = document.getElementById("panel-title"), meta = document.getElementById("panel-meta");
    const links = document.getElementById("panel-links"), similar = document.getElementById("panel-similar");
    const image = document.getElementById("panel-image");
    title.textContent = state.titles[state.index.get(id)] || id;
    for (const el of [meta, links, similar]) el.replaceChildren();
    image.removeAttribute("src");
    if (offline) {
      image.src = cellImage(state.index.get(id));
      showLinks(links, state.links[state.index.get(id)] || {});
      similarOffline(id).forEach((other) => similar.append(similarCard(other, cellImage(state.index.get(other)))));
      return;
    }
    try {
      const [item, like] = await Promise.all([getJson(`items/${encodeURIComponent(id)}`),
                                              getJson(`items/${encodeURIComponent(id)}/similar?limit=9`)]);
      if (state.panelId !== id) return;
      if (item.thumbnail) image.src = item.thumbnail;
      for (const [key, value] of Object.entries(item.metadata || {})) {
        meta.append(Object.assign(document.createElement("dt"), { textContent: key }),
                    Object.assign(document.createElement("dd"), { textContent: [].concat(value).join("; ") }));
      }
      showLinks(links, { ...(item.links || {}), ...(item.viewers || {}) });
      like.results.forEach((r) => similar.append(similarCard(r.id, r.thumbnail)));
    } catch (error) { say(`cannot open ${id}: ${error.message}`); }
  }
  function showLinks(where, links) { // the catalogue's page, the manifest, IIIF viewers: web links only
    for (const [name, href] of Object.entries(links)) {
      if (!/^https?:/.test(href)) continue;
      where.append(Object.assign(document.createElement("a"), { href, textContent: name, rel: "noopener", target: "_blank" }), " ");
    }
  }
  function similarOffline(id) { // nearest on the map: the page has no vectors
    const i = state.index.get(id);
    return [...state.ids.keys()].filter((j) => j !== i)
      .sort((a, b) => ((state.x[a] - state.x[i]) ** 2 + (state.y[a] - state.y[i]) ** 2) - ((state.x[b] - state.x[i]) ** 2 + (state.y[b] - state.y[i]) ** 2))
      .slice(0, 9).map((j) => state.ids[j]);
  }
  function cellImage(i) { // offline: a picture's thumbnail cut from its atlas
    const { cell, row, per_atlas: per } = state.atlas, sheet = state.sheets[Math.floor(i / per)], c = i % per;
    const small = Object.assign(document.createElement("canvas"), { width: cell, height: cell });
    if (sheet) small.getContext("2d").drawImage(sheet, (c % row) * cell, Math.floor(c / row) * cell, cell, cell, 0, 0, cell, cell);
    return small.toDataURL("image/jpeg");
  }
  function similarCard(id, thumbnail) {
    const li = document.createElement("li");
    const img = Object.assign(document.createElement("img"), { alt: state.titles[state.index.get(id)] || id, title: id, loading: "lazy" });
    if (thumbnail) img.src = thumbnail;
    img.dataset.id = id;
    img.addEventListener("click", () => { state.flyTo([id]); openItem(id); });
    li.append(img);
    return li;
  }
  document.getElementById("close").addEventListener("click", () => { panel.hidden = true; state.panelId = null; });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") { panel.hidden = true; state.panelId = null; } });

  load().catch((error) => { say(`The map cannot be shown: ${error.message}`); state.error = error.message; });
})();
