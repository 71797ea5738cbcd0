/**
 * The web page's script (src/ui/page.ts is its HTML). scripts/build-page.ts bundles this
 * entry and its imports into src/ui/page-bundle.generated.ts, the string every node serves.
 *
 * Live: GET /api/cluster every 2 s for the cluster view; an EventSource on
 * /api/trace?pattern=... for trace events, drawn as a sequence diagram per key; POST /api/race
 * for the seed's scenario. Replay: a trace file, drawn step by step.
 */
import { pollCluster } from "./cluster.js";
import { $ } from "./dom.js";
import { connectTrace, download, live, liveEvents, race, renderLive, traceFile } from "./live.js";
import {
  buildReplay, changeSpeed, loadReplay, readFile, stepBy, stepTo, togglePlay,
} from "./replay.js";

function showTab(name: "live" | "replay"): void {
  $("tab-live").classList.toggle("active", name === "live");
  $("tab-replay").classList.toggle("active", name === "replay");
  $("live").classList.toggle("hidden", name !== "live");
  $("replay").classList.toggle("hidden", name !== "replay");
  const path = name === "replay" ? "/replay" : "/";
  if (location.pathname !== path) history.replaceState(null, "", path);
}

function wireLive(): void {
  const pattern = $<HTMLInputElement>("pattern");
  $("race").onclick = race;
  $("watch").onclick = () => {
    live.follow = true;
    connectTrace(pattern.value.trim() || ">");
  };
  pattern.onkeydown = (ev) => { if (ev.key === "Enter") $("watch").click(); };
  $("key").onchange = () => {
    live.selected = $<HTMLSelectElement>("key").value;
    live.follow = false;
    renderLive();
  };
  $("follow").onclick = () => {
    live.follow = true;
    if (live.order[0]) live.selected = live.order[0];
    renderLive();
  };
  $("download").onclick = () => download(liveEvents(), `trace-${live.selected}.json`);
  $("to-replay").onclick = () => {
    loadReplay(traceFile(liveEvents()), live.selected);
    showTab("replay");
  };
}

function wireReplay(): void {
  const file = $<HTMLInputElement>("file");
  file.onchange = () => { if (file.files?.[0]) readFile(file.files[0]); };
  const dz = $("dropzone");
  dz.ondragover = (ev) => { ev.preventDefault(); dz.classList.add("over"); };
  dz.ondragleave = () => { dz.classList.remove("over"); };
  dz.ondrop = (ev) => {
    ev.preventDefault();
    dz.classList.remove("over");
    if (ev.dataTransfer?.files[0]) readFile(ev.dataTransfer.files[0]);
  };
  $("replay-key").onchange = buildReplay;
  $("first").onclick = () => stepTo("first");
  $("prev").onclick = () => stepBy(-1);
  $("next").onclick = () => stepBy(1);
  $("last").onclick = () => stepTo("last");
  $("play").onclick = togglePlay;
  $("speed").onchange = changeSpeed;
  document.addEventListener("keydown", (ev) => {
    if ($("replay").classList.contains("hidden") ||
      (ev.target instanceof HTMLElement && ev.target.tagName === "INPUT")) return;
    if (ev.key === "ArrowRight") stepBy(1);
    if (ev.key === "ArrowLeft") stepBy(-1);
  });
}

function start(): void {
  $("tab-live").onclick = () => showTab("live");
  $("tab-replay").onclick = () => showTab("replay");
  wireLive();
  wireReplay();
  showTab(location.pathname === "/replay" ? "replay" : "live");
  pollCluster();
  setInterval(pollCluster, 2000);
  connectTrace($<HTMLInputElement>("pattern").value.trim() || "race.>");
  renderLive();
}

start();
