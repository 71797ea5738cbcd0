export async function runDev(_args: string[]): Promise<number> {
  throw new Error("not yet");
}
