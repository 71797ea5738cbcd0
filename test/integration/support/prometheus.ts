/** A small reader of the Prometheus text exposition format, for asserting on `/metrics`. */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  readonly samples: readonly Sample[];
  /** Metric family name → its `# TYPE`. */
  readonly types: ReadonlyMap<string, string>;
  readonly help: ReadonlySet<string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Set<string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("# HELP ")) {
      help.add(line.split(" ")[2] ?? "");
    } else if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      if (name !== undefined && type !== undefined) types.set(name, type);
    } else if (line.trim() !== "" && !line.startsWith("#")) {
      const m = SAMPLE.exec(line);
      if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) labels[k as string] = v as string;
      samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
    }
  }
  return { samples, types, help };
}

/** Samples of `name` whose labels include every pair of `labels`. */
export function select(
  scrape: Scrape, name: string, labels: Record<string, string> = {},
): Sample[] {
  return scrape.samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the selected samples (0 when none). */
export function total(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return select(scrape, name, labels).reduce((sum, s) => sum + s.value, 0);
}

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parsePrometheus(await res.text());
}
