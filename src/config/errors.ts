/**
 * Configuration problems: one error type carrying every diagnostic, and one way to print them
 * (`/etc/posteix/main.cf, line 12: bad time value "5x" for smtpd_timeout`).
 */
import type { ConfigDiagnostic } from "./types.ts";

/** "file, line N: message", or "file: message" when the problem has no line. */
export function formatDiagnostic(d: ConfigDiagnostic): string {
  return d.line > 0 ? `${d.file}, line ${d.line}: ${d.message}` : `${d.file}: ${d.message}`;
}

/** Thrown when a configuration (or a table file) has errors; warnings may ride along. */
export class ConfigError extends Error {
  readonly diagnostics: readonly ConfigDiagnostic[];

  constructor(diagnostics: readonly ConfigDiagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === "error");
    super((errors.length > 0 ? errors : diagnostics).map(formatDiagnostic).join("\n"));
    this.name = "ConfigError";
    this.diagnostics = diagnostics;
  }
}

/** A ConfigError for one problem at one place. */
export function configError(file: string, line: number, message: string): ConfigError {
  return new ConfigError([{ severity: "error", file, line, message }]);
}
