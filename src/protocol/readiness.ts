/** The body of a node's `/readyz` (200 when ready, else 503), which the web page shows too. */
export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, boolean | number | string>>;
}
