/**
 * The page's script: plain ES2020 for the browser, kept in a string so the node serves it
 * from dist/ as well (tsc copies no assets). It must contain no backtick and no dollar-brace;
 * test/ui/page.test.ts parses it.
 *
 * Live: GET /api/cluster every 2 s for the cluster view; an EventSource on
 * /api/trace?pattern=... for trace events, drawn as a sequence diagram per key; POST /api/race
 * for the seed's scenario. Replay: a trace file (the simulator's --export, the page's own
 * download, or `paxoskv trace --json` lines), drawn step by step.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
"use strict";

var PALETTE = ["#2563eb", "#ea580c", "#7c3aed", "#0891b2", "#db2777", "#4d7c0f", "#9333ea"];
var GREEN = "#16a34a", RED = "#dc2626", GRAY = "#6b7280";
var LANE_W = 150, GUTTER = 86, ROW_H = 28, HEAD_H = 50, PAD_R = 30;
var SVGNS = "http://www.w3.org/2000/svg";
var EVENTS_PER_KEY_MAX = 2000, KEYS_MAX = 200;

function $(id) { return document.getElementById(id); }
function h(tag, attrs, text) {
  var node = document.createElement(tag);
  for (var k in (attrs || {})) node.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function s(tag, attrs, text) {
  var node = document.createElementNS(SVGNS, tag);
  for (var k in (attrs || {})) node.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/* ---------- trace events ---------- */

function keyMatches(pattern, key) {
  var p = pattern.split("."), k = key.split(".");
  for (var i = 0; i < p.length; i++) {
    if (p[i] === ">") return k.length > i;
    if (i >= k.length || (p[i] !== "*" && p[i] !== k[i])) return false;
  }
  return p.length === k.length;
}

/** (round, node) as the seed writes it; long timestamp rounds keep their last digits. */
function ballot(b, full) {
  if (!b) return "";
  var dot = b.indexOf(".");
  var round = b.slice(0, dot), node = b.slice(dot + 1);
  if (!full && round.length > 6) round = "\u2026" + round.slice(-5);
  return "(" + round + ", " + node + ")";
}

/** A reply carries the chosen value and "created" as fields, or a failure's outcome. */
function replyText(e) {
  if (typeof e.created !== "boolean") return "reply " + (e.outcome || "");
  return "reply " + (e.value || "") + (e.created ? " \u2713 created" : " (not created)");
}

/** The reply as paxoskv trace prints it: "X=7 created=true", or the failure. */
function replyOutcome(e) {
  if (typeof e.created !== "boolean") return e.outcome || "";
  return e.key + "=" + (e.value || "") + " created=" + e.created;
}

/** The arrow's label: short. */
function label(e) {
  switch (e.kind) {
    case "request": return "create \u201c" + (e.value || "") + "\u201d";
    case "prepare": return "Prepare n=" + ballot(e.ballot);
    case "promise": return "Promise n=" + ballot(e.ballot) + "  " +
      (e.accepted ? "accepted [" + ballot(e.accepted.ballot) + ", " + e.accepted.value + "]" : "empty");
    case "accept": return "Accept [" + ballot(e.ballot) + ", " + (e.value || "") + "]";
    case "accepted": return "Accepted n=" + ballot(e.ballot);
    case "nack": return "Nack n=" + ballot(e.ballot) + "  promised " + ballot(e.promised);
    case "retry": return "\u21bb retry: " + (e.outcome || "");
    case "chosen": return "chosen " + e.key + " = " + (e.value || "");
    case "gave-up": return "\u2716 gave up: " + (e.outcome || "");
    case "reply": return replyText(e);
    case "fault": return "\u26a1 " + (e.outcome || "fault");
  }
  return e.kind;
}

/** One line, like paxoskv trace prints it. */
function describe(e) {
  var who = e.from + (e.to && e.to.length && e.kind !== "chosen" ? " \u2192 " + e.to.join(",") : "");
  var tag = e.traceId && e.traceId !== "-" ? "[" + e.traceId + "] " : "";
  var detail;
  switch (e.kind) {
    case "request": detail = "create " + e.key + "=" + (e.value || ""); break;
    case "prepare": detail = "Prepare n=" + ballot(e.ballot, true); break;
    case "promise": detail = "Promise n=" + ballot(e.ballot, true) + " accepted=" +
      (e.accepted ? "[" + ballot(e.accepted.ballot, true) + ", " + e.accepted.value + "]" : "empty"); break;
    case "accept": detail = "Accept [n=" + ballot(e.ballot, true) + ", " + (e.value || "") + "]"; break;
    case "accepted": detail = "Accepted n=" + ballot(e.ballot, true); break;
    case "nack": detail = "Nack n=" + ballot(e.ballot, true) + " promised " + ballot(e.promised, true); break;
    case "retry": detail = "retry after " + (e.outcome || ""); break;
    case "chosen": detail = "chosen " + e.key + "=" + (e.value || "") + " at n=" + ballot(e.ballot, true) +
      " by " + (e.to || []).join(","); break;
    case "gave-up": detail = "gave up: " + (e.outcome || ""); break;
    case "reply": detail = "reply " + replyOutcome(e); break;
    case "fault": detail = e.outcome || "fault"; break;
    default: detail = e.kind;
  }
  return tag + who + "  " + detail;
}

