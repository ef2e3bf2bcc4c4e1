// seqattn explorer: talks to the JSON API under this page (docs/serve.md). No libraries.
"use strict";

var SHADE = [214, 39, 40]; // replaced by /api/models' shade_rgb (seqattn.viz's colour)

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) { e.textContent = text; }
  if (cls) { e.className = cls; }
  return e;
}

// the static views' shading: alpha = weight / largest weight (seqattn.viz.attention._shade)
function shade(w, top) {
  var a = top <= 0 ? 0 : Math.min(1, w / top);
  return "background:rgba(" + SHADE.join(",") + "," + a.toFixed(3) + ")";
}

function showError(msg) { $("error").textContent = msg || ""; }

function api(path, body) {
  showError("");
  var opts = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
  };
  return fetch(path, opts).then(function (r) {
    return r.json().then(function (data) {
      if (!r.ok) {
        var d = data.detail;
        throw new Error(typeof d === "string" ? d : JSON.stringify(d));
      }
      return data;
    });
  });
}

function fill(select, names) {
  select.textContent = "";
  names.forEach(function (n, i) {
    var o = el("option", n); o.value = String(i); select.appendChild(o);
  });
}

// -- classifier ---------------------------------------------------------------------------
function classify(models) {
  var text = $("cls-text").value;
  var model = models[Number($("cls-model").value)].name;
  return api("/api/classify", {model: model, texts: [text]}).then(function (res) {
    var p = res.predictions[0];
    $("cls-label").textContent = p.label;
    $("cls-method").textContent = "(token " + res.method + ")";
    var probs = $("cls-probs"); probs.textContent = "";
    Object.keys(p.probs).forEach(function (k) {
      var tr = el("tr"); tr.appendChild(el("td", k));
      tr.appendChild(el("td", p.probs[k].toFixed(3))); probs.appendChild(tr);
    });
    var box = $("cls-tokens"); box.textContent = "";
    p.tokens.forEach(function (t, i) {
      var s = el("span", t, "tok");
      s.setAttribute("style", p.shades[i]);
      s.title = p.weights[i].toFixed(4);
      if (p.weights[i] > 0) { s.className = "tok shaded"; }
      box.appendChild(s); box.appendChild(document.createTextNode(" "));
    });
  });
}

// -- translator ---------------------------------------------------------------------------
function matrix(src, tgt, att) {
  var top = 0;
  att.forEach(function (row) { row.forEach(function (x) { top = Math.max(top, x); }); });
  var table = el("table", null, "att");
  var head = el("tr"); head.appendChild(el("th"));
  src.forEach(function (k) { head.appendChild(el("th", k, "k")); });
  table.appendChild(head);
  att.forEach(function (row, t) {
    var tr = el("tr"); tr.appendChild(el("th", t < tgt.length ? tgt[t] : "</s>", "q"));
    row.forEach(function (x) {
      var td = el("td", x.toFixed(2)); td.setAttribute("style", shade(x, top));
      td.title = x.toFixed(4); tr.appendChild(td);
    });
    table.appendChild(tr);
  });
  return table;
}

function stepView(src, tgt, att, box, slider, label, table) {
  var t = Number(slider.value), row = att[t], top = Math.max.apply(null, row);
  label.textContent = "step " + (t + 1) + " of " + att.length + ": " +
    (t < tgt.length ? tgt[t] : "</s>");
  box.textContent = "";
  src.forEach(function (k, s) {
    var span = el("span", k, "tok"); span.setAttribute("style", shade(row[s], top));
    span.title = row[s].toFixed(4); box.appendChild(span);
    box.appendChild(document.createTextNode(" "));
  });
  var rows = table.getElementsByTagName("tr");
  for (var i = 1; i < rows.length; i++) { rows[i].className = (i - 1 === t) ? "cur" : ""; }
}

// a per-head switch: "mean" (the attention the search used) and each head of the top layer
function headTabs(h, choose) {
  var tabs = el("div", null, "tabs");
  var names = ["mean"].concat(h.heads.map(function (_, k) { return "head " + (k + 1); }));
  names.forEach(function (name, k) {
    var b = el("button", name, k === 0 ? "on" : ""); b.type = "button";
    b.addEventListener("click", function () {
      Array.prototype.forEach.call(tabs.children, function (c) { c.className = ""; });
      b.className = "on"; choose(k === 0 ? h.attention : h.heads[k - 1]);
    });
    tabs.appendChild(b);
  });
  return tabs;
}

function hypothesis(src, h, index) {
  var div = el("div", null, "hyp"); div.id = "hyp-" + index;
  div.appendChild(el("h3", h.search + ": " + h.text));
  div.appendChild(el("p", "score " + h.score.toFixed(3) + ", tokens: " + h.tokens.join(" "),
                      "note"));
  if (!h.attention || !h.attention.length) {
    div.appendChild(el("p", "this decoder has no attention", "note"));
    return div;
  }
  var slider = el("input", null, "step"); slider.type = "range"; slider.min = "0";
  slider.max = String(h.attention.length - 1); slider.value = "0";
  var label = el("span", null, "note"), box = el("div", null, "tokens step-source");
  var att = h.attention, table = matrix(src, h.tokens, att);
  var update = function () { stepView(src, h.tokens, att, box, slider, label, table); };
  slider.addEventListener("input", update);
  if (h.heads) {
    div.appendChild(headTabs(h, function (m) {
      att = m; var fresh = matrix(src, h.tokens, att);
      div.replaceChild(fresh, table); table = fresh; update();
    }));
  }
  div.appendChild(slider); div.appendChild(label); div.appendChild(box);
  div.appendChild(table);
  update();
  return div;
}

