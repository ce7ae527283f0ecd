// iconodex search page: plain JavaScript against the REST API (/search, /items, /facets, /health).
"use strict";

const PAGE_SIZE = 24;
const FACET_FIELDS = 4;   // filter groups shown, most common fields first
const FACET_VALUES = 8;   // values per group
const $ = (id) => document.getElementById(id);

const state = { q: "", picture: null, like: null, alpha: 0.5, where: new Map(), offset: 0, current: null };

// -- requests ---------------------------------------------------------------------------------

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function searchParams() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.like) params.set("like", state.like);
  params.set("alpha", String(state.alpha));
  params.set("limit", String(PAGE_SIZE));
  params.set("offset", String(state.offset));
  for (const [field, values] of state.where) for (const value of values) params.append("where", `${field}:${value}`);
  return params;
}

function runSearch() {
  const params = searchParams();
  if (state.picture) {
    const form = new FormData();
    for (const [key, value] of params) form.append(key, value);
    form.append("image", state.picture, state.picture.name || "picture");
    return api("/search", { method: "POST", body: form });
  }
  return api(`/search?${params}`);
}

// -- searching --------------------------------------------------------------------------------

async function search({ append = false } = {}) {
  if (!state.q && !state.picture && !state.like) {
    say("Type a description, drop a picture, or pick “More like this”.");
    return;
  }
  if (!append) state.offset = 0;
  rememberInAddress();
  say("Searching…");
  try {
    const page = await runSearch();
    render(page.results, append);
    const shown = $("results").children.length;
    say(shown ? `${shown} result${shown === 1 ? "" : "s"} ${describeQuery()}` : nothingShown(page));
    $("more").hidden = page.results.length < PAGE_SIZE;
  } catch (error) {
    say(error.message, true);
    if (!append) $("results").replaceChildren();
    $("more").hidden = true;
  }
}

// The address bar carries the query, so a search can be bookmarked, shared and reloaded.
function rememberInAddress() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.like) params.set("like", state.like);
  if (state.alpha !== 0.5) params.set("alpha", String(state.alpha));
  history.replaceState(null, "", params.size ? `?${params}` : location.pathname);
}

function restoreFromAddress() {
  const params = new URLSearchParams(location.search);
  state.q = (params.get("q") || "").trim();
  state.like = params.get("like");
  const alpha = Number(params.get("alpha"));
  if (params.has("alpha") && alpha >= 0 && alpha <= 1) {
    state.alpha = alpha;
    $("alpha").value = String(alpha);
    $("alpha-value").textContent = alpha.toFixed(1);
  }
  $("q").value = state.q;
  if (state.q || state.like) search();
}

// An honest empty answer: candidates existed, but none scored the model's relevance cut.
function nothingShown(page) {
  if (page.no_good_match) {
    return `No good match ${describeQuery()}: no picture scored ${page.min_score} or more. Try other words.`;
  }
  return `No results ${describeQuery()}.`;
}

function describeQuery() {
  if (state.like) return "like the chosen picture";
  const parts = [];
  if (state.q) parts.push(`for “${state.q}”`);
  if (state.picture) parts.push("like your picture");
  return parts.join(" and ");
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

// -- results ----------------------------------------------------------------------------------

function render(results, append) {
  const list = $("results");
  if (!append) list.replaceChildren();
  for (const result of results) list.append(card(result));
}

function card(result) {
  const item = document.createElement("li");
  item.className = "card";
  item.dataset.id = result.id;

  const open = document.createElement("button");
  open.className = "open";
  open.type = "button";
  open.setAttribute("aria-label", `${result.title || result.id}, score ${score(result.score)}: show details`);
  const frame = document.createElement("span");
  frame.className = "thumb";
  const img = document.createElement("img");
  img.loading = "lazy";
  img.decoding = "async";
  img.alt = result.title || result.id;
  img.width = 300;
  img.height = 300;
  if (result.thumbnail) img.src = result.thumbnail;
  frame.append(img);
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = result.title || result.id;
  open.append(frame, title);
  open.addEventListener("click", () => showDetail(result));

  const footer = document.createElement("footer");
  const value = document.createElement("span");
  value.className = "score";
  value.title = "similarity score";
  value.textContent = score(result.score);
  const like = document.createElement("button");
  like.type = "button";
  like.className = "like";
  like.textContent = "More like this";
  like.setAttribute("aria-label", `More like ${result.title || result.id}`);
  like.addEventListener("click", () => moreLike(result.id));
  footer.append(value, like);

  item.append(open, footer);
  return item;
}

const score = (value) => Number(value).toFixed(3);

function moreLike(id) {
  closeDetail();
  state.like = id;
  state.q = "";
  state.picture = null;
  $("q").value = "";
  showPicture(null);
  search();
  $("results").focus();
}

// -- detail -----------------------------------------------------------------------------------

async function showDetail(result) {
  state.current = result;
  const dialog = $("detail");
  $("detail-title").textContent = result.title || result.id;
  $("detail-score").textContent = `score ${score(result.score)}`;
  const img = $("detail-image");
  img.src = result.thumbnail || "";
  img.alt = result.title || result.id;
  fillMetadata({ id: result.id, ...result.metadata });
  fillLinks(result.links || {}, result.viewers || {});
  dialog.showModal();
  $("detail-close").focus();
  try {  // the full record may hold more than the search result carried
    const item = await api(`/items/${encodeURIComponent(result.id)}`);
    if (state.current === result) fillMetadata({ id: item.id, ...item.metadata });
  } catch { /* the result's own metadata stays */ }
}

function fillMetadata(metadata) {
  const list = $("detail-metadata");
  list.replaceChildren();
  for (const [field, values] of Object.entries(metadata)) {
    const term = document.createElement("dt");
    term.textContent = field;
    const value = document.createElement("dd");
    value.textContent = Array.isArray(values) ? values.join(" · ") : String(values);
    list.append(term, value);
  }
}

function fillLinks(links, viewers) {
  const labels = [["page", links.page, "Source page"], ["manifest", links.manifest, "IIIF manifest"],
                  ["mirador", viewers.mirador, "Open in Mirador"],
                  ["uv", viewers.universal_viewer, "Open in Universal Viewer"]];
  const list = $("detail-links");
  list.replaceChildren();
  for (const [name, href, label] of labels) {
    if (!href) continue;
    const entry = document.createElement("li");
    const link = document.createElement("a");
    link.href = href;
    link.textContent = label;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.dataset.link = name;
    entry.append(link);
    list.append(entry);
  }
}

function closeDetail() {
  const dialog = $("detail");
  if (!dialog.open) return;
  dialog.close();
  const card = state.current && document.querySelector(`li[data-id="${CSS.escape(state.current.id)}"] .open`);
  if (card) card.focus();
}

// -- pictures ---------------------------------------------------------------------------------

function usePicture(file) {
  if (!file || !file.type.startsWith("image/")) {
    say("That is not a picture.", true);
    return;
  }
  state.picture = file;
  state.like = null;
  showPicture(file);
  search();
}

function showPicture(file) {
  const label = $("drop-label");
  label.replaceChildren();
  if (!file) {
    label.innerHTML = "Drop or paste a picture, or <u>choose a file</u>";
    return;
  }
  const preview = document.createElement("img");
  preview.alt = "your picture";
  preview.src = URL.createObjectURL(file);
  const clear = document.createElement("button");
  clear.type = "button";
  clear.textContent = "Remove picture";
  clear.addEventListener("click", (event) => {
    event.stopPropagation();
    state.picture = null;
    showPicture(null);
    $("file").value = "";
  });
  label.append(preview, document.createTextNode(" Searching with your picture "), clear);
}

function wirePictures() {
  const drop = $("drop");
  drop.addEventListener("click", () => $("file").click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file").click(); }
  });
  $("file").addEventListener("change", (event) => usePicture(event.target.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    usePicture(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) usePicture(file);
  });
}