function isEvent(e) {
  return e && typeof e === "object" && typeof e.t === "number" && typeof e.kind === "string" &&
    typeof e.from === "string" && Array.isArray(e.to) && typeof e.key === "string";
}

/* ---------- the sequence diagram ---------- */

/** Lanes: clients, then proposers, then acceptors (a node that is both has two lanes). */
function lanesOf(events, acceptors) {
  var clients = [], proposers = [], accs = [], proposes = {};
  function add(list, id) { if (id && list.indexOf(id) < 0) list.push(id); }
  (acceptors || []).forEach(function (a) { add(accs, a); });
  events.forEach(function (e) {
    var to = e.to || [];
    switch (e.kind) {
      case "request":
        add(clients, e.from); to.forEach(function (t) { add(proposers, t); });
        (proposes[e.from] = proposes[e.from] || []).indexOf(e.value) < 0 &&
          proposes[e.from].push(e.value);
        break;
      case "reply": add(proposers, e.from); to.forEach(function (t) { add(clients, t); }); break;
      case "prepare": case "accept": case "chosen":
        add(proposers, e.from); to.forEach(function (t) { add(accs, t); }); break;
      case "promise": case "accepted": case "nack":
        add(accs, e.from); to.forEach(function (t) { add(proposers, t); }); break;
      case "retry": case "gave-up": add(proposers, e.from); break;
    }
  });
  clients.sort(); proposers.sort(); accs.sort();
  var list = [];
  clients.forEach(function (c) {
    list.push({ id: "c:" + c, name: c, role: proposes[c] ? "client, proposes " + proposes[c].join(", ") : "client" });
  });
  proposers.forEach(function (p) { list.push({ id: "p:" + p, name: p, role: "proposer" }); });
  accs.forEach(function (a) { list.push({ id: "a:" + a, name: a, role: "acceptor" }); });
  var index = {};
  list.forEach(function (lane, i) { index[lane.id] = i; });
  function find(name, order) {
    for (var i = 0; i < order.length; i++) {
      if (index[order[i] + ":" + name] !== undefined) return index[order[i] + ":" + name];
    }
    return -1;
  }
  return {
    list: list,
    from: function (e) {
      switch (e.kind) {
        case "request": return find(e.from, ["c"]);
        case "promise": case "accepted": case "nack": return find(e.from, ["a"]);
        case "fault": return find(e.from, ["a", "p", "c"]);
        default: return find(e.from, ["p"]);
      }
    },
    to: function (e, name) {
      switch (e.kind) {
        case "request": case "promise": case "accepted": case "nack": return find(name, ["p"]);
        case "reply": return find(name, ["c"]);
        case "fault": return find(name, ["a", "p", "c"]);
        default: return find(name, ["a"]);
      }
    },
  };
}

function laneX(i) { return GUTTER + LANE_W * i + LANE_W / 2; }

/** What was chosen per key: the values, and the winning ballots (to mark their Accepts). */
function chosenOf(events) {
  var byKey = {};
  events.forEach(function (e) {
    if (e.kind !== "chosen") return;
    var c = byKey[e.key] = byKey[e.key] || { key: e.key, values: [], ballots: {}, by: {} };
    if (c.values.indexOf(e.value) < 0) c.values.push(e.value);
    c.ballots[e.ballot] = true;
    c.by[e.from] = true;
  });
  return byKey;
}

/**
 * Draws events as a sequence diagram into host. Returns the row groups (one per event, in
 * order) and the body svg, so a replay can show a prefix of the rows.
 */
