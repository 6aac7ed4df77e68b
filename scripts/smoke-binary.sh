#!/usr/bin/env bash
# Smoke test of the compiled binary, the way a user runs it: copied alone into an empty
# directory, with no Bun and no node_modules on PATH. Checks a sample configuration, runs the
# MTA on a random loopback port, expects an SMTP greeting, hands it one message with sendmail,
# then stops it with SIGTERM.
set -euo pipefail
bin=$(realpath "${1:-dist/posteix}")
work=$(mktemp -d)
chmod 755 "$work"   # run as root, posteix becomes $mail_owner and must reach its files
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" || true; fi
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
./posteix -c "$work/etc" postconf -e "api_listen =" >/dev/null
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

kill -TERM "$pid"
wait "$pid"
pid=""
echo "smoke: graceful stop OK"
