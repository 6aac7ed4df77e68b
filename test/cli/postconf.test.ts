import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { run } from "../../src/cli/postconf.ts";
import { PARAMS } from "../../src/config/params.ts";
import { removeTempDirs, tempDir } from "../config/fixture.ts";

afterAll(removeTempDirs);

async function postconf(configDir: string | null, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const status = await run(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    stdin: () => new ReadableStream(),
    configDir,
    progName: "postconf",
  });
  return { status, stdout, stderr };
}

const MAIN_CF = [
  "# test configuration",
  "myhostname = mx.example.org",
  "relayhost = $my_relay",
  "my_relay = [smtp.example.net]:587",
  "smtpd_banner = $myhostname    ESMTP",
  "   ready",
  "typo_parameter = 1",
  "relay_destination_concurrency_limit = 4",
  "",
].join("\n");

describe("showing parameters", () => {
  const dir = tempDir({ "main.cf": MAIN_CF });

  test("no flag: every parameter, sorted, main.cf values else defaults, unexpanded", async () => {
    const r = await postconf(dir);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    const names = lines.map((l) => l.split(" = ")[0]!.replace(/ =$/, ""));
    expect(names).toEqual([...names].sort());
    expect(names.length).toBe(Object.keys(PARAMS).length + 1 /* my_relay */ + 8 * 6 - 4);
    // 8 delivery services × 6 per-transport names, minus 4 declared (local_*, virtual_*)
    expect(lines).toContain("myhostname = mx.example.org");
    expect(lines).toContain("relayhost = $my_relay");
    expect(lines).toContain("my_relay = [smtp.example.net]:587");
    expect(lines).toContain("smtpd_banner = $myhostname ESMTP ready");
    expect(lines).toContain("myorigin = $myhostname");
    expect(lines).toContain("mydomain = example.org");
    expect(lines).toContain(`config_directory = ${dir}`);
    expect(lines).toContain("relay_destination_concurrency_limit = 4");
    expect(lines).toContain(
      "relay_destination_recipient_limit = $default_destination_recipient_limit",
    );
    expect(lines).toContain("retry_time_limit = $command_time_limit");
    expect(lines).toContain("local_destination_recipient_limit = 1");
    expect(lines).toContain("virtual_mailbox_domains =");
    expect(names).not.toContain("typo_parameter");
    expect(r.stderr).toBe(
      `postconf: warning: ${join(dir, "main.cf")}, line 7: unused parameter: typo_parameter=1\n`,
    );
  });

  test("-n: main.cf settings only", async () => {
    const r = await postconf(dir, "-n");
    expect(r.stdout).toBe(
      [
        "my_relay = [smtp.example.net]:587",
        "myhostname = mx.example.org",
        "relay_destination_concurrency_limit = 4",
        "relayhost = $my_relay",
        "smtpd_banner = $myhostname ESMTP ready",
        "",
      ].join("\n"),
    );
    expect(r.stderr).toContain("unused parameter: typo_parameter=1");
  });

  test("-nx expands", async () => {
    const r = await postconf(dir, "-nx", "relayhost", "smtpd_banner", "mydomain");
    expect(r.stdout).toBe(
      "relayhost = [smtp.example.net]:587\nsmtpd_banner = mx.example.org ESMTP ready\n",
    );
  });

  test("-d: defaults, main.cf ignored, no warnings", async () => {
    const host = hostname();
    const dot = host.indexOf(".");
    const domain = dot > 0 ? host.slice(dot + 1) : "localdomain";
    const r = await postconf(
      dir,
      "-d",
      "myhostname",
      "mydomain",
      "relayhost",
      "myorigin",
      "my_relay",
    );
    expect(r.stdout).toBe(
      `myhostname = ${host}\nmydomain = ${domain}\nrelayhost =\nmyorigin = $myhostname\n`,
    );
    expect(r.stderr).toBe("postconf: warning: my_relay: unknown parameter\n");
    expect((await postconf(dir, "-dx", "myorigin")).stdout).toBe(`myorigin = ${host}\n`);
    expect((await postconf(dir, "-d", "smtp_connect_timeout")).stdout).toBe(
      "smtp_connect_timeout = 30s\n",
    );
  });

  test("named parameters, unknown ones warned about with status 0", async () => {
    const r = await postconf(dir, "-q", "mydestination", "nosuch_param", "relayhost");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      "mydestination = $myhostname, localhost.$mydomain, localhost\nrelayhost = $my_relay\n",
    );
    expect(r.stderr).toBe("postconf: warning: nosuch_param: unknown parameter\n");
  });

  test("-h values only; -H names only; -x", async () => {
    expect((await postconf(dir, "-qh", "relayhost", "relay_domains")).stdout).toBe("$my_relay\n\n");
    expect((await postconf(dir, "-qhx", "relayhost", "mydestination")).stdout).toBe(
      "[smtp.example.net]:587\nmx.example.org, localhost.example.org, localhost\n",
    );
    expect((await postconf(dir, "-qH", "relayhost")).stdout).toBe("relayhost\n");
    // Templates are not expanded, as Postfix's raw parameters.
    expect((await postconf(dir, "-qxh", "default_rbl_reply")).stdout).toStartWith(
      "$rbl_code Service unavailable;",
    );
  });

  test("-f folds long values", async () => {
    const d = tempDir({
      "main.cf": `mydestination = ${Array.from({ length: 12 }, (_, i) => `domain${i}.example.com`).join(", ")}\n`,
    });
    const r = await postconf(d, "-f", "mydestination");
    expect(r.stdout).toBe(
      [
        "mydestination = domain0.example.com, domain1.example.com, domain2.example.com,",
        "    domain3.example.com, domain4.example.com, domain5.example.com,",
        "    domain6.example.com, domain7.example.com, domain8.example.com,",
        "    domain9.example.com, domain10.example.com, domain11.example.com",
        "",
      ].join("\n"),
    );
  });

  test("-o overrides a parameter for this command", async () => {
    const r = await postconf(dir, "-q", "-o", "relayhost=[other]", "-x", "relayhost");
    expect(r.stdout).toBe("relayhost = [other]\n");
  });

  test("-x with an expansion loop is an error", async () => {
    const d = tempDir({ "main.cf": "a = $b\nb = $a\nrelayhost = $a\n" });
    const r = await postconf(d, "-x", "relayhost", "myorigin");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("myorigin = mx.example.org\n".replace("mx.example.org", hostname()));
    expect(r.stderr).toContain(
      `postconf: error: ${join(d, "main.cf")}, line 1: parameter expansion loop: a -> b -> a\n`,
    );
  });

  test("errors in main.cf are reported after the output", async () => {
    const d = tempDir({ "main.cf": "smtpd_timeout = 5x\n" });
    const r = await postconf(d, "smtpd_timeout");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("smtpd_timeout = 5x\n");
    expect(r.stderr).toBe(
      `postconf: error: ${join(d, "main.cf")}, line 1: bad time value "5x" for smtpd_timeout\n`,
    );
  });

  test("no configuration directory: built-in defaults", async () => {
    const saved = process.env.POSTEIX_CONFIG_DIR;
    delete process.env.POSTEIX_CONFIG_DIR;
    try {
      const r = await postconf(null, "-n");
      // Only /etc/posteix could add settings here.
      if (r.stdout === "") expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    } finally {
      if (saved !== undefined) process.env.POSTEIX_CONFIG_DIR = saved;
    }
  });
});

