/**
 * The contract of a CLI command module: every command (postconf, mailq, postsuper, ...) exports
 * `run(argv, io)` and returns its exit status, so the multi-call binary, tests and the API can
 * call commands without spawning processes.
 */

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /**
   * Raw bytes to standard output (postcat: message text need not be UTF-8). When absent,
   * commands decode the bytes as UTF-8 and use `stdout`.
   */
  stdoutBytes?: (bytes: Uint8Array) => void;
  /** Whether standard input is a terminal (user passwd prompts without echo); default false. */
  stdinIsTTY?: boolean;
  /** Standard input as a byte stream (sendmail, user passwd). */
  stdin: () => ReadableStream<Uint8Array>;
  /** -c DIR or POSTEIX_CONFIG_DIR, already resolved by the dispatcher; null = none given. */
  configDir: string | null;
  /** Name the command was invoked as (for messages: "postsuper: fatal: ..."). */
  progName: string;
}

export type CliCommand = (argv: string[], io: CliIO) => Promise<number>;
