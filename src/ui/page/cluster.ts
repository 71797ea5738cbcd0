/** The cluster view: GET /api/cluster every 2 s, drawn as acceptor chips and a node table. */
import type { ClusterStatus, NodeStatus } from "../api.js";
import { $, h } from "./dom.js";

/** The configured acceptors, as the last answer said: the diagrams give each a lane. */
export const cluster: { acceptors: readonly string[] } = { acceptors: ["A", "B", "C"] };

function chip(good: boolean, text: string,
  attrs: Readonly<Record<string, string>> = {}): HTMLElement {
  const node = h("span", { class: `chip ${good ? "up" : "down"}`, ...attrs });
  node.appendChild(h("span", { class: "dot" }));
  node.appendChild(document.createTextNode(text));
  return node;
}

function renderSelf(st: ClusterStatus): void {
  const self = $("self");
  if (st.self) {
    const r = st.self.readiness;
    self.textContent = `served by node ${st.self.node} (${st.self.roles.join(", ")})` +
      (r ? (r.ready ? " \u2014 ready" : " \u2014 NOT ready") : "");
    self.title = r ? JSON.stringify(r.checks) : "";
  } else {
    self.textContent = `standalone page server (paxoskv ui) on ${st.nats.server}`;
  }
}

/** A chip per acceptor (by its voting beat), the quorum, the race's switch, this node's /readyz. */
function renderAcceptors(st: ClusterStatus): void {
  const acc = $("acceptors");
  acc.textContent = "";
  let voting = 0;
  for (const a of st.acceptors) {
    if (a.voting === "voting") voting++;
    const label = a.voting === "voting" ? " voting" : a.voting === "not-voting" ? " NOT voting" :
      a.up ? " up, not heard voting" : " down";
    acc.appendChild(chip(a.voting === "voting", `acceptor ${a.id}${label}`,
      { "data-acceptor": a.id, "data-up": a.up ? "true" : "false", "data-voting": a.voting }));
  }
  acc.appendChild(h("span", { class: voting >= st.quorum ? "muted" : "errors" },
    `${voting} of ${st.acceptors.length} voting; a quorum is ${st.quorum}` +
    (voting >= st.quorum ? "" : " \u2014 creates cannot succeed")));
  $("race").hidden = !st.race;
  if (!st.race) {
    $("race-result").textContent = "the race creates keys: off on this server " +
      "(PAXOSKV_PAGE_RACE=true, paxoskv ui --race)";
  }
  if (st.self && st.self.readiness) {
    const node = st.self.node;
    for (const [name, v] of Object.entries(st.self.readiness.checks)) {
      const good = name === "lag" ? v === 0 : v === true;
      const shown = typeof v === "boolean" ? "" : ` ${v}`;
      acc.appendChild(chip(good, `${node} /readyz ${name}${shown}`));
    }
  }
}

function nodeRow(n: NodeStatus): HTMLTableRowElement {
  const tr = h("tr", { "data-node": n.node });
  const requests = new Map(n.endpoints.map((e) => [e.name, e.requests]));
  const num = (name: string) => String(requests.get(name) ?? "\u2013");
  [n.node, n.roles.join(", "), n.version, n.started ? new Date(n.started).toLocaleTimeString() : "",
    num("create"), num("get"), num("replica-get"),
    n.replicaSize === null ? "\u2013" : String(n.replicaSize),
    n.lag === null ? "\u2013" : String(n.lag)].forEach((v, i) => {
    tr.appendChild(h("td", i >= 4 ? { class: "num" } : {}, v));
  });
  return tr;
}

function renderCluster(st: ClusterStatus): void {
  cluster.acceptors = st.acceptors.map((a) => a.id);
  renderSelf(st);
  renderAcceptors(st);
  const tbody = $("nodes-body");
  tbody.textContent = "";
  for (const n of st.nodes) tbody.appendChild(nodeRow(n));
  if (st.nodes.length === 0) {
    const tr = h("tr");
    tr.appendChild(h("td", { colspan: 9, class: "errors" }, "no node answers $SRV.PING"));
    tbody.appendChild(tr);
  }
  const stream = st.stream;
  // The name is CHOSEN_STREAM's; protocol/subjects.ts is not the page's to import (Buffer).
  // Messages, not keys: a message of the chosen log is a batch of chosen events.
  $("stream").textContent = stream ? `${stream.name}: ${stream.messages} message(s), ` +
    `last sequence ${stream.lastSeq}` + (stream.lastTs && stream.messages > 0
      ? ` at ${new Date(stream.lastTs).toLocaleTimeString()}` : "")
    : "stream PAXOSKV_CHOSEN not readable";
  $("cluster-errors").textContent = st.errors.join("; ");
  $("cluster-at").textContent = `updated ${new Date(st.at).toLocaleTimeString()}`;
}

export function pollCluster(): void {
  if (document.hidden) return;
  fetch("/api/cluster").then((r) => r.json() as Promise<ClusterStatus>)
    .then(renderCluster, (err) => { $("cluster-errors").textContent = `cluster view: ${err}`; });
}