describe("-M", () => {
  test("built-in master.cf", async () => {
    const r = await postconf(tempDir(), "-M");
    expect(r.stdout.split("\n").slice(0, 4)).toEqual([
      "127.0.0.1:2525 inet n    -       n       -       -       smtpd",
      "127.0.0.1:2587 inet n    -       n       -       -       smtpd -o syslog_name=posteix/submission -o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
      "127.0.0.1:2465 inet n    -       n       -       -       smtpd -o syslog_name=posteix/smtps -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
      "smtp       unix  -       -       n       -       -       smtp",
    ]);
    expect(r.stdout.trimEnd().split("\n").length).toBe(11);
  });

  test("filters by service and type; -x expands -o values", async () => {
    const dir = tempDir({
      "master.cf": [
        "smtp inet n - n - - smtpd -o smtpd_banner=$myhostname",
        "smtp unix - - n - - smtp",
        "relay unix - - n - - smtp",
        "",
      ].join("\n"),
      "main.cf": "myhostname = h.example\n",
    });
    expect((await postconf(dir, "-M", "smtp/unix", "relay")).stdout).toBe(
      [
        "smtp       unix  -       -       n       -       -       smtp",
        "relay      unix  -       -       n       -       -       smtp",
        "",
      ].join("\n"),
    );
    expect((await postconf(dir, "-Mx", "smtp/inet")).stdout).toBe(
      "smtp       inet  n       -       n       -       -       smtpd -o smtpd_banner=h.example\n",
    );
  });
});