function renderDiagram(host, events, opts) {
  host.textContent = "";
  if (events.length === 0) {
    host.appendChild(h("div", { class: "diagram-empty" }, opts.empty || "no messages yet"));
    return { rows: [], body: null };
  }
  var lanes = lanesOf(events, opts.acceptors);
  var width = GUTTER + LANE_W * lanes.list.length + PAD_R;
  var height = ROW_H * events.length + 14;
  var chosen = chosenOf(events);
  var colors = {}, nColors = 0;
  function colorOf(traceId) {
    if (colors[traceId] === undefined) colors[traceId] = PALETTE[nColors++ % PALETTE.length];
    return colors[traceId];
  }

  var head = s("svg", { class: "lanes-head", width: width, height: HEAD_H });
  head.appendChild(s("rect", { x: 0, y: 0, width: width, height: HEAD_H, fill: "#ffffff" }));
  lanes.list.forEach(function (lane, i) {
    var x = laneX(i), kind = lane.id.charAt(0);
    var fill = kind === "c" ? "#f1f5f9" : kind === "p" ? "#eff6ff" : "#fefce8";
    var g = s("g", { class: "lane lane-" + (kind === "c" ? "client" : kind === "p" ? "proposer" : "acceptor"),
      "data-lane": lane.id });
    g.appendChild(s("rect", { x: x - LANE_W / 2 + 8, y: 5, width: LANE_W - 16, height: HEAD_H - 10,
      rx: 7, fill: fill, stroke: "#cbd5e1" }));
    g.appendChild(s("text", { x: x, y: 24, "text-anchor": "middle", class: "lane-name" }, lane.name));
    g.appendChild(s("text", { x: x, y: 39, "text-anchor": "middle", class: "lane-role" }, lane.role));
    head.appendChild(g);
  });
  head.appendChild(s("line", { x1: 0, y1: HEAD_H - 0.5, x2: width, y2: HEAD_H - 0.5, stroke: "#e5e7eb" }));

  var body = s("svg", { class: "diagram", width: width, height: height });
  var defs = s("defs");
  var markers = {};
  function marker(color) {
    if (markers[color]) return markers[color];
    var id = "m" + Object.keys(markers).length + (opts.idPrefix || "");
    var m = s("marker", { id: id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10,
      markerHeight: 10, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    m.appendChild(s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: color }));
    defs.appendChild(m);
    markers[color] = "url(#" + id + ")";
    return markers[color];
  }
  body.appendChild(defs);
  lanes.list.forEach(function (lane, i) {
    body.appendChild(s("line", { x1: laneX(i), y1: 0, x2: laneX(i), y2: height,
      stroke: "#d1d5db", "stroke-dasharray": "3 4" }));
  });

  var t0 = events[0].t;
  var rows = [];
  events.forEach(function (e, r) {
    var y = r * ROW_H + ROW_H - 8;
    var win = chosen[e.key];
    var winning = !!(win && e.ballot && win.ballots[e.ballot] &&
      (e.kind === "accept" || e.kind === "accepted"));
    var g = s("g", { class: "ev ev-" + e.kind + (winning ? " winning" : ""), "data-i": r,
      "data-kind": e.kind, "data-key": e.key, "data-trace": e.traceId, "data-from": e.from,
      "data-to": (e.to || []).join(",") });
    if (e.value !== undefined) g.setAttribute("data-value", e.value);
    g.appendChild(s("rect", { class: "bg", x: 0, y: r * ROW_H, width: width, height: ROW_H,
      fill: "transparent" }));
    var title = s("title", {}, describe(e) + (opts.showKey ? "  (" + e.key + ")" : ""));
    g.appendChild(title);
    var tl = opts.unit === "tick" ? "t=" + e.t : "+" + (e.t - t0).toFixed(1) + " ms";
    g.appendChild(s("text", { x: GUTTER - 10, y: y + 4, "text-anchor": "end", class: "time" }, tl));
    var text = (opts.showKey && e.key ? "[" + e.key + "] " : "") + label(e);
    var from = lanes.from(e);
    var color = e.kind === "nack" || e.kind === "gave-up" ? RED : e.kind === "fault" ? GRAY :
      colorOf(e.traceId);
    if (e.kind === "chosen" || e.kind === "retry" || e.kind === "gave-up" ||
        (e.kind === "fault" && (e.to || []).length === 0)) {
      var x = from >= 0 ? laneX(from) : GUTTER + 60;
      if (e.kind === "chosen") {
        (e.to || []).forEach(function (a) {
          var ai = lanes.to(e, a);
          if (ai >= 0) g.appendChild(s("circle", { cx: laneX(ai), cy: y, r: 5, fill: GREEN }));
        });
        var pill = "\u2605 chosen " + (e.key.length <= 12 ? e.key + " = " : "") + (e.value || "");
        if (opts.showKey && e.key.length > 12) pill = "[" + e.key + "] " + pill;
        g.appendChild(s("rect", { class: "pill", x: x - 10, y: y - 13, width: 7.4 * pill.length + 22,
          height: 21, rx: 10, fill: "#bbf7d0", stroke: GREEN }));
        g.appendChild(s("text", { x: x, y: y + 2, class: "lbl chosen" }, pill));
      } else {
        g.appendChild(s("circle", { cx: x, cy: y, r: 4, fill: e.kind === "retry" ? "#f59e0b" : color }));
        g.appendChild(s("text", { x: x + 10, y: y + 4, class: "lbl " + e.kind }, text));
      }
    } else {
      var targets = (e.to || []).map(function (t) { return lanes.to(e, t); })
        .filter(function (i) { return i >= 0; });
      var x1 = from >= 0 ? laneX(from) : GUTTER;
      var reply = e.kind === "promise" || e.kind === "accepted" || e.kind === "nack" || e.kind === "reply";
      targets.forEach(function (ti) {
        var x2 = laneX(ti);
        var dir = x2 > x1 ? 1 : -1;
        var attrs = { x1: x1 + dir * 3, y1: y, x2: x2 - dir * 3, y2: y, stroke: color,
          "stroke-width": winning ? 3 : e.kind === "request" || e.kind === "reply" ? 1.6 : 1.8 };
        if (reply || e.kind === "fault") attrs["stroke-dasharray"] = "6 4";
        if (e.kind === "fault") {
          g.appendChild(s("line", attrs));
          g.appendChild(s("text", { x: x2, y: y + 5, "text-anchor": "middle", fill: RED,
            "font-weight": "700" }, "\u2715"));
        } else {
          attrs["marker-end"] = marker(color);
          g.appendChild(s("line", attrs));
        }
        if (winning) {
          g.insertBefore(s("line", { x1: attrs.x1, y1: y, x2: attrs.x2, y2: y, stroke: "#86efac",
            "stroke-width": 8, "stroke-linecap": "round" }), g.childNodes[2]);
        }
      });
      var far = targets.length ? targets.reduce(function (a, b) {
        return Math.abs(laneX(b) - x1) > Math.abs(laneX(a) - x1) ? b : a;
      }) : from;
      var right = laneX(far) >= x1;
      g.appendChild(s("text", { x: right ? x1 + 10 : x1 - 10, y: y - 6,
        "text-anchor": right ? "start" : "end", class: "lbl " + e.kind, fill: color }, text));
    }
    body.appendChild(g);
    rows.push(g);
  });
  host.appendChild(head);
  host.appendChild(body);
  // Fit the chosen pills to their text, once the browser can measure it (not while hidden).
  rows.forEach(function (g) {
    var pill = g.querySelector("rect.pill"), text = g.querySelector("text.chosen");
    var w = pill && text && text.getComputedTextLength ? text.getComputedTextLength() : 0;
    if (w > 0) pill.setAttribute("width", String(w + 22));
  });
  return { rows: rows, body: body, colors: colors };
}