function translate(models) {
  var model = models[Number($("tr-model").value)].name;
  var body = {model: model, text: $("tr-text").value, beam: Number($("tr-beam").value)};
  return api("/api/translate", body).then(function (res) {
    var out = $("tr-out"); out.textContent = "";
    res.hypotheses.forEach(function (h, i) {
      out.appendChild(hypothesis(res.source_tokens, h, i));
    });
  });
}

// -- captioner ----------------------------------------------------------------------------
function drawScene(res, word) {
  var sc = res.scene, canvas = $("cap-canvas");
  var scale = Math.max(1, Math.floor(320 / sc.width));
  canvas.width = sc.width * scale; canvas.height = sc.height * scale;
  var ctx = canvas.getContext("2d");
  for (var y = 0; y < sc.height; y++) {
    for (var x = 0; x < sc.width; x++) {
      var px = sc.pixels[y][x];
      var rgb = sc.channels === 1 ? [px[0], px[0], px[0]] : px;
      ctx.fillStyle = "rgb(" + rgb.join(",") + ")";
      ctx.fillRect(x * scale, y * scale, scale, scale);
    }
  }
  if (word < 0 || word >= res.attention.length) { return; }
  var a = res.attention[word], top = Math.max.apply(null, a);
  var rows = res.grid[0], cols = res.grid[1];
  var ch = canvas.height / rows, cw = canvas.width / cols;
  for (var r = 0; r < rows; r++) {
    for (var c = 0; c < cols; c++) {
      var w = a[r * cols + c], alpha = top <= 0 ? 0 : Math.min(1, w / top) * 0.7;
      ctx.fillStyle = "rgba(" + SHADE.join(",") + "," + alpha.toFixed(3) + ")";
      ctx.fillRect(c * cw, r * ch, cw, ch);
    }
  }
}

function caption(models) {
  var model = models[Number($("cap-model").value)].name;
  var body = {model: model, scene: Number($("cap-scene").value),
              beam: Number($("cap-beam").value)};
  return api("/api/caption", body).then(function (res) {
    $("cap-caption").textContent = res.caption || "(empty)";
    var box = $("cap-words"); box.textContent = "";
    res.words.forEach(function (w, i) {
      var b = el("button", w, "tok"); b.type = "button";
      b.addEventListener("click", function () {
        Array.prototype.forEach.call(box.children, function (c) { c.className = "tok"; });
        b.className = "tok cur"; drawScene(res, i);
      });
      box.appendChild(b);
    });
    drawScene(res, res.words.length ? 0 : -1);
    if (box.children.length) { box.children[0].className = "tok cur"; }
  });
}

// -- runs and start -----------------------------------------------------------------------
function runs() {
  return api("/api/runs").then(function (list) {
    if (!list.length) { return; }
    $("runs").hidden = false;
    var ul = $("runs-list");
    list.forEach(function (r) {
      var li = el("li");
      if (r.report) { var a = el("a", r.name); a.href = r.report; li.appendChild(a); }
      else { li.appendChild(el("span", r.name + " (no report.html)")); }
      ul.appendChild(li);
    });
  });
}

function wire(kind, section, models, fn) {
  var mine = models.filter(function (m) { return m.kind === kind; });
  if (!mine.length) { return mine; }
  $(section).hidden = false;
  var prefix = {classifier: "cls", translator: "tr", captioner: "cap"}[section];
  fill($(prefix + "-model"), mine.map(function (m) { return m.name; }));
  $(prefix + "-go").addEventListener("click", function () {
    var b = $(prefix + "-go"); b.disabled = true;
    fn(mine).catch(function (e) { showError(e.message); })
      .then(function () { b.disabled = false; document.body.dataset.ready = "1"; });
  });
  return mine;
}

function start() {
  api("/api/models").then(function (res) {
    SHADE = res.shade_rgb;
    var m = res.models;
    $("status").textContent = m.length + " model(s): " +
      m.map(function (x) { return x.name + " (" + x.kind + ")"; }).join(", ");
    wire("text-classifier", "classifier", m, classify);
    wire("translation", "translator", m, translate);
    var caps = wire("captioner", "captioner", m, caption);
    var pickScenes = function () {
      fill($("cap-scene"), caps[Number($("cap-model").value)].scenes);
    };
    if (caps.length) { pickScenes(); $("cap-model").addEventListener("change", pickScenes); }
    return runs();
  }).catch(function (e) { showError(e.message); });
}

document.addEventListener("DOMContentLoaded", start);
