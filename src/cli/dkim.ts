/**
 * dkim -- DKIM signing keys (RFC 6376, RFC 8463) in $dkim_key_directory.
 *
 *   posteix dkim keygen DOMAIN [--selector S] [--type rsa|ed25519]
 *       make a key (RSA 2048 by default; selector $dkim_selector) and print the DNS TXT
 *       record to publish, in zone-file syntax
 *   posteix dkim list
 *       every key with its record
 *
 * Mail from $mynetworks and authenticated senders whose From domain has a key is signed by
 * cleanup (relaxed/relaxed, rsa-sha256, plus ed25519-sha256 when an Ed25519 key exists). To
 * rotate, make a key with a new selector, publish its record, and remove the old key file once
 * the new record is visible. main.cf: dkim_key_directory, dkim_selector.
 */
import { DkimKeyError, type DkimKeyInfo, generateKey, listKeys } from "../auth/dkim-keys.ts";
import { EX_USAGE, errorText, fatal, loadCliConfig } from "./common.ts";
import type { CliCommand } from "./types.ts";

const USAGE =
  "usage: posteix dkim keygen DOMAIN [--selector SELECTOR] [--type rsa|ed25519] | posteix dkim list";

function describe(k: DkimKeyInfo): string {
  const what = k.type === "rsa" ? "RSA 2048" : "Ed25519";
  return `; ${k.domain} selector ${k.selector}, ${what}, key in ${k.path}\n${k.record}\n`;
}

function parseKeygen(
  args: string[],
): { domain: string; selector?: string; type: "rsa" | "ed25519" } | null {
  let domain: string | undefined;
  let selector: string | undefined;
  let type: "rsa" | "ed25519" = "rsa";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? a.split(/=(.*)/s) : [a];
    const value = (): string | undefined => inline ?? args[++i];
    if (flag === "--selector" || flag === "-s") {
      selector = value();
      if (selector === undefined) return null;
    } else if (flag === "--type" || flag === "-t") {
      const t = value()?.toLowerCase();
      if (t !== "rsa" && t !== "ed25519") return null;
      type = t;
    } else if (a.startsWith("-") || domain !== undefined) {
      return null;
    } else domain = a;
  }
  return domain === undefined ? null : { domain, selector, type };
}

export const run: CliCommand = async (argv, io) => {
  const [verb, ...rest] = argv;
  if (verb !== "keygen" && verb !== "list") return fatal(io, USAGE, EX_USAGE);
  if (verb === "list" && rest.length > 0) return fatal(io, USAGE, EX_USAGE);
  const opts = verb === "keygen" ? parseKeygen(rest) : null;
  if (verb === "keygen" && opts === null) return fatal(io, USAGE, EX_USAGE);
  const cfg = loadCliConfig(io);
  if (typeof cfg === "number") return cfg;
  const dir = cfg.path("dkim_key_directory");
  try {
    if (opts !== null) {
      const key = await generateKey(dir, opts.domain, {
        selector: opts.selector ?? cfg.str("dkim_selector"),
        type: opts.type,
      });
      io.stdout(describe(key));
      return 0;
    }
    const keys = listKeys(dir);
    if (keys.length === 0) {
      io.stderr(`${io.progName}: no DKIM keys in ${dir}\n`);
      return 0;
    }
    io.stdout(keys.map(describe).join(""));
    return 0;
  } catch (err) {
    if (err instanceof DkimKeyError) return fatal(io, err.message);
    return fatal(io, errorText(err));
  }
};