describe("-e", () => {
  test("edits main.cf in place, all argument forms", async () => {
    const dir = tempDir({ "main.cf": "# keep me\nrelayhost = old\n  continued\nmyorigin = x\n" });
    const r = await postconf(
      dir,
      "-e",
      "relayhost=[new]:587",
      "mydomain = example.net",
      "myorigin =",
    );
    expect(r).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(dir, "main.cf"), "utf8")).toBe(
      "# keep me\nrelayhost = [new]:587\nmyorigin = \nmydomain = example.net\n",
    );
    // name=value without -e edits too, as in Postfix.
    expect((await postconf(dir, "relay_domains=a.example")).status).toBe(0);
    expect((await postconf(dir, "-h", "relay_domains")).stdout).toBe("a.example\n");
  });

  test("creates main.cf in an empty config dir", async () => {
    const dir = tempDir();
    await postconf(dir, "-e", "queue_directory=/var/spool/posteix");
    expect(readFileSync(join(dir, "main.cf"), "utf8")).toBe(
      "queue_directory = /var/spool/posteix\n",
    );
  });

  test("a name given twice: the last wins, with a warning", async () => {
    const dir = tempDir();
    const r = await postconf(dir, "-e", "a=1", "a=2");
    expect(r.stderr).toBe("postconf: warning: ignoring earlier request: 'a = 1'\n");
    expect(readFileSync(join(dir, "main.cf"), "utf8")).toBe("a = 2\n");
  });

  test.each([
    [["-e"], "postconf: fatal: -e requires name=value argument\n"],
    [["-e", "relayhost"], "postconf: fatal: missing '=' after attribute name: \"relayhost\"\n"],
    [["-e", "=x"], 'postconf: fatal: missing attribute name: "=x"\n'],
    [["-e", "a=1\nb=2"], "postconf: fatal: -e accepts no multi-line input\n"],
    [["-e", "#a=1"], "postconf: fatal: -e accepts no comment input\n"],
    [["-dn"], "postconf: fatal: specify one of -d, -n\n"],
  ])("%p fails", async (argv, stderr) => {
    const r = await postconf(tempDir(), ...argv);
    expect(r).toEqual({ status: 1, stdout: "", stderr });
  });

  test("without a configuration directory", async () => {
    const saved = process.env.POSTEIX_CONFIG_DIR;
    delete process.env.POSTEIX_CONFIG_DIR;
    try {
      const r = await postconf(null, "-e", "a=1");
      if (r.status === 1) {
        expect(r.stderr).toBe(
          'postconf: fatal: no configuration directory to edit: use -c DIR, or create one with "posteix init DIR"\n',
        );
      }
    } finally {
      if (saved !== undefined) process.env.POSTEIX_CONFIG_DIR = saved;
    }
  });

  test("a missing directory", async () => {
    const dir = join(tempDir(), "nope");
    const r = await postconf(dir, "-n");
    expect(r).toEqual({
      status: 1,
      stdout: "",
      stderr: `postconf: fatal: open ${dir}/main.cf: no such directory: ${dir}\n`,
    });
  });
});

test("bad options print the usage", async () => {
  const r = await postconf(null, "-z");
  expect(r.status).toBe(1);
  expect(r.stderr).toStartWith("postconf: fatal: invalid option -- 'z'\nusage: postconf");
});

test("-c inside the arguments", async () => {
  const dir = tempDir({ "main.cf": "myorigin = c.example\n" });
  expect((await postconf(null, "-c", dir, "-h", "myorigin")).stdout).toBe("c.example\n");
});