/** The banner: the chosen value of each key shown, or a violation when two differ. */
function renderChosen(node, events, showKey) {
  var chosen = chosenOf(events), keys = Object.keys(chosen);
  node.className = "banner";
  node.removeAttribute("data-value");
  if (keys.length === 0) {
    node.className = "banner empty";
    node.textContent = "nothing chosen yet";
    return;
  }
  var parts = [], violation = false;
  keys.forEach(function (k) {
    var c = chosen[k];
    if (c.values.length > 1) violation = true;
    parts.push((showKey || keys.length > 1 ? k : k) + " = " + c.values.join(" and ") +
      (c.values.length > 1 ? "  \u2014 TWO VALUES CHOSEN" : "") +
      "  (learned by proposer " + Object.keys(c.by).join(", ") + ")");
  });
  if (violation) node.className = "banner violation";
  if (keys.length === 1) node.setAttribute("data-value", chosen[keys[0]].values.join(","));
  node.setAttribute("data-values", keys.map(function (k) { return chosen[k].values.join(","); }).join(";"));
  node.textContent = "\u2605 chosen: " + parts.join("   \u00b7   ");
}

function renderLegend(node, events, colors) {
  node.textContent = "";
  var seen = {};
  events.forEach(function (e) {
    if (e.kind !== "prepare" || seen[e.traceId] || !colors[e.traceId]) return;
    seen[e.traceId] = true;
    var item = h("span");
    var sw = h("span", { class: "sw" });
    sw.style.borderColor = colors[e.traceId];
    item.appendChild(sw);
    item.appendChild(document.createTextNode("proposal " + e.traceId + " by " + e.from));
    node.appendChild(item);
  });
  [["dashed", RED, "Nack (rejected)"], ["", "#86efac", "Accept/Accepted of the chosen ballot"],
    ["dashed", GRAY, "replies are dashed"]].forEach(function (l) {
    var item = h("span"), sw = h("span", { class: "sw " + l[0] });
    sw.style.borderColor = l[1];
    item.appendChild(sw);
    item.appendChild(document.createTextNode(l[2]));
    node.appendChild(item);
  });
}

