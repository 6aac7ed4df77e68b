/**
 * `posteix check --dns [--address IP]... [--json] [--no-policy-fetch] [DOMAIN...]`: the
 * deliverability check (src/dnscheck): MX, A/AAAA and PTR of $myhostname, SPF, DKIM, DMARC,
 * MTA-STS and TLS-RPT of every domain posteix handles (or of the named ones), each OK, MISSING
 * or WRONG with the zone-file record to publish. Exit status 0 when everything is OK, 1
 * otherwise, 64 on a usage error.
 *
 *   --address IP        an address mail leaves from (repeatable; default: $myhostname's)
 *   --json              the report as JSON (the shape of GET /api/v1/dns-check)
 *   --no-policy-fetch   do not fetch MTA-STS policy files over HTTPS
 */
import { parseArgs } from "node:util";
import { EX_USAGE, fatal, loadCliConfig } from "../../cli/common.ts";
import type { CliCommand } from "../../cli/types.ts";
import { checkDeliverability, DnsCheckInputError, formatReport } from "../../dnscheck/index.ts";

const USAGE =
  "usage: posteix [-c config_dir] check --dns [--address IP]... [--json] [--no-policy-fetch] [DOMAIN...]";

export const run: CliCommand = async (argv, io) => {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    return fatal(io, `${(err as Error).message}\n${USAGE}`, EX_USAGE);
  }
  const { values, positionals } = parsed;
  const cfg = loadCliConfig(io);
  if (typeof cfg === "number") return cfg;
  try {
    const report = await checkDeliverability(cfg, {
      domains: positionals,
      addresses: values.address ?? [],
      fetchPolicy: !values["no-policy-fetch"],
    });
    io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof DnsCheckInputError) return fatal(io, `${err.message}\n${USAGE}`, EX_USAGE);
    throw err;
  }
};

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      address: { type: "string", multiple: true },
      json: { type: "boolean" },
      "no-policy-fetch": { type: "boolean" },
    },
  });
}
