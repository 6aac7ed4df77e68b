/**
 * Mail loop detection of local(8) and virtual(8): the Delivered-To: headers a message already
 * carries (each delivery adds one). A recipient found among them is a forwarding loop, bounced
 * 5.4.6 "mail forwarding loop for X". Reads only the header section of the body.
 */

/** Header bytes examined at most (Postfix looks at the first headers only, too). */
const MAX_HEADER_BYTES = 1024 * 1024;

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Lowercased addresses of the message's Delivered-To: headers. */
export async function deliveredToSet(
  body: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<Set<string>> {
  const found = new Set<string>();
  let pending = "";
  let header: string | null = null;
  let seen = 0;
  const finishHeader = () => {
    if (header === null) return;
    const colon = header.indexOf(":");
    if (colon > 0 && header.slice(0, colon).trim().toLowerCase() === "delivered-to")
      found.add(
        header
          .slice(colon + 1)
          .trim()
          .toLowerCase(),
      );
    header = null;
  };
  for await (const chunk of body()) {
    seen += chunk.length;
    pending += decoder.decode(chunk, { stream: true });
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      const line = pending.slice(0, nl).replace(/\r$/, "");
      pending = pending.slice(nl + 1);
      if (line === "") {
        finishHeader();
        return found;
      }
      if ((line[0] === " " || line[0] === "\t") && header !== null) header += line;
      else {
        finishHeader();
        header = line;
      }
      nl = pending.indexOf("\n");
    }
    if (seen > MAX_HEADER_BYTES) break;
  }
  finishHeader();
  return found;
}