/* ---------- cluster view ---------- */

var cluster = { acceptors: ["A", "B", "C"] };

function renderCluster(st) {
  cluster.acceptors = st.acceptors.map(function (a) { return a.id; });
  var self = $("self");
  if (st.self) {
    var r = st.self.readiness;
    self.textContent = "served by node " + st.self.node + " (" + st.self.roles.join(", ") + ")" +
      (r ? (r.ready ? " \u2014 ready" : " \u2014 NOT ready") : "");
    self.title = r ? JSON.stringify(r.checks) : "";
  } else {
    self.textContent = "standalone page server (paxoskv ui) on " + st.nats.server;
  }
  var acc = $("acceptors");
  acc.textContent = "";
  var voting = 0;
  st.acceptors.forEach(function (a) {
    if (a.voting === "voting") voting++;
    var label = a.voting === "voting" ? " voting" : a.voting === "not-voting" ? " NOT voting" :
      a.up ? " up, not heard voting" : " down";
    var chip = h("span", { class: "chip " + (a.voting === "voting" ? "up" : "down"),
      "data-acceptor": a.id, "data-up": a.up ? "true" : "false", "data-voting": a.voting });
    chip.appendChild(h("span", { class: "dot" }));
    chip.appendChild(document.createTextNode("acceptor " + a.id + label));
    acc.appendChild(chip);
  });
  acc.appendChild(h("span", { class: voting >= st.quorum ? "muted" : "errors" },
    voting + " of " + st.acceptors.length + " voting; a quorum is " + st.quorum +
    (voting >= st.quorum ? "" : " \u2014 creates cannot succeed")));
  var raceButton = $("race");
  if (raceButton) {
    raceButton.hidden = !st.race;
    if (!st.race) $("race-result").textContent = "the race creates keys: off on this server " +
      "(PAXOSKV_PAGE_RACE=true, paxoskv ui --race)";
  }
  if (st.self && st.self.readiness) {
    var checks = st.self.readiness.checks;
    Object.keys(checks).forEach(function (name) {
      var v = checks[name];
      var good = name === "lag" ? v === 0 : v === true;
      var chip = h("span", { class: "chip " + (good ? "up" : "down") });
      chip.appendChild(h("span", { class: "dot" }));
      chip.appendChild(document.createTextNode(st.self.node + " /readyz " + name +
        (typeof v === "boolean" ? "" : " " + v)));
      acc.appendChild(chip);
    });
  }
  var tbody = $("nodes-body");
  tbody.textContent = "";
  st.nodes.forEach(function (n) {
    var tr = h("tr", { "data-node": n.node });
    var req = {};
    n.endpoints.forEach(function (e) { req[e.name] = e; });
    function num(name) { return req[name] ? String(req[name].requests) : "\u2013"; }
    [n.node, n.roles.join(", "), n.version, n.started ? new Date(n.started).toLocaleTimeString() : "",
      num("create"), num("get"), num("replica-get"),
      n.replicaSize === null ? "\u2013" : String(n.replicaSize),
      n.lag === null ? "\u2013" : String(n.lag)].forEach(function (v, i) {
      tr.appendChild(h("td", i >= 4 ? { class: "num" } : {}, v));
    });
    tbody.appendChild(tr);
  });
  if (st.nodes.length === 0) {
    var tr = h("tr");
    tr.appendChild(h("td", { colspan: 9, class: "errors" }, "no node answers $SRV.PING"));
    tbody.appendChild(tr);
  }
  $("stream").textContent = st.stream ? st.stream.name + ": " + st.stream.messages +
    " chosen value(s), last sequence " + st.stream.lastSeq +
    (st.stream.lastTs && st.stream.messages > 0 ? " at " + new Date(st.stream.lastTs).toLocaleTimeString() : "")
    : "stream " + "PAXOSKV_CHOSEN" + " not readable";
  $("cluster-errors").textContent = st.errors.join("; ");
  $("cluster-at").textContent = "updated " + new Date(st.at).toLocaleTimeString();
}

