#!/usr/bin/env bash
# Smoke test of the compiled binary, the way a user runs it: copied alone into an empty
# directory, with no Bun and no node_modules on PATH. Checks a sample configuration, runs the
# MTA on a random loopback port, expects an SMTP greeting, hands it one message with sendmail
# for a Maildir and one relayed by the smtp client to a small SMTP sink, then stops it with
# SIGTERM.
set -euo pipefail
bin=$(realpath "${1:-dist/posteix}")
work=$(mktemp -d)
chmod 755 "$work"   # run as root, posteix becomes $mail_owner and must reach its files
pid=""
sinkpid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" || true; fi
  if [ -n "$sinkpid" ] && kill -0 "$sinkpid" 2>/dev/null; then kill "$sinkpid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cp "$bin" "$work/posteix"
cd "$work"
export PATH=/usr/bin:/bin   # no bun, no node_modules/.bin
unset POSTEIX_CONFIG_DIR

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./posteix init "$work/etc" >/dev/null
cat > "$work/etc/master.cf" <<CF
127.0.0.1:$port inet n - n - - smtpd
smtp      unix  -       -       n       -       -       smtp
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
error     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
CF
sinkport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# An SMTP sink: one session at a time, the message written to sink.eml.
cat > "$work/sink.py" <<'PY'
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(5); srv.settimeout(60)
while True:
    c, _ = srv.accept(); f = c.makefile("rb"); c.sendall(b"220 sink ESMTP\r\n"); data = None
    for line in f:
        if data is not None:
            if line == b".\r\n":
                open(sys.argv[2], "wb").write(b"".join(data)); data = None; c.sendall(b"250 2.0.0 queued\r\n")
            else:
                data.append(line)
            continue
        cmd = line[:4].upper()
        if cmd == b"DATA": data = []; c.sendall(b"354 go on\r\n")
        elif cmd == b"QUIT": c.sendall(b"221 bye\r\n"); break
        else: c.sendall(b"250 ok\r\n")
    c.close()
PY
python3 "$work/sink.py" "$sinkport" "$work/sink.eml" &
sinkpid=$!
./posteix -c "$work/etc" postconf -e "api_listen =" \
  "transport_maps = inline:{ sink.test=smtp:[127.0.0.1]:$sinkport }" >/dev/null
./posteix -c "$work/etc" check
echo "smoke: check OK"

./posteix -c "$work/etc" run --quiet 2>"$work/log" &
pid=$!
greeting=""
for _ in $(seq 1 100); do
  if greeting=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && IFS= read -r line <&3 && printf 'QUIT\r\n' >&3 && echo \"\$line\"" 2>/dev/null) && [ -n "$greeting" ]; then break; fi
  sleep 0.1
done
case "$greeting" in
  220*) echo "smoke: greeting OK: $greeting" ;;
  *) echo "smoke: no SMTP greeting on port $port"; cat "$work/log"; exit 1 ;;
esac

printf 'Subject: smoke\n\nhello\n' | ./posteix -c "$work/etc" sendmail -i "root@localhost"
for _ in $(seq 1 100); do
  if ls "$work"/etc/data/mail/root/new/* >/dev/null 2>&1; then break; fi
  sleep 0.1
done
ls "$work"/etc/data/mail/root/new/* >/dev/null 2>&1 || { echo "smoke: message not delivered"; cat "$work/log"; exit 1; }
echo "smoke: sendmail -> Maildir OK"

printf 'Subject: via smtp\n\nhello sink\n' | ./posteix -c "$work/etc" sendmail -i "user@sink.test"
for _ in $(seq 1 100); do
  if [ -s "$work/sink.eml" ]; then break; fi
  sleep 0.1
done
grep -q "^Subject: via smtp" "$work/sink.eml" 2>/dev/null || { echo "smoke: message not relayed"; cat "$work/log"; exit 1; }
grep -q "to=<user@sink.test>.*status=sent" "$work/log" || { echo "smoke: no delivery log line"; cat "$work/log"; exit 1; }
echo "smoke: sendmail -> smtp client -> SMTP sink OK"

kill -TERM "$pid"
wait "$pid"
pid=""
echo "smoke: graceful stop OK"
