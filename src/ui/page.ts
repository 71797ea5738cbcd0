import { PAGE_SCRIPT } from "./page-bundle.generated.js";
import { PAGE_STYLE } from "./page-style.js";

/**
 * The whole page, one HTML document with its style and script inlined: any node serves it
 * at `/` on PAXOSKV_HTTP_PORT, and `paxoskv ui` serves it standalone. The script is the
 * TypeScript of src/ui/page/, bundled into a committed string by `npm run build:page`, so
 * neither tsx nor dist/ needs a build step at run time.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>paxoskv — Basic Paxos, live</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>
<header>
  <h1>paxoskv</h1>
  <span class="sub" id="self">connecting …</span>
  <nav>
    <button id="tab-live" class="active">Live</button>
    <button id="tab-replay">Replay</button>
  </nav>
</header>
<main>
<div id="live">
  <section class="card" id="cluster">
    <h2>Cluster <span class="muted" id="cluster-at" style="font-weight:400;font-size:12px"></span></h2>
    <div class="cluster-grid">
      <div class="row" id="acceptors"></div>
      <table class="nodes">
        <thead><tr><th>node</th><th>roles</th><th>version</th><th>started</th><th>creates</th>
          <th>gets</th><th>replica-gets</th><th>replica keys</th><th>replica lag</th></tr></thead>
        <tbody id="nodes-body"></tbody>
      </table>
      <div class="muted" id="stream"></div>
      <div class="errors" id="cluster-errors"></div>
    </div>
  </section>
  <section class="card" id="trace">
    <h2>Paxos messages, live</h2>
    <div class="row">
      <button class="act primary" id="race" title="client 1 creates race.&lt;ms&gt; = 3 while client 2 creates it = 7">Race: X=3 vs X=7</button>
      <label>keys <input type="text" id="pattern" value="race.>" size="14"
        title="a key pattern: * is one token, > the rest"></label>
      <button class="act" id="watch">Watch</button>
      <label>key <select id="key"></select></label>
      <button class="act" id="follow" title="show the key of the newest message">Follow newest</button>
      <button class="act" id="download">Download trace</button>
      <button class="act" id="to-replay">Replay this</button>
    </div>
    <p class="muted" id="trace-status" style="margin:8px 0 0"></p>
    <p id="race-result"></p>
    <div class="banner empty" id="chosen">nothing chosen yet</div>
    <div class="diagram-wrap" id="diagram"></div>
    <div class="legend" id="legend"></div>
  </section>
</div>
<div id="replay" class="hidden">
  <section class="card">
    <h2>Replay a trace</h2>
    <div id="dropzone">
      Drop a trace file here, or <input type="file" id="file" accept=".json,.ndjson,.jsonl,application/json">
      <div class="muted" style="margin-top:6px;font-size:12px">
        <code>npm run sim -- --seed 42 --export trace.json</code> (a simulated run, faults included) ·
        <code>paxoskv trace 'race.&gt;' --json &gt; trace.ndjson</code> · “Download trace” on the Live tab
      </div>
    </div>
    <p id="replay-info" class="muted"></p>
    <div id="replay-controls" class="hidden">
      <div class="row">
        <button class="act" id="first" title="first step">« first</button>
        <button class="act" id="prev" title="previous step (←)">◀ step</button>
        <button class="act" id="next" title="next step (→)">step ▶</button>
        <button class="act" id="last" title="last step">last »</button>
        <button class="act primary" id="play">▶ play</button>
        <label>speed <select id="speed">
          <option value="800">slow</option><option value="300" selected>normal</option>
          <option value="80">fast</option><option value="15">fastest</option></select></label>
        <label>key <select id="replay-key"></select></label>
        <span class="muted" id="replay-pos"></span>
      </div>
      <div id="replay-now"></div>
      <div class="banner empty" id="replay-chosen">nothing chosen yet</div>
      <div class="diagram-wrap" id="replay-diagram"></div>
      <div class="legend" id="replay-legend"></div>
    </div>
  </section>
</div>
</main>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