function pollCluster() {
  if (document.hidden) return;
  fetch("/api/cluster").then(function (r) { return r.json(); }).then(renderCluster, function (err) {
    $("cluster-errors").textContent = "cluster view: " + err;
  });
}

/* ---------- live ---------- */

var live = { byKey: {}, order: [], selected: "", follow: true, es: null, pattern: "",
  ready: false, waiters: [], pending: false };

function setTraceStatus(text) { $("trace-status").textContent = text; }

function connectTrace(pattern) {
  if (live.es) live.es.close();
  live.pattern = pattern;
  live.ready = false;
  setTraceStatus("connecting to the trace feed for " + pattern + " \u2026");
  var es = new EventSource("/api/trace?pattern=" + encodeURIComponent(pattern));
  es.addEventListener("ready", function (m) {
    var d = JSON.parse(m.data);
    live.ready = true;
    setTraceStatus("tracing " + d.pattern + " on " + (d.nodes.length ? "node(s) " + d.nodes.join(", ")
      : "no node (none answered)"));
    var w = live.waiters; live.waiters = [];
    w.forEach(function (f) { f(); });
  });
  es.addEventListener("trace", function (m) {
    var e;
    try { e = JSON.parse(m.data); } catch (err) { return; }
    if (isEvent(e)) addLive(e);
  });
  es.onerror = function () {
    live.ready = false;
    setTraceStatus("trace feed interrupted; reconnecting \u2026");
  };
  live.es = es;
}

function waitReady() {
  return new Promise(function (resolve) {
    if (live.ready) resolve(); else live.waiters.push(resolve);
  });
}

function addLive(e) {
  var list = live.byKey[e.key];
  if (!list) {
    list = live.byKey[e.key] = [];
    if (live.order.length >= KEYS_MAX) delete live.byKey[live.order.pop()];
  }
  var i = live.order.indexOf(e.key);
  if (i > 0) live.order.splice(i, 1);
  if (i !== 0) live.order.unshift(e.key);
  if (list.length >= EVENTS_PER_KEY_MAX) list.shift();
  var at = list.length;
  while (at > 0 && list[at - 1].t > e.t) at--;
  list.splice(at, 0, e);
  if (live.follow || !live.selected) live.selected = e.key;
  scheduleLive();
}

function scheduleLive() {
  if (live.pending) return;
  live.pending = true;
  requestAnimationFrame(function () { live.pending = false; renderLive(); });
}

function renderLive() {
  var select = $("key");
  select.textContent = "";
  live.order.forEach(function (k) {
    var o = h("option", { value: k }, k);
    if (k === live.selected) o.selected = true;
    select.appendChild(o);
  });
  var events = live.byKey[live.selected] || [];
  var drawn = renderDiagram($("diagram"), events, { acceptors: cluster.acceptors, unit: "ms",
    idPrefix: "l", empty: "No messages yet: press \u201cRace\u201d, or create a key matching the pattern " +
      "(e.g. paxoskv create race.X 3)." });
  renderChosen($("chosen"), events, false);
  renderLegend($("legend"), events, drawn.colors || {});
  $("download").disabled = events.length === 0;
  $("to-replay").disabled = events.length === 0;
}

function raceSummary(r) {
  var box = $("race-result");
  box.textContent = "";
  box.setAttribute("data-key", r.key);
  box.appendChild(document.createTextNode(r.key + ": "));
  r.results.forEach(function (c, i) {
    if (i > 0) box.appendChild(document.createTextNode("  \u00b7  "));
    var span = h("span", c.created ? { class: "won" } : {});
    span.textContent = c.error ? c.client + " proposed " + c.proposed + " \u2192 " + c.error.code :
      c.client + " proposed " + c.proposed + " \u2192 chosen " + c.value +
      (c.created ? " (created)" : " (not created)");
    box.appendChild(span);
  });
  var note = r.proposers.length >= 2 ? "  \u00b7  proposers " + r.proposers.join(" and ") + " duelled" :
    "  \u00b7  both requests reached node " + r.proposers.join(",") +
    ", which runs one proposal per key for both";
  if (r.attempts.length > 1) {
    note += " (after " + (r.attempts.length - 1) + " attempt(s) where NATS gave both requests to one node)";
  }
  box.appendChild(h("span", { class: "muted" }, note));
}

