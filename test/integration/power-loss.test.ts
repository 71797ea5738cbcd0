/**
 * Matrix row B3: a power loss with `appendfsync everysec` loses acknowledged creates, and the
 * checker must catch it (the negative control: a checker that could not fail here would prove
 * nothing); the same loss with `always` tears only a command being written, and the history
 * must be clean. See test/chaos/power-loss.ts.
 */
import { expect, it } from "vitest";
import { formatPowerLoss, runPowerLoss } from "../chaos/power-loss.js";

it("B3: power loss under appendfsync everysec loses acknowledged creates, and the checker says so",
  async () => {
    const result = await runPowerLoss({ fsync: "everysec", seed: 1, seconds: 4 });
    expect(result.acknowledged, formatPowerLoss(result)).toBeGreaterThan(100);
    expect(result.lost, formatPowerLoss(result)).toBeGreaterThan(0);
    expect(result.anomalies.map((a) => a.rule), formatPowerLoss(result)).toContain("R5");
  }, 120_000);

it("B3: the same power loss under appendfsync always loses nothing acknowledged", async () => {
  const result = await runPowerLoss({ fsync: "always", seed: 1, seconds: 4 });
  expect(result.acknowledged, formatPowerLoss(result)).toBeGreaterThan(100);
  expect(result.lost, formatPowerLoss(result)).toBe(0);
  expect(result.anomalies, formatPowerLoss(result)).toEqual([]);
}, 120_000);
