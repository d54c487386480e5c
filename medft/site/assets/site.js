// The results site's behaviour: sortable tables, filters, the paginated item browser, run comparison.
// Plain DOM code, no network: every page works from a folder or a file:// URL.
(function () {
  "use strict";
  var PAGE = 50; // items per page: 4,183 MedMCQA questions render 50 at a time

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function sortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th[data-sort]").forEach(function (th, index) {
        th.classList.add("clickable");
        th.addEventListener("click", function () {
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          var numeric = th.dataset.sort === "number";
          var dir = th.dataset.dir === "asc" ? -1 : 1;
          table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
          th.dataset.dir = dir === 1 ? "asc" : "desc";
          rows.sort(function (a, b) {
            var x = a.cells[index], y = b.cells[index];
            if (numeric) {
              var u = parseFloat(x.dataset.value), v = parseFloat(y.dataset.value);
              if (isNaN(u)) return 1;
              if (isNaN(v)) return -1;
              return dir * (u - v);
            }
            return dir * x.textContent.localeCompare(y.textContent, undefined, { numeric: true });
          });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      });
    });
  }

  function sweepPage() {
    sortable();
    var selects = document.querySelectorAll("#filters select");
    var count = document.getElementById("visible-count");
    function apply() {
      var shown = 0, rows = document.querySelectorAll("#results tbody tr.setting");
      rows.forEach(function (row) {
        var ok = true;
        selects.forEach(function (s) {
          if (s.value && row.getAttribute("data-s" + s.dataset.filter) !== s.value) ok = false;
        });
        row.hidden = !ok;
        shown += ok ? 1 : 0;
      });
      if (count) count.textContent = shown + " of " + rows.length + " settings shown";
    }
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    apply();
  }

  function pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1); }

  function choiceBlock(item) {
    var box = el("div", { "class": "item item-" + (item.outcome || "generated").replace(" ", "-") });
    var head = el("div", { "class": "item-head" });
    head.appendChild(el("span", { "class": "tag" }, item.set));
    if (item.subject) head.appendChild(el("span", { "class": "tag" }, item.subject));
    if (item.outcome) head.appendChild(el("span", { "class": "tag outcome" }, item.outcome));
    if (item.id !== null && item.id !== undefined) head.appendChild(el("span", { "class": "tag" }, "id " + item.id));
    box.appendChild(head);
    if (item.question) box.appendChild(el("p", { "class": "question" }, item.question));
    if (item.kind === "generated") {
      var grid = el("div", { "class": "answers" });
      grid.appendChild(answer("reference", item.reference, null));
      if (item.before) grid.appendChild(answer("base model", item.before.text, item.before.rouge_l));
      if (item.after) grid.appendChild(answer("tuned model", item.after.text, item.after.rouge_l));
      box.appendChild(grid);
      return box;
    }
    var table = el("table", { "class": "choices" });
    var hr = el("tr");
    ["option", "base score", "tuned score"].forEach(function (h) { hr.appendChild(el("th", {}, h)); });
    table.appendChild(hr);
    var n = Math.max((item.before || item.after).scores.length, item.options.length);
    for (var j = 0; j < n; j++) {
      var tr = el("tr");
      if (j === item.gold) tr.className = "gold";
      var label = item.options[j] || String.fromCharCode(65 + j);
      var marks = (j === item.gold ? " ✓ answer" : "") +
        (item.before && item.before.pred === j ? " · base picks" : "") +
        (item.after && item.after.pred === j ? " · tuned picks" : "");
      tr.appendChild(el("td", {}, label + marks));
      tr.appendChild(el("td", { "class": "num" }, item.before ? item.before.scores[j].toFixed(3) : "—"));
      tr.appendChild(el("td", { "class": "num" }, item.after ? item.after.scores[j].toFixed(3) : "—"));
      table.appendChild(tr);
    }
    box.appendChild(table);
    return box;
  }

  function answer(title, text, rouge) {
    var div = el("div", { "class": "answer" });
    div.appendChild(el("h4", {}, title + (rouge === null ? "" : " · ROUGE-L " + pct(rouge))));
    div.appendChild(el("p", {}, text || "(not shown)"));
    return div;
  }

  function itemBrowser(slug) {
    var data = (window.MEDFT_ITEMS || {})[slug] || { items: [] };
    var items = data.items, page = 0, shown = items;
    var controls = document.querySelectorAll("#item-filters [data-field]");
    controls.forEach(function (c) {
      if (c.tagName !== "SELECT" || c.dataset.field === "outcome") return;
      var values = {};
      items.forEach(function (it) { if (it[c.dataset.field]) values[it[c.dataset.field]] = 1; });
      Object.keys(values).sort().forEach(function (v) { c.appendChild(el("option", { value: v }, v)); });
    });
    function filter() {
      shown = items.filter(function (it) {
        for (var i = 0; i < controls.length; i++) {
          var c = controls[i], v = c.value;
          if (!v) continue;
          if (c.dataset.field === "q") {
            if ((it.question || "").toLowerCase().indexOf(v.toLowerCase()) < 0) return false;
          } else if (it[c.dataset.field] !== v) return false;
        }
        return true;
      });
      page = 0;
      render();
    }
    function pager(box) {
      box.innerHTML = "";
      var pages = Math.max(1, Math.ceil(shown.length / PAGE));
      var prev = el("button", { "class": "prev" }, "‹ previous"), next = el("button", { "class": "next" }, "next ›");
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
      prev.onclick = function () { page--; render(); };
      next.onclick = function () { page++; render(); };
      box.appendChild(prev);
      box.appendChild(el("span", { "class": "page-of" }, " page " + (page + 1) + " of " + pages + " "));
      box.appendChild(next);
    }
    function render() {
      var tally = {};
      shown.forEach(function (it) { tally[it.outcome || "generated"] = (tally[it.outcome || "generated"] || 0) + 1; });
      var parts = Object.keys(tally).map(function (k) { return tally[k] + " " + k; });
      document.getElementById("item-summary").textContent =
        shown.length + " of " + items.length + " items" + (parts.length ? " (" + parts.join(", ") + ")" : "");
      var list = document.getElementById("items");
      list.innerHTML = "";
      shown.slice(page * PAGE, (page + 1) * PAGE).forEach(function (it) { list.appendChild(choiceBlock(it)); });
      pager(document.getElementById("pager-top"));
      pager(document.getElementById("pager-bottom"));
    }
    controls.forEach(function (c) { c.addEventListener(c.tagName === "INPUT" ? "input" : "change", filter); });
    render();
  }

  function loadItems(slug, done) {
    if ((window.MEDFT_ITEMS || {})[slug]) return done();
    var s = el("script", { src: "data/items_" + slug + ".js" });
    s.onload = done;
    document.head.appendChild(s);
  }

  function comparePage() {
    var a = document.getElementById("run-a"), b = document.getElementById("run-b");
    var hash = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var p = kv.split("="); if (p[1]) hash[p[0]] = decodeURIComponent(p.slice(1).join("="));
    });
    if (hash.a) a.value = hash.a;
    if (hash.b) b.value = hash.b;
    function render() {
      var runs = window.MEDFT_RUNS || {}, ra = runs[a.value], rb = runs[b.value];
      var box = document.getElementById("compare-config");
      box.innerHTML = "";
      if (!ra || !rb) return;
      var keys = {}, table = el("table", { "class": "diff", id: "config-diff" }), tr = el("tr");
      ["key", ra.name, rb.name].forEach(function (h) { tr.appendChild(el("th", {}, h)); });
      table.appendChild(tr);
      Object.keys(ra.config).concat(Object.keys(rb.config)).forEach(function (k) { keys[k] = 1; });
      Object.keys(keys).sort().forEach(function (k) {
        if (ra.config[k] === rb.config[k] || /^(output_root|cache_dir|hydra\.)/.test(k)) return;
        var row = el("tr");
        row.appendChild(el("td", {}, k));
        row.appendChild(el("td", {}, ra.config[k] === undefined ? "—" : ra.config[k]));
        row.appendChild(el("td", {}, rb.config[k] === undefined ? "—" : rb.config[k]));
        table.appendChild(row);
      });
      box.appendChild(table);
      loadItems(a.value, function () { loadItems(b.value, disagreements); });
    }
    function disagreements() {
      var ia = window.MEDFT_ITEMS[a.value].items, ib = window.MEDFT_ITEMS[b.value].items;
      var keyed = {};
      ib.forEach(function (it, i) { keyed[it.set + "#" + (it.id === null ? i : it.id)] = it; });
      var differ = [];
      ia.forEach(function (it, i) {
        var other = keyed[it.set + "#" + (it.id === null ? i : it.id)];
        if (!other || !it.after || !other.after) return;
        var x = it.kind === "generated" ? it.after.text : it.after.pred;
        var y = other.kind === "generated" ? other.after.text : other.after.pred;
        if (x !== y) differ.push([it, other]);
      });
      document.getElementById("compare-summary").textContent =
        differ.length + " of " + ia.length + " items answered differently after training";
      var list = document.getElementById("compare-items");
      list.innerHTML = "";
      differ.slice(0, 200).forEach(function (pair) {
        var row = el("div", { "class": "pair" });
        row.appendChild(choiceBlock(pair[0]));
        row.appendChild(choiceBlock(pair[1]));
        list.appendChild(row);
      });
    }
    a.addEventListener("change", render);
    b.addEventListener("change", render);
    render();
  }

  window.medft = { sortable: sortable, sweepPage: sweepPage, itemBrowser: itemBrowser, comparePage: comparePage };
})();