function race() {
  var button = $("race");
  button.disabled = true;
  $("race-result").textContent = "racing \u2026";
  $("race-result").removeAttribute("data-key");
  if (!keyMatches(live.pattern, "race.x")) {
    $("pattern").value = "race.>";
    connectTrace("race.>");
  }
  live.follow = true;
  waitReady().then(function () {
    return fetch("/api/race", { method: "POST", headers: { "content-type": "application/json" },
      body: "{}" });
  }).then(function (r) { return r.json(); }).then(function (r) {
    if (!r.ok) throw new Error(r.error || "race failed");
    live.follow = false;
    live.selected = r.key;
    raceSummary(r);
    scheduleLive();
  }).catch(function (err) {
    $("race-result").textContent = "race failed: " + err.message;
  }).then(function () { button.disabled = false; });
}

function download(events, name) {
  var file = JSON.stringify({ format: "paxoskv-trace/1", source: "live", unit: "ms",
    acceptors: cluster.acceptors, events: events }, null, 1);
  var a = h("a", { href: URL.createObjectURL(new Blob([file], { type: "application/json" })),
    download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/* ---------- replay ---------- */

var replay = { all: [], list: [], meta: {}, key: "", step: -1, rows: [], body: null, timer: null };

function parseTrace(text) {
  var data = null;
  try { data = JSON.parse(text); } catch (err) { data = null; }
  var events;
  if (Array.isArray(data)) events = data;
  else if (data && Array.isArray(data.events)) events = data.events;
  else {
    events = [];
    text.split(/\r?\n/).forEach(function (line) {
      line = line.trim();
      if (!line) return;
      try { events.push(JSON.parse(line)); } catch (err) { /* not an event line */ }
    });
  }
  events = events.filter(isEvent);
  if (events.length === 0) throw new Error("no trace events in the file");
  var meta = data && !Array.isArray(data) && data.events ? data : {};
  events = events.map(function (e, i) { return { e: e, i: i }; })
    .sort(function (a, b) { return a.e.t - b.e.t || a.i - b.i; })
    .map(function (x) { return x.e; });
  return { events: events, meta: meta };
}

function loadReplay(text, name) {
  var parsed;
  try {
    parsed = parseTrace(text);
  } catch (err) {
    $("replay-info").textContent = name + ": " + err.message;
    return;
  }
  replay.all = parsed.events;
  replay.meta = parsed.meta;
  var keys = [];
  parsed.events.forEach(function (e) { if (e.key && keys.indexOf(e.key) < 0) keys.push(e.key); });
  var select = $("replay-key");
  select.textContent = "";
  select.appendChild(h("option", { value: "" }, "all keys (" + keys.length + ")"));
  keys.forEach(function (k) { select.appendChild(h("option", { value: k }, k)); });
  replay.key = keys.length === 1 ? keys[0] : "";
  select.value = replay.key;
  var m = parsed.meta;
  $("replay-info").textContent = name + ": " + parsed.events.length + " events" +
    (m.source === "sim" ? " \u2014 simulator seed " + m.seed + " (" + m.scenario + ")" +
      (m.violation ? ", VIOLATION: " + m.violation : ", no violation") : "") +
    (m.source === "live" ? " \u2014 recorded live" : "");
  $("replay-controls").classList.remove("hidden");
  buildReplay();
}

function buildReplay() {
  stopPlay();
  var k = replay.key;
  replay.list = k ? replay.all.filter(function (e) { return e.key === k || e.key === ""; }) : replay.all;
  var m = replay.meta;
  var drawn = renderDiagram($("replay-diagram"), replay.list, {
    acceptors: m.acceptors || [], unit: m.unit === "tick" ? "tick" : "ms", showKey: !k, idPrefix: "r" });
  replay.rows = drawn.rows;
  replay.body = drawn.body;
  replay.shown = replay.rows.length - 1;
  renderLegend($("replay-legend"), replay.list, drawn.colors || {});
  setStep(0);
}

function setStep(i) {
  var n = replay.rows.length;
  i = Math.max(0, Math.min(n - 1, i));
  var from = Math.min(i, replay.shown), to = Math.max(i, replay.shown);
  for (var j = from; j <= to; j++) {
    var row = replay.rows[j];
    if (row) row.style.display = j <= i ? "" : "none";
  }
  if (replay.rows[replay.step]) replay.rows[replay.step].classList.remove("current");
  replay.step = i;
  replay.shown = i;
  var cur = replay.rows[i];
  if (!cur) return;
  cur.classList.add("current");
  if (replay.body) replay.body.setAttribute("height", String((i + 1) * ROW_H + 14));
  $("replay-pos").textContent = (i + 1) + " / " + n;
  var e = replay.list[i];
  $("replay-now").textContent = (replay.meta.unit === "tick" ? "t=" + e.t + "  " : "") +
    (e.key ? e.key + "  " : "") + describe(e);
  renderChosen($("replay-chosen"), replay.list.slice(0, i + 1), !replay.key);
  var wrap = $("replay-diagram");
  var top = i * ROW_H + HEAD_H;
  if (top > wrap.scrollTop + wrap.clientHeight - ROW_H * 2 || top < wrap.scrollTop + HEAD_H) {
    wrap.scrollTop = Math.max(0, top - wrap.clientHeight / 2);
  }
}

function stopPlay() {
  if (replay.timer) clearInterval(replay.timer);
  replay.timer = null;
  $("play").textContent = "\u25b6 play";
}

function togglePlay() {
  if (replay.timer) return stopPlay();
  if (replay.step >= replay.rows.length - 1) setStep(0);
  $("play").textContent = "\u2016 pause";
  replay.timer = setInterval(function () {
    if (replay.step >= replay.rows.length - 1) return stopPlay();
    setStep(replay.step + 1);
  }, Number($("speed").value));
}

function readFile(file) {
  var reader = new FileReader();
  reader.onload = function () { loadReplay(String(reader.result), file.name); };
  reader.readAsText(file);
}

/* ---------- wiring ---------- */

function showTab(name) {
  $("tab-live").classList.toggle("active", name === "live");
  $("tab-replay").classList.toggle("active", name === "replay");
  $("live").classList.toggle("hidden", name !== "live");
  $("replay").classList.toggle("hidden", name !== "replay");
  var path = name === "replay" ? "/replay" : "/";
  if (location.pathname !== path) history.replaceState(null, "", path);
}

function start() {
  $("tab-live").onclick = function () { showTab("live"); };
  $("tab-replay").onclick = function () { showTab("replay"); };
  $("race").onclick = race;
  $("watch").onclick = function () {
    var p = $("pattern").value.trim() || ">";
    live.follow = true;
    connectTrace(p);
  };
  $("pattern").onkeydown = function (ev) { if (ev.key === "Enter") $("watch").click(); };
  $("key").onchange = function () { live.selected = $("key").value; live.follow = false; renderLive(); };
  $("follow").onclick = function () { live.follow = true; if (live.order[0]) live.selected = live.order[0]; renderLive(); };
  $("download").onclick = function () {
    download(live.byKey[live.selected] || [], "trace-" + live.selected + ".json");
  };
  $("to-replay").onclick = function () {
    var events = live.byKey[live.selected] || [];
    loadReplay(JSON.stringify({ format: "paxoskv-trace/1", source: "live", unit: "ms",
      acceptors: cluster.acceptors, events: events }), live.selected);
    showTab("replay");
  };
  $("file").onchange = function () { if (this.files && this.files[0]) readFile(this.files[0]); };
  var dz = $("dropzone");
  dz.ondragover = function (ev) { ev.preventDefault(); dz.classList.add("over"); };
  dz.ondragleave = function () { dz.classList.remove("over"); };
  dz.ondrop = function (ev) {
    ev.preventDefault();
    dz.classList.remove("over");
    if (ev.dataTransfer && ev.dataTransfer.files[0]) readFile(ev.dataTransfer.files[0]);
  };
  $("replay-key").onchange = function () { replay.key = $("replay-key").value; buildReplay(); };
  $("first").onclick = function () { stopPlay(); setStep(0); };
  $("prev").onclick = function () { stopPlay(); setStep(replay.step - 1); };
  $("next").onclick = function () { stopPlay(); setStep(replay.step + 1); };
  $("last").onclick = function () { stopPlay(); setStep(replay.rows.length - 1); };
  $("play").onclick = togglePlay;
  $("speed").onchange = function () { if (replay.timer) { stopPlay(); togglePlay(); } };
  document.addEventListener("keydown", function (ev) {
    if ($("replay").classList.contains("hidden") || ev.target.tagName === "INPUT") return;
    if (ev.key === "ArrowRight") { stopPlay(); setStep(replay.step + 1); }
    if (ev.key === "ArrowLeft") { stopPlay(); setStep(replay.step - 1); }
  });
  showTab(location.pathname === "/replay" ? "replay" : "live");
  pollCluster();
  setInterval(pollCluster, 2000);
  connectTrace($("pattern").value.trim() || "race.>");
  renderLive();
}

window.paxoskvPage = { loadReplay: loadReplay, setStep: setStep, keyMatches: keyMatches };
start();
})();
`;
