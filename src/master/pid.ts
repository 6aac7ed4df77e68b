/** The daemon's pid file: read it and tell whether that process still runs. */
import { readFileSync } from "node:fs";
import { loadConfig } from "../config/index.ts";
import type { Config } from "../config/types.ts";

export function readPid(cfg: Config): number | null {
  try {
    const pid = Number.parseInt(readFileSync(cfg.path("pid_file"), "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of a running daemon for this configuration, or null. */
export function runningPid(configDir: string | null): { cfg: Config; pid: number | null } {
  const cfg = loadConfig({ configDir });
  const pid = readPid(cfg);
  return { cfg, pid: pid !== null && isRunning(pid) ? pid : null };
}
