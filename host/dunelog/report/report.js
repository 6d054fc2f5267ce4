/* dunelog report: draws the timeline and the x-y charts from the embedded JSON (#dl-data),
   zoom (wheel), pan (drag), reset (double-click); time charts and the timeline share one
   view, distance charts another.  Sortable tables, zoomable route map.  No dependencies. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("dl-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
  var views = {t: null, km: null};
  var drawn = [];

  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function fmtNum(v, step) {
    var dec = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
    return v.toFixed(dec);
  }
  function fmtX(kind, v, step) {
    if (kind === "utc") {
      var d = new Date(v * 1000);
      var s = pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
      if (step < 60) s += ":" + pad2(d.getUTCSeconds());
      if (step < 1) s += "." + String(d.getUTCMilliseconds()).padStart(3, "0").slice(0, 1);
      return s;
    }
    return fmtNum(v, step);
  }
  function utcDate(v) { return new Date(v * 1000).toISOString().slice(0, 10); }
  function xTitle(kind, a, b) {
    if (kind === "utc") {
      var d0 = utcDate(a), d1 = utcDate(b);
      return "time, UTC (" + d0 + (d1 !== d0 ? " - " + d1 : "") + ")";
    }
    if (kind === "km") return "distance along the track (km)";
    return "time (s; no UTC sync: boots laid end to end)";
  }
  function niceTicks(a, b, n, kind) {
    var span = b - a, step;
    if (!(span > 0)) return {step: 1, ticks: [a]};
    if (kind === "utc" && span / n >= 1) {
      var c = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400];
      step = 86400;
      for (var i = 0; i < c.length; i++) if (c[i] >= span / n) { step = c[i]; break; }
    } else {
      var raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
      step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
    }
    var t = [];
    for (var x = Math.ceil(a / step) * step; x <= b + 1e-9 * span; x += step) t.push(x);
    return {step: step, ticks: t};
  }
  function groupOf(kind) { return kind === "km" ? "km" : "t"; }

  function fullRange(spec) {
    if (spec.xkind !== "km") return [D.axis.x0, D.axis.x1];
    var a = Infinity, b = -Infinity;
    spec.series.forEach(function (s) {
      if (s.x.length) { a = Math.min(a, s.x[0]); b = Math.max(b, s.x[s.x.length - 1]); }
    });
    if (!isFinite(a)) return [0, 1];
    return a === b ? [a - 0.5, b + 0.5] : [a, b];
  }
  function medianStep(x) {
    if (x.length < 2) return 0;
    var d = [];
    for (var i = 1; i < x.length; i++) d.push(x[i] - x[i - 1]);
    d.sort(function (p, q) { return p - q; });
    return d[d.length >> 1];
  }

  /* ------------------------------------------------------------------ x-y chart */
  function Chart(div, key) {
    this.div = div;
    this.setKey(key);
    drawn.push(this);
    attachZoom(this, div);
  }
  Chart.prototype.setKey = function (key) {
    this.key = key;
    this.spec = D.charts[key];
    this.group = groupOf(this.spec.xkind);
    this.full = fullRange(this.spec);
    this.spec.series.forEach(function (s) {
      if (s._gap === undefined) s._gap = 3 * medianStep(s.x);
    });
  };
  Chart.prototype.plotBox = function () {
    var W = Math.max(this.div.clientWidth || 0, 320);
    return {W: W, H: 230, l: 64, r: 32, t: 24, b: 40};
  };
  Chart.prototype.draw = function () {
    var spec = this.spec, box = this.plotBox();
    var v = views[this.group] || this.full, a = v[0], b = v[1];
    var pw = box.W - box.l - box.r, ph = box.H - box.t - box.b;
    var svg = el("svg", {width: box.W, height: box.H, viewBox: "0 0 " + box.W + " " + box.H,
                         "class": "xy", "data-key": this.key});
    var lo = Infinity, hi = -Infinity, shown = 0;
    var parts = spec.series.map(function (s) {
      var i0 = 0, i1 = s.x.length;
      while (i0 < i1 && s.x[i0] < a) i0++;
      while (i1 > i0 && s.x[i1 - 1] > b) i1--;
      i0 = Math.max(0, i0 - 1); i1 = Math.min(s.x.length, i1 + 1);
      for (var i = i0; i < i1; i++) {
        var l = s.lo ? s.lo[i] : s.mean[i], h = s.hi ? s.hi[i] : s.mean[i];
        if (s.x[i] >= a && s.x[i] <= b) {
          if (l < lo) lo = l;
          if (h > hi) hi = h;
        }
      }
      shown += Math.max(0, i1 - i0);
      return [i0, i1];
    });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (spec.series.some(function (s) { return s.bars; }) || spec.ylabel.indexOf("%") >= 0 ||
        spec.ylabel.indexOf("/s") >= 0) lo = Math.min(lo, 0);
    if (hi === lo) { hi += 0.5; lo -= 0.5; }
    var padY = (hi - lo) * 0.05; lo -= padY; hi += padY;
    function X(x) { return box.l + (x - a) / (b - a) * pw; }
    function Y(y) { return box.t + (1 - (y - lo) / (hi - lo)) * ph; }
    el("rect", {x: box.l, y: box.t, width: pw, height: ph, "class": "plotbg"}, svg);
    var yt = niceTicks(lo, hi, 5, "n"), xt = niceTicks(a, b, Math.max(2, Math.floor(pw / 90)),
                                                          spec.xkind);
    var grid = el("g", {"class": "grid"}, svg);
    yt.ticks.forEach(function (y) {
      el("line", {x1: box.l, x2: box.l + pw, y1: Y(y), y2: Y(y)}, grid);
      el("text", {x: box.l - 4, y: Y(y) + 4, "text-anchor": "end"}, grid).textContent =
        fmtNum(y, yt.step);
    });
    xt.ticks.forEach(function (x) {
      el("line", {x1: X(x), x2: X(x), y1: box.t, y2: box.t + ph}, grid);
      el("text", {x: X(x), y: box.t + ph + 14, "text-anchor": "middle"}, grid).textContent =
        fmtX(spec.xkind, x, xt.step);
    });
    var clipId = "clip-" + this.key;
    var defs = el("defs", {}, svg);
    el("rect", {x: box.l, y: box.t, width: pw, height: ph}, el("clipPath", {id: clipId}, defs));
    var plot = el("g", {"clip-path": "url(#" + clipId + ")", "class": "data"}, svg);
    var npts = 0;
    spec.series.forEach(function (s, k) {
      var col = COLORS[k % COLORS.length], r = parts[k], i, d = "", band = "";
      if (s.bars) {
        for (i = r[0]; i < r[1]; i++)
          d += "M" + X(s.x[i]).toFixed(1) + " " + Y(0).toFixed(1) + "V" + Y(s.mean[i]).toFixed(1);
        el("path", {d: d, stroke: col, "stroke-width": 2, "class": "bars"}, plot);
        npts += r[1] - r[0];
        return;
      }
      var runs = [], start = r[0];
      for (i = r[0] + 1; i <= r[1]; i++) {
        if (i === r[1] || (s._gap > 0 && s.x[i] - s.x[i - 1] > s._gap)) {
          runs.push([start, i]); start = i;
        }
      }
      runs.forEach(function (run) {
        var j, seg = "";
        for (j = run[0]; j < run[1]; j++)
          seg += (j === run[0] ? "M" : "L") + X(s.x[j]).toFixed(1) + " " + Y(s.mean[j]).toFixed(1);
        if (run[1] - run[0] === 1) seg += "h1";
        d += seg;
        if (s.lo) {
          var up = "", dn = "";
          for (j = run[0]; j < run[1]; j++)
            up += (j === run[0] ? "M" : "L") + X(s.x[j]).toFixed(1) + " " + Y(s.hi[j]).toFixed(1);
          for (j = run[1] - 1; j >= run[0]; j--)
            dn += "L" + X(s.x[j]).toFixed(1) + " " + Y(s.lo[j]).toFixed(1);
          band += up + dn + "Z";
        }
      });
      if (band) el("path", {d: band, fill: col, "fill-opacity": 0.22, stroke: "none",
                            "class": "band"}, plot);
      el("path", {d: d, fill: "none", stroke: col, "stroke-width": 1.3, "class": "line"}, plot);
      npts += r[1] - r[0];
    });
    svg.setAttribute("data-points", npts);
    el("text", {x: box.l, y: 15, "class": "title"}, svg).textContent = spec.title;
    el("text", {x: box.l + pw / 2, y: box.H - 6, "text-anchor": "middle", "class": "axis"}, svg)
      .textContent = xTitle(spec.xkind, a, b);
    el("text", {x: 12, y: box.t + ph / 2, "text-anchor": "middle", "class": "axis",
                transform: "rotate(-90 12 " + (box.t + ph / 2) + ")"}, svg).textContent =
      spec.ylabel;
    if (spec.series.length > 1) {
      var lx = box.l + pw;
      for (var k = spec.series.length - 1; k >= 0; k--) {
        var t = el("text", {x: lx, y: 15, "text-anchor": "end",
                            fill: COLORS[k % COLORS.length], "class": "legend"}, svg);
        t.textContent = "\u25A0 " + spec.series[k].name;
        lx -= 8 * spec.series[k].name.length + 24;
      }
    }
    this.box = box; this.pw = pw;
    this.div.replaceChildren(svg);
  };

  /* ------------------------------------------------------------------ timeline */
  function Timeline(div) {
    this.div = div; this.group = "t"; this.full = [D.axis.x0, D.axis.x1];
    drawn.push(this);
    attachZoom(this, div);
  }
  Timeline.prototype.draw = function () {
    var lanes = D.timeline, W = Math.max(this.div.clientWidth || 0, 320), rowH = 24;
    var box = {l: 96, r: 32, t: 8, b: 34};
    var H = box.t + rowH * lanes.length + box.b, pw = W - box.l - box.r;
    var v = views.t || this.full, a = v[0], b = v[1];
    var kind = D.axis.utc ? "utc" : "s";
    function X(x) { return box.l + (x - a) / (b - a) * pw; }
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "tl"});
    var defs = el("defs", {}, svg);
    el("rect", {x: box.l, y: 0, width: pw, height: H}, el("clipPath", {id: "clip-tl"}, defs));
    var xt = niceTicks(a, b, Math.max(2, Math.floor(pw / 90)), kind);
    var grid = el("g", {"class": "grid"}, svg);
    xt.ticks.forEach(function (x) {
      el("line", {x1: X(x), x2: X(x), y1: box.t, y2: H - box.b}, grid);
      el("text", {x: X(x), y: H - box.b + 14, "text-anchor": "middle"}, grid).textContent =
        fmtX(kind, x, xt.step);
    });
    var nItems = 0;
    lanes.forEach(function (lane, k) {
      var y = box.t + k * rowH;
      el("text", {x: box.l - 6, y: y + rowH / 2 + 4, "text-anchor": "end", "class": "lane"}, svg)
        .textContent = lane.name + " (" + (lane.items.length + lane.points.length) + ")";
      el("rect", {x: box.l, y: y + 2, width: pw, height: rowH - 4, "class": "laneBg"}, svg);
      var g = el("g", {"clip-path": "url(#clip-tl)", "class": "lane-items",
                       "data-lane": lane.name}, svg);
      lane.items.forEach(function (it) {
        var x0 = X(it.x0), x1 = X(it.x1);
        if (x1 < box.l - 2 || x0 > box.l + pw + 2) return;
        var r = el("rect", {x: x0, y: y + 4, width: Math.max(2, x1 - x0), height: rowH - 8,
                            "class": "item " + it.cls}, g);
        el("title", {}, r).textContent = it.label;
        nItems++;
      });
      lane.points.forEach(function (p) {
        var x = X(p.x);
        if (x < box.l - 2 || x > box.l + pw + 2) return;
        var m = el("path", {d: "M" + x.toFixed(1) + " " + (y + 3) + "l-4 -0 l4 " + (rowH - 6) +
                               " l4 -" + (rowH - 6) + "z", "class": "mark " + p.cls}, g);
        el("title", {}, m).textContent = p.label;
        nItems++;
      });
    });
    svg.setAttribute("data-items", nItems);
    el("text", {x: box.l + pw / 2, y: H - 4, "text-anchor": "middle", "class": "axis"}, svg)
      .textContent = xTitle(kind, a, b);
    this.box = {l: box.l}; this.pw = pw;
    this.div.replaceChildren(svg);
  };

  /* ------------------------------------------------------------------ zoom / pan */
  var pending = false;
  function redraw(group) {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      drawn.forEach(function (c) { if (!group || c.group === group) c.draw(); });
    });
  }
  function attachZoom(c, div) {
    var drag = null;
    function frac(ev) {
      var r = div.getBoundingClientRect();
      return Math.min(1, Math.max(0, (ev.clientX - r.left - c.box.l) / c.pw));
    }
    div.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var v = views[c.group] || c.full, f = frac(ev), span = v[1] - v[0];
      var k = ev.deltaY < 0 ? 0.8 : 1.25, ns = span * k;
      var full = c.full[1] - c.full[0];
      if (ns >= full) { views[c.group] = null; redraw(c.group); return; }
      if (ns < full * 1e-6) return;
      var a = v[0] + f * span - f * ns;
      a = Math.max(c.full[0], Math.min(a, c.full[1] - ns));
      views[c.group] = [a, a + ns];
      redraw(c.group);
    }, {passive: false});
    div.addEventListener("mousedown", function (ev) {
      drag = {x: ev.clientX, v: views[c.group] || c.full};
      ev.preventDefault();
    });
    window.addEventListener("mousemove", function (ev) {
      if (!drag || !views[c.group]) return;
      var span = drag.v[1] - drag.v[0], dx = (ev.clientX - drag.x) / c.pw * span;
      var a = Math.max(c.full[0], Math.min(drag.v[0] - dx, c.full[1] - span));
      views[c.group] = [a, a + span];
      redraw(c.group);
    });
    window.addEventListener("mouseup", function () { drag = null; });
    div.addEventListener("dblclick", function () { views[c.group] = null; redraw(c.group); });
  }

  /* ------------------------------------------------------------------ route map */
  function zoomSvg(svg) {
    var vb0 = svg.getAttribute("viewBox").split(/\s+/).map(Number), vb = vb0.slice(), drag = null;
    function set() { svg.setAttribute("viewBox", vb.join(" ")); }
    function pt(ev) {
      var r = svg.getBoundingClientRect(), s = Math.max(vb[2] / r.width, vb[3] / r.height);
      var ox = (r.width * s - vb[2]) / 2, oy = (r.height * s - vb[3]) / 2;
      return [vb[0] + (ev.clientX - r.left) * s - ox, vb[1] + (ev.clientY - r.top) * s - oy, s];
    }
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var p = pt(ev), k = ev.deltaY < 0 ? 0.8 : 1.25;
      if (vb[2] * k > vb0[2] * 1.5) return;
      vb = [p[0] - (p[0] - vb[0]) * k, p[1] - (p[1] - vb[1]) * k, vb[2] * k, vb[3] * k];
      set();
    }, {passive: false});
    svg.addEventListener("mousedown", function (ev) { drag = pt(ev); ev.preventDefault(); });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      var p = pt(ev);
      vb[0] -= p[0] - drag[0]; vb[1] -= p[1] - drag[1]; set();
    });
    window.addEventListener("mouseup", function () { drag = null; });
    svg.addEventListener("dblclick", function () { vb = vb0.slice(); set(); });
  }

  /* ------------------------------------------------------------------ tables */
  function sortable(table) {
    var ths = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute("data-sort") !== "asc";
        Array.prototype.forEach.call(ths, function (h) { h.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", asc ? "asc" : "desc");
        function val(r) {
          var c = r.cells[col], v = c.getAttribute("data-v");
          v = v === null ? c.textContent.trim() : v;
          var n = Number(v);
          return v !== "" && !isNaN(n) ? n : v.toLowerCase();
        }
        rows.sort(function (p, q) {
          var x = val(p), y = val(q);
          var r = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0)
                                        : (typeof x === "number" ? -1 : 1);
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  /* ------------------------------------------------------------------ start */
  var tl = document.getElementById("timeline");
  if (tl) new Timeline(tl);
  Array.prototype.forEach.call(document.querySelectorAll("div.chart[data-chart]"), function (div) {
    if (D.charts[div.getAttribute("data-chart")]) div._chart = new Chart(div, div.getAttribute("data-chart"));
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.xtoggle"), function (btn) {
    btn.addEventListener("click", function () {
      var div = btn.parentNode.querySelector("div.chart"), c = div._chart;
      var next = c.key === btn.getAttribute("data-for") ? btn.getAttribute("data-alt")
                                                         : btn.getAttribute("data-for");
      c.setKey(next);
      btn.textContent = c.spec.xkind === "km" ? "against time" : "against distance";
      c.draw();
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
  Array.prototype.forEach.call(document.querySelectorAll("svg.zoomable"), zoomSvg);
  drawn.forEach(function (c) { c.draw(); });
  window.addEventListener("resize", function () { redraw(null); });
  document.body.setAttribute("data-rendered", String(drawn.length));
})();
