/**
 * The shipped alert rules and dashboard (deploy/) name only metrics a node exports: an alert
 * on a misspelt or renamed metric never fires, and nothing would say so.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/node/infrastructure/metrics.js";

const ALERTS = "deploy/prometheus/paxoskv-alerts.yml";
const DASHBOARD = "deploy/grafana/paxoskv-dashboard.json";
const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;

/** Every `paxoskv_…` name in a PromQL expression. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bpaxoskv_[a-z_]+\b/g)].map((m) => m[0]);
}

async function exported(): Promise<Set<string>> {
  const text = await new Metrics("A").text();
  return new Set([...text.matchAll(/^# HELP (\S+)/gm)].map((m) => m[1] as string));
}

const known = (names: Set<string>, name: string) =>
  names.has(name) || names.has(name.replace(HISTOGRAM_SERIES, ""));

describe("monitoring", () => {
  it("monitoring - every metric the alert rules name exists", async () => {
    const exprs = [...readFileSync(ALERTS, "utf8").matchAll(/^\s+expr: (.+)$/gm)]
      .map((m) => m[1] as string);
    expect(exprs.length).toBeGreaterThanOrEqual(6);
    const names = await exported();
    for (const expr of exprs) {
      expect(metricNames(expr).length, expr).toBeGreaterThan(0);
      for (const name of metricNames(expr)) expect(known(names, name), `${name} in ${expr}`).toBe(true);
    }
  });

  it("monitoring - every metric the dashboard queries exists", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as
      { panels: { title: string; targets: { expr: string }[] }[] };
    const names = await exported();
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        for (const name of metricNames(expr)) {
          expect(known(names, name), `${name} in panel ${panel.title}`).toBe(true);
        }
      }
    }
  });

  it("monitoring - a misspelt metric is caught", async () => {
    expect(known(await exported(), "paxoskv_acceptor_votes")).toBe(false);
  });

  it("monitoring - counters show 0 for every label they will have before the first event",
    async () => {
      const text = await new Metrics("A").text();
      for (const outcome of ["created", "exists", "timeout", "unavailable", "rejected"]) {
        expect(text).toContain(`paxoskv_creates_total{outcome="${outcome}",node="A"} 0`);
      }
      expect(text).toContain('paxoskv_fast_rounds_total{result="timeout",node="A"} 0');
      expect(text).toContain('paxoskv_reads_total{result="failed",node="A"} 0');
    });
});