// -- facets -----------------------------------------------------------------------------------

async function loadFacets() {
  try {
    const { fields } = await api("/facets");
    const wanted = fields.filter((f) => f.field !== "title").slice(0, FACET_FIELDS);
    const groups = await Promise.all(wanted.map((f) => api(`/facets/${encodeURIComponent(f.field)}?limit=${FACET_VALUES}`)));
    $("facets").replaceChildren(...groups.filter((g) => g.values.length > 1 || g.values[0]?.count > 1).map(facetGroup));
  } catch { /* filters are a nicety; searching works without them */ }
}

function facetGroup(group) {
  const set = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = group.field;
  set.append(legend);
  for (const { value, count } of group.values) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.addEventListener("change", () => toggleFilter(group.field, value, box.checked));
    const number = document.createElement("span");
    number.className = "count";
    number.textContent = count;
    label.append(box, document.createTextNode(value), number);
    set.append(label);
  }
  return set;
}

function toggleFilter(field, value, on) {
  const values = state.where.get(field) || new Set();
  if (on) values.add(value); else values.delete(value);
  if (values.size) state.where.set(field, values); else state.where.delete(field);
  search();
}

// -- keyboard ---------------------------------------------------------------------------------

function moveFocus(event) {
  const cards = [...document.querySelectorAll("#results .open")];
  const index = cards.indexOf(document.activeElement);
  if (index < 0) return;
  const columns = Math.max(1, Math.round($("results").clientWidth / cards[0].clientWidth));
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns }[event.key];
  if (step === undefined) return;
  event.preventDefault();
  cards[Math.min(cards.length - 1, Math.max(0, index + step))].focus();
}

// -- start ------------------------------------------------------------------------------------

async function showHealth() {
  try {
    const health = await api("/health");
    const model = health.model === "ready" ? "" : ` (the model is ${health.model}; “more like this” works already)`;
    $("about").textContent = `${health.items.toLocaleString()} pictures, searchable by what they show and what the catalogue says${model}.`;
    if (health.model === "loading") setTimeout(showHealth, 3000);
  } catch { /* the page still works */ }
}

function start() {
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("q").value.trim();
    state.like = null;
    search();
  });
  $("alpha").addEventListener("change", () => search());
  $("alpha").addEventListener("input", (event) => {
    state.alpha = Number(event.target.value);
    $("alpha-value").textContent = state.alpha.toFixed(1);
    const picture = Math.round(state.alpha * 100);
    event.target.setAttribute("aria-valuetext", `${picture}% picture, ${100 - picture}% catalogue`);
  });
  $("more").addEventListener("click", () => { state.offset += PAGE_SIZE; search({ append: true }); });
  $("detail-close").addEventListener("click", closeDetail);
  $("detail-like").addEventListener("click", () => state.current && moreLike(state.current.id));
  $("detail").addEventListener("cancel", (event) => { event.preventDefault(); closeDetail(); });
  $("detail").addEventListener("click", (event) => { if (event.target === $("detail")) closeDetail(); });
  $("results").addEventListener("keydown", moveFocus);
  wirePictures();
  loadFacets();
  showHealth();
  restoreFromAddress();
}

document.addEventListener("DOMContentLoaded", start);
